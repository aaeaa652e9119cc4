//! `shoal init`: creates a home with a new cluster (genesis) — cluster id, authority
//! key, node key and certificate, `shoal.toml` and `cluster.bundle` — or, with
//! `--join BUNDLE`, a home for a new node of an existing cluster.
//!
//! The home is built in a temporary sibling directory and renamed into place, so a
//! failure half way leaves nothing behind, and an existing home is never touched.

use std::path::{Path, PathBuf};

use shoal_types::{keys, time::now_ms, Certificate, NodeId};

use crate::bundle::Bundle;
use crate::config::NodeConfig;
use crate::error::HomeError;
use crate::home::Home;
use crate::secret_file::{create_dir, write_new};

/// What `init` made, for the CLI to report.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub home: PathBuf,
    pub cluster_id: String,
    pub node_id: NodeId,
    /// The libp2p PeerId of the node key (the same key, another encoding).
    pub peer_id: String,
    pub bundle: PathBuf,
}

/// Creates a genesis home at `home`. Refuses (changing nothing) if one exists.
pub fn init_genesis(home: &Home) -> Result<InitReport, HomeError> {
    refuse_existing(home.root())?;
    let cluster_id = hex::encode(rand::random::<[u8; 8]>());
    let authority = keys::generate();
    let config = NodeConfig::new(
        cluster_id.clone(),
        keys::verifying_to_hex(&authority.verifying_key()),
        true,
    );
    let bundle = Bundle {
        cluster_id,
        authority_public_key: config.authority_public_key.clone(),
        authority_secret_key: Some(keys::signing_to_hex(&authority)),
        bootstrap: Vec::new(),
    };
    build(home, &authority, config, &bundle, true)
}

/// Creates a home that joins the cluster of `bundle_path` (simple mode: the bundle
/// carries the authority key, and this node certifies its own new key with it). The
/// node never bootstraps a cluster; it finds one and is added by its leader.
pub fn init_join(home: &Home, bundle_path: &Path, expect: u32) -> Result<InitReport, HomeError> {
    refuse_existing(home.root())?;
    let bundle = Bundle::load(bundle_path)?;
    let bad = |detail: String| HomeError::Config {
        path: bundle_path.to_path_buf(),
        detail,
    };
    let secret = bundle.authority_secret_key.as_deref().ok_or_else(|| {
        bad(
            "this bundle carries no authority secret key (hardened mode), so this host \
             cannot certify itself; ask the cluster's admin for a node certificate"
                .into(),
        )
    })?;
    let authority = keys::signing_from_hex(secret).map_err(|e| bad(e.to_string()))?;
    if keys::verifying_to_hex(&authority.verifying_key()) != bundle.authority_public_key {
        return Err(bad(
            "the authority secret and public keys in this bundle do not match".into(),
        ));
    }
    let mut config = NodeConfig::new(
        bundle.cluster_id.clone(),
        bundle.authority_public_key.clone(),
        false,
    );
    config.bootstrap = bundle.bootstrap.clone();
    config.expect = expect;
    build(home, &authority, config, &bundle, false)
}

/// Writes a complete home into a staging directory and renames it into place.
fn build(
    home: &Home,
    authority: &ed25519_dalek::SigningKey,
    config: NodeConfig,
    bundle: &Bundle,
    keep_authority: bool,
) -> Result<InitReport, HomeError> {
    let cluster_id = config.cluster_id.clone();
    let node_key = keys::generate();
    let cert = Certificate::issue(authority, &cluster_id, &node_key.verifying_key(), now_ms());
    let parent = home
        .root()
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let staging = Home::new(parent.join(format!(
        ".{}.init-{}",
        home.root().file_name().and_then(|n| n.to_str()).unwrap_or("shoal"),
        hex::encode(rand::random::<[u8; 4]>())
    )));
    let result = (|| {
        create_dir(staging.root(), 0o700).map_err(|e| io(staging.root(), e))?;
        create_dir(&staging.private_dir(), 0o700).map_err(|e| io(&staging.private_dir(), e))?;
        if keep_authority {
            write_new(
                &staging.authority_key(),
                keys::signing_to_hex(authority).as_bytes(),
                0o600,
            )
            .map_err(|e| io(&staging.authority_key(), e))?;
        }
        write_new(
            &staging.node_key(),
            keys::signing_to_hex(&node_key).as_bytes(),
            0o600,
        )
        .map_err(|e| io(&staging.node_key(), e))?;
        // A certificate is four strings and an integer: JSON encoding cannot fail.
        let cert_json =
            serde_json::to_string_pretty(&cert).expect("a certificate always encodes as JSON");
        write_new(&staging.certificate(), cert_json.as_bytes(), 0o644)
            .map_err(|e| io(&staging.certificate(), e))?;
        let config_toml = config.to_toml().map_err(|e| HomeError::Config {
            path: home.config(),
            detail: e.to_string(),
        })?;
        write_new(&staging.config(), config_toml.as_bytes(), 0o644)
            .map_err(|e| io(&staging.config(), e))?;
        write_new(&staging.bundle(), bundle.to_toml().as_bytes(), 0o600)
            .map_err(|e| io(&staging.bundle(), e))?;
        // rename(2) replaces an empty directory, so an empty pre-made home is fine.
        std::fs::rename(staging.root(), home.root()).map_err(|e| io(home.root(), e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(staging.root());
    }
    result?;
    Ok(InitReport {
        home: home.root().to_path_buf(),
        cluster_id,
        node_id: NodeId::from_public_key(node_key.verifying_key().as_bytes()),
        peer_id: shoal_types::keys::peer_id_of(&node_key.verifying_key()),
        bundle: home.bundle(),
    })
}

fn refuse_existing(root: &Path) -> Result<(), HomeError> {
    match std::fs::read_dir(root) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(entry) => {
                let what = entry
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "a file".into());
                Err(HomeError::HomeExists {
                    path: root.to_path_buf(),
                    what,
                })
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(HomeError::HomeExists {
            path: root.to_path_buf(),
            what: "a file of that name".into(),
        }),
        Err(e) => Err(io(root, e)),
    }
}

fn io(path: &Path, e: std::io::Error) -> HomeError {
    HomeError::HomeIo {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::identity::Identity;

    #[test]
    fn init_makes_a_loadable_home_with_private_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        let report = init_genesis(&home).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.node_key()), 0o600);
        assert_eq!(mode(&home.authority_key()), 0o600);
        assert_eq!(mode(&home.bundle()), 0o600);
        assert_eq!(mode(&home.private_dir()), 0o700);
        let config = NodeConfig::load(&home.config()).unwrap();
        assert!(config.genesis);
        let id = Identity::load(&home, &config).unwrap();
        assert_eq!(id.node_id, report.node_id);
        let bundle = Bundle::load(&home.bundle()).unwrap();
        assert_eq!(bundle.cluster_id, report.cluster_id);
    }

    #[test]
    fn init_refuses_an_existing_home_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        init_genesis(&home).unwrap();
        let before = std::fs::read(home.node_key()).unwrap();
        let err = init_genesis(&home).unwrap_err();
        assert!(matches!(err, HomeError::HomeExists { .. }), "{err}");
        assert_eq!(std::fs::read(home.node_key()).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory left behind");
    }

    #[test]
    fn join_makes_a_non_genesis_home_certified_by_the_same_authority() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = Home::new(dir.path().join("g"));
        let g = init_genesis(&genesis).unwrap();
        let joined = Home::new(dir.path().join("j"));
        let j = init_join(&joined, &genesis.bundle(), 0).unwrap();
        assert_eq!(j.cluster_id, g.cluster_id);
        assert_ne!(j.node_id, g.node_id);
        let config = NodeConfig::load(&joined.config()).unwrap();
        assert!(!config.genesis);
        Identity::load(&joined, &config).unwrap();
        assert!(!joined.authority_key().exists());

        // A hardened bundle (no secret) is refused with a reason, leaving nothing.
        let mut b = Bundle::load(&genesis.bundle()).unwrap();
        b.authority_secret_key = None;
        let path = dir.path().join("hardened.bundle");
        std::fs::write(&path, b.to_toml()).unwrap();
        let err = init_join(&Home::new(dir.path().join("k")), &path, 0).unwrap_err();
        assert!(err.to_string().contains("hardened"), "{err}");
        assert!(!dir.path().join("k").exists());
    }
}

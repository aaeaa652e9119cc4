//! `shoal node --rejoin`: a home whose database was lost or damaged becomes a new
//! member of its cluster. What the old identity left behind — `db/`, `member.json`,
//! `outbox.jsonl`, the node key and certificate — is moved into `lost-TIME/` inside
//! the home, never deleted; a new node key is certified with the cluster's authority
//! key (from `cluster.bundle`, or the genesis home's own), and `shoal.toml` stops
//! marking a genesis home. The node then joins the running cluster as a learner under
//! a new node id and is sent what it needs; the old id is a dead member until the
//! cluster replaces it or `shoal node remove` takes it out.
//!
//! Whether the database may be thrown away (missing, empty or damaged, not whole) is
//! for the caller to judge: this crate does not open RocksDB.

use std::path::{Path, PathBuf};

use shoal_types::time::now_ms;
use shoal_types::{keys, Certificate, NodeId};

use crate::bundle::Bundle;
use crate::secret_file::{create_dir, write_new};
use crate::{Home, HomeError, NodeConfig};

/// What a rejoin did.
#[derive(Debug, Clone)]
pub struct RejoinReport {
    /// The node id the home had (from its key), if it could be read.
    pub old_node: Option<NodeId>,
    pub new_node: NodeId,
    /// Where the old identity's files are now.
    pub kept: PathBuf,
    /// The files moved there (names relative to the home).
    pub moved: Vec<String>,
}

/// Gives `home` a new identity in its cluster, keeping the old one's files in
/// `lost-TIME/`. Refused (nothing changed) when the home has no cluster bundle or no
/// authority secret to certify a new key with.
pub fn rejoin(home: &Home) -> Result<RejoinReport, HomeError> {
    if !home.exists() {
        return Err(HomeError::NoHome {
            path: home.root().to_path_buf(),
        });
    }
    let mut config = NodeConfig::load(&home.config())?;
    let authority = authority_of(home, &config)?;
    let old_node = std::fs::read_to_string(home.node_key())
        .ok()
        .and_then(|t| keys::signing_from_hex(&t).ok())
        .map(|k| NodeId::from_public_key(k.verifying_key().as_bytes()));
    let kept = home.root().join(format!("lost-{}", now_ms()));
    create_dir(&kept, 0o700).map_err(|e| io(&kept, e))?;
    let mut moved = Vec::new();
    let old = [
        home.db(),
        home.member_record(),
        home.outbox(),
        home.node_key(),
        home.certificate(),
    ];
    for path in old {
        if path.exists() {
            let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
            let to = kept.join(&name);
            std::fs::rename(&path, &to).map_err(|e| io(&path, e))?;
            moved.push(name.to_string_lossy().into_owned());
        }
    }
    let node_key = keys::generate();
    let cert = Certificate::issue(
        &authority,
        &config.cluster_id,
        &node_key.verifying_key(),
        now_ms(),
    );
    write_new(
        &home.node_key(),
        keys::signing_to_hex(&node_key).as_bytes(),
        0o600,
    )
    .map_err(|e| io(&home.node_key(), e))?;
    let cert_json =
        serde_json::to_string_pretty(&cert).expect("a certificate always encodes as JSON");
    write_new(&home.certificate(), cert_json.as_bytes(), 0o644)
        .map_err(|e| io(&home.certificate(), e))?;
    if config.genesis {
        // A genesis home bootstraps a cluster when its store is empty: never again.
        config.genesis = false;
        let text = config.to_toml().map_err(|e| HomeError::Config {
            path: home.config(),
            detail: e.to_string(),
        })?;
        replace(&home.config(), text.as_bytes())?;
    }
    Ok(RejoinReport {
        old_node,
        new_node: NodeId::from_public_key(node_key.verifying_key().as_bytes()),
        kept,
        moved,
    })
}

/// The cluster authority's signing key: the genesis home's own, else the bundle's.
fn authority_of(home: &Home, config: &NodeConfig) -> Result<ed25519_dalek::SigningKey, HomeError> {
    let refuse = |detail: String| HomeError::Config {
        path: home.bundle(),
        detail,
    };
    let secret = match std::fs::read_to_string(home.authority_key()) {
        Ok(s) => s.trim().to_string(),
        Err(_) => Bundle::load(&home.bundle())?
            .authority_secret_key
            .ok_or_else(|| {
                refuse(
                    "this bundle carries no authority secret key (hardened mode), so the node \
                     cannot certify a new key for itself; ask the cluster's admin for a node \
                     certificate"
                        .into(),
                )
            })?,
    };
    let authority = keys::signing_from_hex(&secret).map_err(|e| refuse(e.to_string()))?;
    if keys::verifying_to_hex(&authority.verifying_key()) != config.authority_public_key {
        return Err(refuse(
            "the authority key here does not match the cluster's (shoal.toml)".into(),
        ));
    }
    Ok(authority)
}

/// Replaces `path` atomically with `data`.
fn replace(path: &Path, data: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, data, 0o644).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> HomeError {
    HomeError::HomeIo {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init_genesis, init_join, Identity};

    #[test]
    fn a_genesis_home_gets_a_new_identity_and_keeps_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        let first = init_genesis(&home).unwrap();
        std::fs::create_dir(home.db()).unwrap();
        std::fs::write(home.db().join("CURRENT"), b"damaged").unwrap();
        std::fs::write(home.member_record(), b"{}").unwrap();
        let r = rejoin(&home).unwrap();
        assert_eq!(r.old_node, Some(first.node_id));
        assert_ne!(r.new_node, first.node_id);
        assert!(!home.db().exists());
        assert_eq!(
            std::fs::read(r.kept.join("db/CURRENT")).unwrap(),
            b"damaged",
            "the old database is kept"
        );
        assert!(r.kept.join("member.json").exists());
        assert!(r.kept.join("node.key").exists());
        let config = NodeConfig::load(&home.config()).unwrap();
        assert!(
            !config.genesis,
            "a rejoined genesis home must never bootstrap"
        );
        let id = Identity::load(&home, &config).unwrap();
        assert_eq!(id.node_id, r.new_node, "the new key is certified");
    }

    #[test]
    fn a_joined_home_rejoins_with_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = Home::new(dir.path().join("g"));
        init_genesis(&genesis).unwrap();
        let home = Home::new(dir.path().join("j"));
        let first = init_join(&home, &genesis.bundle(), 0).unwrap();
        let r = rejoin(&home).unwrap();
        assert_ne!(r.new_node, first.node_id);
        let config = NodeConfig::load(&home.config()).unwrap();
        assert_eq!(Identity::load(&home, &config).unwrap().node_id, r.new_node);
    }

    #[test]
    fn no_home_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = rejoin(&Home::new(dir.path().join("none"))).unwrap_err();
        assert!(matches!(err, HomeError::NoHome { .. }), "{err:?}");
    }
}

//! `shoal.toml`: one typed struct with serde defaults for every field.
//!
//! Layering: defaults, then the file, then flags (applied by the caller through
//! [`NodeConfig::with_overrides`]); [`NodeConfig::validate`] runs last.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HomeError;

/// Settings of one node. Public cluster facts (id, authority public key) live here
/// too, so a node needs nothing else from the bundle after init.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeConfig {
    pub cluster_id: String,
    /// The cluster authority's public key, hex.
    pub authority_public_key: String,
    /// True on the host where `shoal init` created the cluster: it alone bootstraps.
    #[serde(default)]
    pub genesis: bool,
    /// Concurrent jobs on this node; 0 means one per CPU.
    #[serde(default)]
    pub slots: u32,
    /// How long a job's supervisor waits between SIGTERM and SIGKILL.
    #[serde(default = "default_kill_grace_ms")]
    pub kill_grace_ms: u64,
    /// A job's supervisor kills the job if the node stops renewing for this long.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Raft heartbeat period.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Raft election timeout (lower bound; the upper bound is twice this).
    #[serde(default = "default_election_ms")]
    pub election_timeout_ms: u64,
    /// Take a raft snapshot after this many log entries.
    #[serde(default = "default_snapshot_logs")]
    pub snapshot_after_logs: u64,
    /// libp2p multiaddrs to listen on. A taken port falls back to a free one.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// libp2p multiaddrs other nodes should dial to reach this one, when they differ
    /// from `listen` (NAT, port forwarding, a proxy). Empty: the listen addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advertise: Vec<String>,
    /// libp2p multiaddrs of nodes to dial at start (from the bundle, flags, env).
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Find other nodes of the cluster on the local network.
    #[serde(default = "default_true")]
    pub mdns: bool,
    /// Fleet start (`init --expect N`): with no cluster found, wait until N fresh
    /// nodes see each other; the one with the lowest id then creates the cluster
    /// with all of them. 0: never create a cluster (join one).
    #[serde(default)]
    pub expect: u32,
    /// Free-form labels shown in `shoal nodes` (e.g. `gpu`, `zone=eu-1`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// A voter unreachable this long is replaced by a healthy learner.
    #[serde(default = "default_voter_grace_ms")]
    pub voter_grace_ms: u64,
    /// On SIGTERM the node stops taking work and lets running jobs finish for this
    /// long (`stop_grace = "2m"`), then stops the rest and hands them back to the
    /// queue. systemd's `TimeoutStopSec` must be longer (see deploy/shoal.service).
    #[serde(
        default = "default_stop_grace_ms",
        rename = "stop_grace",
        with = "duration_text"
    )]
    pub stop_grace_ms: u64,
    /// Bytes each of an attempt's stdout and stderr may put on disk
    /// (`output_cap = "1GiB"`); past it the file ends with a marker line and the rest
    /// is dropped. `"0"`: no cap.
    #[serde(default = "default_output_cap", with = "size_text")]
    pub output_cap: u64,
    /// Free disk space the node keeps for its database (`disk_reserve = "2GiB"`):
    /// with less free on the home's file system it leases no new work, and says so
    /// in `shoal nodes`, until space is freed. `"auto"` (the default): 1 GiB, or a
    /// twentieth of the file system where that is less (a small volume is not
    /// reserved whole). `"0"`: no reserve.
    #[serde(default)]
    pub disk_reserve: DiskReserve,
    /// Processes one attempt may have at once (its cgroup's `pids.max`, where the
    /// machine gives the node a pids controller): a fork bomb stops there. `0`: no
    /// cap.
    #[serde(default = "default_pids_max")]
    pub pids_max: u64,
}

/// The default `pids_max`.
pub const DEFAULT_PIDS_MAX: u64 = 4096;
fn default_pids_max() -> u64 {
    DEFAULT_PIDS_MAX
}

/// A size in the file as people write it (`"1GiB"`), held in bytes.
mod size_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&shoal_types::size::format(*bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        shoal_types::size::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The default `output_cap`: 1 GiB per stream of one attempt.
pub const DEFAULT_OUTPUT_CAP: u64 = 1 << 30;
fn default_output_cap() -> u64 {
    DEFAULT_OUTPUT_CAP
}
/// What `disk_reserve = "auto"` keeps at most.
pub const DEFAULT_DISK_RESERVE: u64 = 1 << 30;

/// The `disk_reserve` setting: `"auto"` or a size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiskReserve {
    /// [`DEFAULT_DISK_RESERVE`], or a twentieth of the file system if less.
    #[default]
    Auto,
    Bytes(u64),
}

impl DiskReserve {
    /// The bytes to keep free on a file system of `total` bytes.
    pub fn bytes_for(self, total: u64) -> u64 {
        match self {
            DiskReserve::Auto => DEFAULT_DISK_RESERVE.min(total / 20),
            DiskReserve::Bytes(b) => b,
        }
    }
}

impl Serialize for DiskReserve {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DiskReserve::Auto => s.serialize_str("auto"),
            DiskReserve::Bytes(b) => s.serialize_str(&shoal_types::size::format(*b)),
        }
    }
}

impl<'de> Deserialize<'de> for DiskReserve {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DiskReserve, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() == "auto" {
            return Ok(DiskReserve::Auto);
        }
        shoal_types::size::parse(&text)
            .map(DiskReserve::Bytes)
            .map_err(|e| serde::de::Error::custom(format!("{e} (or \"auto\")")))
    }
}

/// A duration in the file as people write it (`"30s"`, `"2m"`), held in ms.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&shoal_types::duration::format_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        shoal_types::duration::parse_ms(&text).map_err(serde::de::Error::custom)
    }
}

/// The port every node listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7420;

fn default_listen() -> Vec<String> {
    vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}")]
}
fn default_true() -> bool {
    true
}
fn default_voter_grace_ms() -> u64 {
    30_000
}
/// The default `stop_grace`; deploy/shoal.service's `TimeoutStopSec=60` leaves room for
/// it, the kill grace and the last commit.
pub const DEFAULT_STOP_GRACE_MS: u64 = 30_000;
fn default_stop_grace_ms() -> u64 {
    DEFAULT_STOP_GRACE_MS
}

fn default_kill_grace_ms() -> u64 {
    5_000
}
fn default_lease_ms() -> u64 {
    6_000
}
fn default_heartbeat_ms() -> u64 {
    100
}
fn default_election_ms() -> u64 {
    500
}
fn default_snapshot_logs() -> u64 {
    50_000
}

/// Values given on the command line; `None` keeps the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub slots: Option<u32>,
    /// Replaces the file's listen addresses.
    pub listen: Option<Vec<String>>,
    /// Replaces the file's advertised addresses.
    pub advertise: Option<Vec<String>>,
    /// Added to the file's bootstrap addresses.
    pub bootstrap: Vec<String>,
    pub no_mdns: bool,
    /// Added to the file's labels.
    pub labels: Vec<String>,
    /// Replaces the file's `expect`.
    pub expect: Option<u32>,
    /// Replaces the file's `stop_grace`.
    pub stop_grace_ms: Option<u64>,
}

impl NodeConfig {
    pub fn new(cluster_id: String, authority_public_key: String, genesis: bool) -> NodeConfig {
        NodeConfig {
            cluster_id,
            authority_public_key,
            genesis,
            slots: 0,
            kill_grace_ms: default_kill_grace_ms(),
            lease_ms: default_lease_ms(),
            heartbeat_ms: default_heartbeat_ms(),
            election_timeout_ms: default_election_ms(),
            snapshot_after_logs: default_snapshot_logs(),
            listen: default_listen(),
            advertise: Vec::new(),
            bootstrap: Vec::new(),
            mdns: true,
            expect: 0,
            labels: Vec::new(),
            voter_grace_ms: default_voter_grace_ms(),
            stop_grace_ms: default_stop_grace_ms(),
            output_cap: default_output_cap(),
            disk_reserve: DiskReserve::Auto,
            pids_max: default_pids_max(),
        }
    }

    pub fn load(path: &Path) -> Result<NodeConfig, HomeError> {
        let text = std::fs::read_to_string(path).map_err(|e| HomeError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| HomeError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// The file's text. Fails for a value TOML cannot hold: an integer over `i64::MAX`
    /// (the `u64` fields can be set so by a caller; a loaded file cannot hold one).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    pub fn with_overrides(mut self, o: &Overrides) -> NodeConfig {
        if let Some(s) = o.slots {
            self.slots = s;
        }
        if let Some(l) = &o.listen {
            self.listen = l.clone();
        }
        if let Some(a) = &o.advertise {
            self.advertise = a.clone();
        }
        for b in &o.bootstrap {
            if !self.bootstrap.contains(b) {
                self.bootstrap.push(b.clone());
            }
        }
        if o.no_mdns {
            self.mdns = false;
        }
        if let Some(n) = o.expect {
            self.expect = n;
        }
        if let Some(g) = o.stop_grace_ms {
            self.stop_grace_ms = g;
        }
        for l in &o.labels {
            if !self.labels.contains(l) {
                self.labels.push(l.clone());
            }
        }
        self
    }

    /// Slots after resolving 0 to the CPU count.
    pub fn effective_slots(&self) -> u32 {
        if self.slots > 0 {
            self.slots
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1)
        }
    }

    pub fn validate(&self, path: &Path) -> Result<(), HomeError> {
        let bad = |detail: String| {
            Err(HomeError::Config {
                path: path.to_path_buf(),
                detail,
            })
        };
        if self.cluster_id.is_empty() {
            return bad("cluster_id is empty".into());
        }
        if self.lease_ms < 1_000 {
            return bad(format!(
                "lease_ms = {} is below the minimum of 1000",
                self.lease_ms
            ));
        }
        if self.heartbeat_ms == 0 || self.election_timeout_ms <= self.heartbeat_ms * 2 {
            return bad(format!(
                "election_timeout_ms ({}) must exceed twice heartbeat_ms ({})",
                self.election_timeout_ms, self.heartbeat_ms
            ));
        }
        if self.slots > 4096 {
            return bad(format!("slots = {} is over the limit of 4096", self.slots));
        }
        for (what, addrs) in [
            ("listen", &self.listen),
            ("advertise", &self.advertise),
            ("bootstrap", &self.bootstrap),
        ] {
            for a in addrs {
                if let Err(e) = a.parse::<multiaddr::Multiaddr>() {
                    return bad(format!(
                        "{what} address {a:?} is not a multiaddr like /ip4/10.0.0.5/tcp/{DEFAULT_PORT}: {e}"
                    ));
                }
            }
        }
        if self.listen.is_empty() {
            return bad("no listen address".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fills_defaults() {
        let c = NodeConfig::new("c".into(), "ab".into(), true);
        let back: NodeConfig = toml::from_str(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back.lease_ms, 6_000);
        assert_eq!(back.listen, vec!["/ip4/0.0.0.0/tcp/7420".to_string()]);
        let minimal: NodeConfig =
            toml::from_str("cluster_id = \"x\"\nauthority_public_key = \"y\"\n").unwrap();
        assert_eq!(minimal.kill_grace_ms, 5_000);
        assert!(!minimal.genesis);
    }

    #[test]
    fn a_value_toml_cannot_hold_is_an_error_not_an_empty_file() {
        let mut c = NodeConfig::new("c".into(), "ab".into(), true);
        c.lease_ms = u64::MAX;
        assert!(c.to_toml().is_err());
    }

    #[test]
    fn validate_rejects_bad_timing() {
        let mut c = NodeConfig::new("c".into(), "ab".into(), true);
        c.election_timeout_ms = 100;
        assert!(c.validate(Path::new("x")).is_err());
        let c = NodeConfig::new("c".into(), "ab".into(), true).with_overrides(&Overrides {
            slots: Some(3),
            bootstrap: vec!["/ip4/127.0.0.1/tcp/9".into()],
            no_mdns: true,
            ..Default::default()
        });
        assert_eq!(c.effective_slots(), 3);
        assert!(!c.mdns);
        assert!(c.validate(Path::new("x")).is_ok());
        let bad = c.with_overrides(&Overrides {
            bootstrap: vec!["10.0.0.1:7420".into()],
            ..Default::default()
        });
        let err = bad.validate(Path::new("x")).unwrap_err().to_string();
        assert!(err.contains("not a multiaddr"), "{err}");
    }

    #[test]
    fn advertise_overrides_and_is_checked() {
        let c = NodeConfig::new("c".into(), "ab".into(), true).with_overrides(&Overrides {
            advertise: Some(vec!["/ip4/203.0.113.7/tcp/7420".into()]),
            ..Default::default()
        });
        assert_eq!(c.advertise, vec!["/ip4/203.0.113.7/tcp/7420".to_string()]);
        assert!(c.validate(Path::new("x")).is_ok());
        // Written only when set, and read back.
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("advertise"), "{text}");
        let plain = toml::to_string(&NodeConfig::new("c".into(), "ab".into(), true)).unwrap();
        assert!(!plain.contains("advertise"), "{plain}");
        let bad = c.with_overrides(&Overrides {
            advertise: Some(vec!["example.com:7420".into()]),
            ..Default::default()
        });
        let err = bad.validate(Path::new("x")).unwrap_err().to_string();
        assert!(err.contains("advertise address"), "{err}");
    }

    #[test]
    fn stop_grace_reads_as_people_write_it() {
        let base = "cluster_id = \"c\"\nauthority_public_key = \"ab\"\n";
        let c: NodeConfig = toml::from_str(base).unwrap();
        assert_eq!(c.stop_grace_ms, DEFAULT_STOP_GRACE_MS);
        let c: NodeConfig = toml::from_str(&format!("{base}stop_grace = \"2m\"\n")).unwrap();
        assert_eq!(c.stop_grace_ms, 120_000);
        assert!(toml::to_string(&c).unwrap().contains("stop_grace = \"2m\""));
        let e = toml::from_str::<NodeConfig>(&format!("{base}stop_grace = \"30\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unit"), "{e}");
        let o = c.with_overrides(&Overrides {
            stop_grace_ms: Some(5_000),
            ..Default::default()
        });
        assert_eq!(o.stop_grace_ms, 5_000);
    }
}

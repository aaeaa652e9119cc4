//! Node adverts on the cluster's gossip topic, and the membership table built from
//! them: every node publishes who it is, where it listens, its capacity, free slots,
//! load, raft role and the leader it knows, every 2 s.
//!
//! Gossipsub signs each message with the sender's node key (strict validation), and
//! only admitted peers' messages reach the node, so an advert is as trustworthy as
//! the certificate behind it. Gossip is for discovery and display, never for
//! correctness: nothing in the job state depends on it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openraft::{Raft, ServerState};
use serde::{Deserialize, Serialize};
use shoal_p2p::P2pHandle;
use shoal_raft_store::TypeConfig;
use shoal_types::{time::now_ms, NodeId};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::status::WorkerStatus;

/// How often a node publishes its advert.
pub const EVERY: Duration = Duration::from_secs(2);
/// A node not heard from for this long is shown as not alive.
pub const ALIVE_FOR: Duration = Duration::from_secs(7);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advert {
    pub node: NodeId,
    pub addrs: Vec<String>,
    pub cpus: u32,
    pub memory_mb: u64,
    pub gpus: u32,
    pub labels: Vec<String>,
    pub slots: u32,
    pub slots_free: u32,
    pub load1: f64,
    pub raft_role: String,
    pub leader: Option<NodeId>,
    pub version: String,
    pub at_ms: u64,
    /// Free disk below the node's reserve: it leases no new work.
    #[serde(default)]
    pub disk_low: bool,
    /// How the node contains its jobs: `cgroup-v2`, `cgroup-v1` or `subreaper`.
    #[serde(default)]
    pub containment: String,
}

/// The latest advert of every node, with when it arrived.
#[derive(Clone)]
pub struct AdvertTable {
    inner: Arc<RwLock<HashMap<u64, (Advert, Instant)>>>,
    /// When this table started listening: a node never heard from has been silent
    /// at least this long.
    since: Instant,
}

impl Default for AdvertTable {
    fn default() -> Self {
        AdvertTable {
            inner: Arc::default(),
            since: Instant::now(),
        }
    }
}

impl AdvertTable {
    /// How long this table has been listening.
    pub fn listening_for(&self) -> Duration {
        self.since.elapsed()
    }

    /// Records an advert from node `from`, if it speaks for that node.
    pub fn receive(&self, from: Option<u64>, body: &[u8]) {
        let advert: Advert = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(e) => {
                debug!(?from, error = %e, "unreadable advert");
                return;
            }
        };
        if from != Some(advert.node.0) {
            debug!(?from, node = %advert.node, "advert for another node ignored");
            return;
        }
        if let Ok(mut t) = self.inner.write() {
            t.insert(advert.node.0, (advert, Instant::now()));
        }
    }

    pub fn put_own(&self, advert: Advert) {
        if let Ok(mut t) = self.inner.write() {
            t.insert(advert.node.0, (advert, Instant::now()));
        }
    }

    /// Every advert with its age.
    pub fn all(&self) -> Vec<(Advert, Duration)> {
        self.inner
            .read()
            .map(|t| {
                t.values()
                    .map(|(a, at)| (a.clone(), at.elapsed()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

fn memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

/// Publishes this node's advert every [`EVERY`] until `stop`.
pub struct Publisher {
    pub node: NodeId,
    pub raft: Raft<TypeConfig>,
    pub p2p: P2pHandle,
    pub worker: watch::Receiver<WorkerStatus>,
    pub disk: watch::Receiver<crate::disk::DiskStatus>,
    pub containment: String,
    pub labels: Vec<String>,
    pub table: AdvertTable,
}

impl Publisher {
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(EVERY);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let memory = memory_mb();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let m = self.raft.metrics().borrow().clone();
            let w = *self.worker.borrow();
            let advert = Advert {
                node: self.node,
                addrs: self
                    .p2p
                    .reachable_addrs()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
                cpus,
                memory_mb: memory,
                gpus: 0,
                labels: self.labels.clone(),
                slots: w.slots,
                slots_free: w.slots.saturating_sub(w.running),
                load1: load1(),
                raft_role: role_name(m.state).to_string(),
                leader: m.current_leader.map(NodeId),
                version: env!("CARGO_PKG_VERSION").to_string(),
                at_ms: now_ms(),
                disk_low: self.disk.borrow().low,
                containment: self.containment.clone(),
            };
            self.table.put_own(advert.clone());
            let _ = self
                .p2p
                .publish(
                    serde_json::to_vec(&advert)
                        .expect("an advert is plain data and always serializes to JSON"),
                )
                .await;
        }
    }
}

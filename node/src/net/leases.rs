//! Leases of running jobs: worker heartbeats, and re-queueing the jobs of a worker
//! that went silent.
//!
//! Every worker heartbeats the leader about once a second. Only when the leader
//! acknowledges (and the leader itself heard from a quorum recently, so a deposed
//! leader cannot vouch for anyone) does the worker renew its jobs' supervisors, which
//! kill their job `lease − margin` after the last renewal. The leader re-queues the
//! jobs of a node it has not heard from for `lease + margin`, counted from its own
//! election at the earliest. The gap between the two (2 × margin) is what keeps two
//! attempts of one job from overlapping; a completion from the old attempt carries a
//! stale fencing token and is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::{Raft, ServerState};
use shoal_p2p::P2pHandle;
use shoal_raft_store::{Request, Response, StoreView, TypeConfig};
use shoal_types::{time::now_ms, NodeId};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::message::{decode, encode, ForwardError, NetRequest, NetResponse};
use super::peers::PeerBook;
use crate::raft::proposer::Proposer;

/// The lease timing of a cluster, from `lease_ms` in shoal.toml.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    pub lease: Duration,
    pub margin: Duration,
}

impl LeaseTiming {
    pub fn from_lease_ms(lease_ms: u64) -> LeaseTiming {
        LeaseTiming {
            lease: Duration::from_millis(lease_ms),
            margin: Duration::from_millis(lease_ms / 3),
        }
    }
    /// A supervisor kills its job this long after its last renewal.
    pub fn self_fence(&self) -> Duration {
        self.lease - self.margin
    }
    /// The leader re-queues a silent worker's jobs after this long.
    pub fn lapse(&self) -> Duration {
        self.lease + self.margin
    }
    /// A worker whose connection to the leader is gone fences its jobs this long
    /// after its last acknowledged heartbeat.
    pub fn fence_when_cut_off(&self) -> Duration {
        Duration::from_secs(1).min(self.margin)
    }
    /// The leader re-queues the jobs of a worker whose connections all closed this
    /// long ago (a crashed node closes its sockets at once; its supervisors kill
    /// their jobs as soon as it dies, and a live node cut off fences them sooner).
    pub fn requeue_when_gone(&self) -> Duration {
        self.fence_when_cut_off() + Duration::from_millis(500)
    }
    /// How often workers heartbeat.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 6).max(Duration::from_millis(100))
    }
    /// A leader vouches for workers only if a quorum answered it this recently.
    fn quorum_fresh(&self) -> Duration {
        self.margin / 2
    }
}

/// The leader's record of when it last heard from each worker.
#[derive(Default)]
pub struct Liveness {
    last_seen: Mutex<HashMap<u64, Instant>>,
    /// Nodes whose every connection to this one closed, and when.
    gone: Mutex<HashMap<u64, Instant>>,
}

impl Liveness {
    pub fn disconnected(&self, node: u64) {
        if let Ok(mut g) = self.gone.lock() {
            g.entry(node).or_insert_with(Instant::now);
        }
    }

    pub fn connected(&self, node: u64) {
        if let Ok(mut g) = self.gone.lock() {
            g.remove(&node);
        }
    }

    fn gone_since(&self, node: u64) -> Option<Instant> {
        self.gone.lock().ok().and_then(|g| g.get(&node).copied())
    }

    pub fn seen(&self, node: u64) {
        if let Ok(mut m) = self.last_seen.lock() {
            m.insert(node, Instant::now());
        }
    }

    fn last_seen(&self, node: u64) -> Option<Instant> {
        self.last_seen
            .lock()
            .ok()
            .and_then(|m| m.get(&node).copied())
    }
}

/// True if this node leads and heard from a quorum within `fresh`.
pub fn leads_with_quorum(raft: &Raft<TypeConfig>, fresh: Duration) -> bool {
    let m = raft.metrics().borrow().clone();
    m.state == ServerState::Leader
        && m.millis_since_quorum_ack
            .is_some_and(|ms| Duration::from_millis(ms) <= fresh)
}

/// A worker's line to the leader.
#[derive(Clone)]
pub struct LeaderLink {
    pub raft: Raft<TypeConfig>,
    pub p2p: P2pHandle,
    pub peers: PeerBook,
    pub liveness: Arc<Liveness>,
    pub timing: LeaseTiming,
    pub node: NodeId,
}

impl LeaderLink {
    /// False only when a leader is known and this node has no connection to it (an
    /// election in progress does not count: no leader is known then).
    pub fn leader_reachable(&self) -> bool {
        match self.raft.metrics().borrow().current_leader {
            Some(l) if l != self.node.0 => self.peers.is_connected(l),
            _ => true,
        }
    }

    /// Tells the leader this worker is alive. `true` once the leader acknowledged.
    pub async fn heartbeat(&self) -> bool {
        let leader = self.raft.metrics().borrow().current_leader;
        match leader {
            Some(l) if l == self.node.0 => {
                let ok = leads_with_quorum(&self.raft, self.timing.quorum_fresh());
                if ok {
                    self.liveness.seen(self.node.0);
                }
                ok
            }
            Some(l) => {
                let Some(peer) = self.peers.peer_of(l) else {
                    return false;
                };
                let req = encode(&NetRequest::Heartbeat { node: self.node });
                let wait = self.timing.heartbeat_every();
                match tokio::time::timeout(wait, self.p2p.request(peer, req)).await {
                    Ok(Ok(bytes)) => matches!(
                        decode::<NetResponse>(&bytes),
                        Ok(NetResponse::HeartbeatAck(Ok(())))
                    ),
                    _ => false,
                }
            }
            None => false,
        }
    }
}

/// The leader's side of a heartbeat from `node`.
pub fn accept_heartbeat(
    raft: &Raft<TypeConfig>,
    liveness: &Liveness,
    timing: LeaseTiming,
    node: NodeId,
) -> Result<(), ForwardError> {
    if leads_with_quorum(raft, timing.quorum_fresh()) {
        liveness.seen(node.0);
        Ok(())
    } else {
        Err(ForwardError::NotLeader {
            leader: raft.metrics().borrow().current_leader,
        })
    }
}

/// On the leader: re-queues the jobs of workers that went silent.
pub struct LapseWatch {
    pub raft: Raft<TypeConfig>,
    pub view: StoreView,
    pub proposer: Proposer,
    pub liveness: Arc<Liveness>,
    pub timing: LeaseTiming,
}

impl LapseWatch {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut leader_since: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
            }
            let leading = self.raft.metrics().borrow().state == ServerState::Leader;
            if !leading {
                leader_since = None;
                continue;
            }
            // A new leader knows nothing of earlier heartbeats: everyone starts fresh.
            let since = *leader_since.get_or_insert_with(Instant::now);
            // Read before the workers' last signs of life: a lease applied by now was
            // asked for (and the asker marked seen) before this point, and a later
            // one is not taken back by the requeue below.
            let judged_at = self.view.last_applied().unwrap_or(0);
            let nodes = match self.view.nodes_running() {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, "cannot read running jobs");
                    continue;
                }
            };
            for node in nodes {
                let last = self
                    .liveness
                    .last_seen(node.0)
                    .map_or(since, |t| t.max(since));
                // Only disconnections seen while leading count: as a follower this
                // node may have lost an idle connection to another follower long ago,
                // which says nothing about whether that follower is alive.
                let gone = self.liveness.gone_since(node.0).filter(|g| {
                    *g >= since
                        && g.elapsed() >= self.timing.requeue_when_gone()
                        && self.liveness.last_seen(node.0).is_none_or(|s| s < *g)
                });
                if gone.is_none() && last.elapsed() < self.timing.lapse() {
                    continue;
                }
                let req = Request::RequeueNode {
                    node,
                    now_ms: now_ms(),
                    leased_up_to: Some(judged_at),
                };
                match self.proposer.propose(req).await {
                    Ok(Response::Requeued { ids }) => {
                        warn!(%node, jobs = ids.len(), silent_ms = last.elapsed().as_millis() as u64, "lease lapsed: worker silent; its jobs are re-queued");
                        // Do not re-propose every tick while it stays silent.
                        self.liveness.seen(node.0);
                    }
                    Ok(other) => debug!(?other, "unexpected answer to a requeue"),
                    Err(e) => debug!(error = %e, "requeue not committed"),
                }
            }
        }
    }
}

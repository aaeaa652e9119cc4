//! Heartbeats, both ends: a worker's [`LeaderLink`] tells the leader it is alive;
//! the leader's [`accept`] vouches for it only while a quorum answers the leader.

use std::time::Duration;

use openraft::{Raft, ServerState};
use shoal_raft_store::TypeConfig;
use shoal_types::NodeId;

use super::{LeaseTiming, LivenessHandle};
use crate::net::{message, ForwardError, Net};

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
    pub net: Net,
    pub liveness: LivenessHandle,
    pub timing: LeaseTiming,
    pub node: NodeId,
}

impl LeaderLink {
    /// False only when a leader is known and this node has no connection to it (an
    /// election in progress does not count: no leader is known then).
    pub fn leader_reachable(&self) -> bool {
        match self.raft.metrics().borrow().current_leader {
            Some(l) if l != self.node.0 => self.net.peers.is_connected(l),
            _ => true,
        }
    }

    /// Tells the leader this worker is alive. `true` once the leader acknowledged.
    pub async fn heartbeat(&self) -> bool {
        let leader = self.raft.metrics().borrow().current_leader;
        match leader {
            Some(l) if l == self.node.0 => {
                accept(&self.raft, &self.liveness, self.timing, self.node).is_ok()
            }
            Some(l) => {
                let beat = message::Heartbeat { node: self.node };
                let wait = Some(self.timing.heartbeat_every());
                matches!(self.net.call(l, beat, wait).await, Ok(Ok(())))
            }
            None => false,
        }
    }
}

/// The leader's side of a heartbeat from `node`.
pub fn accept(
    raft: &Raft<TypeConfig>,
    liveness: &LivenessHandle,
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

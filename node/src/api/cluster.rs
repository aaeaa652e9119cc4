//! `GET /v1/cluster` and `GET /v1/nodes`: raft membership and node capacity.

use axum::extract::State;
use axum::Json;
use openraft::ServerState;
use shoal_types::api::{ClusterStatus, NodeStatus};
use shoal_types::NodeId;

use super::AppState;

fn node_name(id: u64) -> String {
    NodeId(id).to_string()
}

pub async fn cluster(State(s): State<AppState>) -> Json<ClusterStatus> {
    let m = s.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    Json(ClusterStatus {
        node_id: s.identity.node_id.to_string(),
        cluster_id: s.identity.cluster_id.clone(),
        leader: m.current_leader.map(node_name),
        voters: membership.voter_ids().map(node_name).collect(),
        learners: membership.learner_ids().map(node_name).collect(),
        term: m.current_term,
        last_applied: m.last_applied.map(|l| l.index),
    })
}

pub async fn nodes(State(s): State<AppState>) -> Json<Vec<NodeStatus>> {
    let role = match s.raft.metrics().borrow().state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    };
    let w = *s.worker.borrow();
    // Only this node until peers exist; addresses arrive with the p2p transport.
    Json(vec![NodeStatus {
        id: s.identity.node_id.to_string(),
        addrs: Vec::new(),
        raft_role: role.to_string(),
        alive: true,
        slots: w.slots,
        slots_free: w.slots.saturating_sub(w.running),
    }])
}

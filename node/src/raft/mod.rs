//! The node's raft: starting it and proposing entries (its network is `net::raft_network`).

pub mod fast_election;
pub mod proposer;
pub mod start;
pub mod submit_batcher;

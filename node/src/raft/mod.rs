//! The node's raft: starting it, its network, proposing entries.

pub mod network;
pub mod proposer;
pub mod start;
pub mod submit_batcher;

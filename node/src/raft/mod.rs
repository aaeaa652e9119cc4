//! The node's raft: starting it, its network, proposing entries.

pub mod network;
pub mod proposer;
pub mod start;

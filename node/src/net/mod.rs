//! The node's use of the network: what its messages mean (`message`), who is who
//! (`peers`), raft over libp2p (`raft_network`), answering peers (`server`), job
//! output from other nodes (`logs`), and
//! joining the cluster and keeping its voter set healthy (`membership`).
//!
//! The swarm itself belongs to the p2p crate's actor; this module only sends bytes
//! through a `P2pHandle` and handles the events it emits.

pub mod addr;
pub mod adverts;
pub mod leases;
pub mod logs;
pub mod membership;
pub mod message;
pub mod peers;
pub mod raft_network;
pub mod server;

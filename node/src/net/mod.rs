//! The node's messages to other nodes and nothing else: what they look like
//! (`message`, typed by [`message::Rpc`]), who is who (`peers`, `addr`), typed calls
//! (`call`), answering peers by handing requests to the layers above (`server`), and
//! raft over libp2p (`raft_network`).
//!
//! The swarm itself belongs to the p2p crate's actor; this module only sends bytes
//! through a `P2pHandle` and handles the events it emits. It imports nothing from
//! the node's other modules.

pub mod addr;
pub mod call;
pub mod message;
pub mod peers;
pub mod raft_network;
pub mod server;

pub use call::{Net, NetError};
pub use message::{ForwardError, LogChunk};

//! Shoal's networking crate, the only one that links libp2p.
//!
//! Today it owns the mapping from a node's ed25519 key to its libp2p identity
//! (keypair and PeerId). The swarm actor, certificate hello, discovery and the
//! request-response protocols come with multi-node support.

pub mod error;
pub mod identity;

pub use error::P2pError;
pub use identity::{keypair_from_node_key, peer_id_of};

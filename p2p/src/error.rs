//! Errors of the networking layer.

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("node key is not a valid ed25519 key: {0}")]
    BadKey(String),
    #[error("cannot start the network: {0}")]
    Start(String),
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: String, detail: String },
    #[error("peer {peer} unreachable: {detail}")]
    Unreachable { peer: String, detail: String },
    #[error("the network task has stopped")]
    Stopped,
}

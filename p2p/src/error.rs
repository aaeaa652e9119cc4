//! Errors of the networking layer.

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("node key is not a valid ed25519 key: {0}")]
    BadKey(String),
    #[error("cannot start the network: {0}")]
    Start(String),
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: String, detail: String },
    /// Something already listens on a listen address's port (checked with a plain
    /// bind before libp2p's, which sets SO_REUSEPORT and would share it).
    #[error("port {port} is in use (by another Shoal node?) — pass --listen with another address, e.g. --listen /ip4/0.0.0.0/tcp/{suggest}")]
    PortInUse { port: u16, suggest: u16 },
    #[error("peer {peer} unreachable: {detail}")]
    Unreachable { peer: String, detail: String },
    /// Too many requests (or bytes) already wait for this peer, or for peers in
    /// all, to be connected and admitted; this one was not queued.
    #[error("request to peer {peer} not queued: {detail}")]
    Overloaded { peer: String, detail: String },
    #[error("the network task has stopped")]
    Stopped,
}

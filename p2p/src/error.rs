//! Errors of the networking layer.

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("node key is not a valid ed25519 key: {0}")]
    BadKey(String),
}

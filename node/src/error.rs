//! The node's errors, split in two: [`FatalError`] stops the node (and maps to an exit
//! code in the binary); [`ApiError`] is one request failing (and maps to an HTTP status).

use std::path::PathBuf;

use shoal_types::api::ErrorCode;
use shoal_types::JobId;

/// Conditions under which the node cannot start or must stop.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    #[error(transparent)]
    Home(#[from] shoal_home::HomeError),
    #[error(transparent)]
    Store(#[from] shoal_raft_store::StoreError),
    #[error("raft failed: {0}")]
    Raft(String),
    #[error("network: {0}")]
    Network(String),
    #[error("cannot serve the API on {path}: {detail}")]
    Api { path: PathBuf, detail: String },
}

/// One API request failed; the node goes on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("job {0} not found")]
    JobNotFound(JobId),
    #[error("{0}")]
    TooLarge(String),
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::JobNotFound(_) => ErrorCode::NotFound,
            ApiError::TooLarge(_) => ErrorCode::TooLarge,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<shoal_raft_store::StoreError> for ApiError {
    fn from(e: shoal_raft_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<shoal_types::TypesError> for ApiError {
    fn from(e: shoal_types::TypesError) -> Self {
        match e {
            shoal_types::TypesError::SpecTooLarge { .. } => ApiError::TooLarge(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

//! The node's errors, split in two: [`FatalError`] stops the node (and maps to an exit
//! code in the binary); [`ApiError`] is one request failing (and maps to an HTTP status).

use std::path::PathBuf;

use shoal_types::api::ErrorCode;
use shoal_types::{exit_code, JobId, NodeId};

/// Conditions under which the node cannot start or must stop.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    #[error(transparent)]
    Home(#[from] shoal_home::HomeError),
    #[error(transparent)]
    Store(#[from] shoal_raft_store::StoreError),
    #[error("raft failed: {0}")]
    Raft(String),
    /// The raft store failed under a running node (a damaged file met on a read, a
    /// write the disk refused). Nothing was deleted.
    #[error(
        "the raft store failed: {0}. The node stopped and deleted nothing. If the store is \
         damaged, this node's copy cannot be trusted: make it a new member from the others \
         (README, \"A lost or damaged disk\")"
    )]
    StoreFailed(String),
    /// The log ends below what this node recorded it had stored (`member.json`):
    /// the disk lost writes it had confirmed.
    #[error(
        "refusing to start: the log in {} ends at index {last}, but this node had stored it \
         up to index {recorded} or more, so the disk lost writes it had confirmed (a disk \
         cache that lied, an old copy restored). This copy cannot be trusted; nothing was \
         changed. `shoal node --rejoin` sets it aside and joins again as a new member",
        db.display()
    )]
    LogBehind {
        db: PathBuf,
        last: u64,
        recorded: u64,
    },
    /// `--rejoin` on a home whose database is whole.
    #[error(
        "refusing to rejoin: the database {} is whole (its log reaches index {last_index}), and \
         --rejoin would set aside this node's copy of the cluster's log; nothing was changed. \
         Start the node without --rejoin",
        db.display()
    )]
    RejoinRefused { db: PathBuf, last_index: u64 },
    #[error("network: {0}")]
    Network(String),
    /// The API socket lives in the home directory: failing to create it means the
    /// home is unusable (unwritable, or a path too long for a Unix socket).
    #[error("cannot serve the API on {path}: {detail}")]
    Api { path: PathBuf, detail: String },
}

impl FatalError {
    /// The code `shoal-node` exits with (documented in [`shoal_types::exit_code`] and
    /// `shoal --help`): [`exit_code::STORE`] only for an unusable store or home.
    pub fn exit_code(&self) -> i32 {
        use shoal_home::HomeError;
        match self {
            FatalError::Home(HomeError::NoHome { .. }) => exit_code::NO_NODE,
            FatalError::Home(HomeError::HomeExists { .. }) => exit_code::FAILURE,
            FatalError::Home(
                HomeError::HomeIo { .. }
                | HomeError::Config { .. }
                | HomeError::Identity { .. }
                | HomeError::LostDatabase { .. },
            )
            | FatalError::Store(_)
            | FatalError::StoreFailed(_)
            | FatalError::LogBehind { .. }
            | FatalError::Api { .. } => exit_code::STORE,
            FatalError::Raft(_) | FatalError::Network(_) => exit_code::NETWORK,
            FatalError::RejoinRefused { .. } => exit_code::REFUSED,
        }
    }
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
    /// The write did not commit in time. It was handed to raft and may still
    /// commit later.
    #[error("not committed within {}: {why}; the write may still be committed later, once a quorum of voters answers", humanize(*after))]
    NotCommitted {
        after: std::time::Duration,
        why: String,
    },
    /// The attempt's output is kept on another node, which could not serve it.
    #[error("job {job}'s output is kept on node {node}, which {why}")]
    OutputElsewhere {
        job: JobId,
        node: NodeId,
        why: String,
    },
    #[error("job {job} has no attempt {attempt} ({})", attempts_text(*attempts))]
    NoSuchAttempt {
        job: JobId,
        attempt: u32,
        attempts: usize,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

fn attempts_text(n: usize) -> String {
    match n {
        0 => "it has not started yet".into(),
        1 => "it has attempt 1 only".into(),
        n => format!("its attempts are 1 to {n}"),
    }
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::JobNotFound(_) => ErrorCode::NotFound,
            ApiError::TooLarge(_) => ErrorCode::TooLarge,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::NotCommitted { .. } => ErrorCode::NotCommitted,
            ApiError::OutputElsewhere { .. } => ErrorCode::OutputElsewhere,
            ApiError::NoSuchAttempt { .. } => ErrorCode::NotFound,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// `15 s`, `1.5 s`, `250 ms`.
fn humanize(d: std::time::Duration) -> String {
    if d < std::time::Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
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

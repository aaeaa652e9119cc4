//! The CLI's errors and the exit code each one maps to.

use std::path::PathBuf;

use shoal_types::api::ErrorCode;
use shoal_types::exit_code;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("no Shoal home at {path}: run `shoal init` first (or start `shoal node`, which creates one)")]
    NoHome { path: PathBuf },
    #[error("no node is running on {socket}: start one with `shoal node` ({detail})")]
    NoNode { socket: PathBuf, detail: String },
    #[error("{message}")]
    Api { code: ErrorCode, message: String },
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    #[error(transparent)]
    Home(#[from] shoal_home::HomeError),
    #[error("{0}")]
    Install(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out: {0}")]
    Timeout(String),
}

impl From<shoal_client::ClientError> for CliError {
    fn from(e: shoal_client::ClientError) -> Self {
        use shoal_client::ClientError as C;
        match e {
            C::Connect { socket, detail } => CliError::NoNode { socket, detail },
            C::Api { code, message } => CliError::Api { code, message },
            C::Protocol(m) => CliError::Protocol(m),
            C::Io(e) => CliError::Io(e),
            e @ C::NoAnswer { .. } => CliError::Api {
                code: ErrorCode::NotCommitted,
                message: format!("{e}; a write may still be committed later"),
            },
        }
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit_code::USAGE,
            CliError::NoHome { .. } | CliError::NoNode { .. } => exit_code::NO_NODE,
            CliError::Api {
                code: ErrorCode::NotFound,
                ..
            } => exit_code::NOT_FOUND,
            CliError::Api { .. } => exit_code::REFUSED,
            CliError::Home(shoal_home::HomeError::NoHome { .. }) => exit_code::NO_NODE,
            CliError::Home(shoal_home::HomeError::HomeExists { .. }) => exit_code::FAILURE,
            CliError::Home(_) => exit_code::STORE,
            CliError::Install(_) => exit_code::FAILURE,
            CliError::Timeout(_) => exit_code::TIMEOUT,
            CliError::Protocol(_) | CliError::Io(_) => exit_code::FAILURE,
        }
    }

    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

//! Connecting the CLI to the node of a home: the API client, with "no home" and
//! "node not running" turned into the CLI's errors.

use shoal_client::Client;
use shoal_home::Home;
use shoal_types::api::ErrorCode;

use crate::error::CliError;

/// A client for the node of `home`; fails if there is no home at all.
pub fn for_home(home: &Home) -> Result<Client, CliError> {
    if !home.exists() {
        return Err(CliError::NoHome {
            path: home.root().to_path_buf(),
        });
    }
    Ok(Client::new(home.socket()))
}

/// Posts a write to `route` with its commit timeout (`--commit-timeout`); gives the
/// node that long plus a margin to answer. An answer that the write was not
/// committed in time gets `hint` (how to retry safely) added.
pub async fn post_write<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    client: &Client,
    route: &str,
    body: &B,
    commit_timeout_ms: u64,
    hint: &str,
) -> Result<T, CliError> {
    let path = format!("{route}?commit_timeout_ms={commit_timeout_ms}");
    let limit = std::time::Duration::from_millis(commit_timeout_ms) + ANSWER_MARGIN;
    match client.post_within(&path, body, limit).await {
        Ok(t) => Ok(t),
        Err(e) => Err(match CliError::from(e) {
            CliError::Api {
                code: ErrorCode::NotCommitted,
                message,
            } => CliError::Api {
                code: ErrorCode::NotCommitted,
                message: format!("{message}\n{hint}"),
            },
            other => other,
        }),
    }
}

/// How much longer than the commit timeout the CLI waits for the node's answer.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

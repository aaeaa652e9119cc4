//! Waiting for a user's write to commit: bounded by the request's commit timeout,
//! with the reason in Shoal's words when it does not (the voters this node can
//! reach, named as `shoal nodes` names them), never openraft's debug output.

use std::future::Future;
use std::time::Duration;

use shoal_raft_store::{Request, Response};
use shoal_types::api::WriteQuery;
use shoal_types::NodeId;

use super::AppState;
use crate::error::ApiError;
use crate::raft::proposer::ProposeError;

/// How long a write waits for a leader to be elected before it is refused.
pub const ELECTION_PATIENCE: Duration = Duration::from_secs(5);

/// Proposes a user's write (waiting out an election) and returns the applied
/// response, or [`ApiError::NotCommitted`] after the query's commit timeout.
pub(crate) async fn write(
    s: &AppState,
    req: Request,
    q: &WriteQuery,
) -> Result<Response, ApiError> {
    let limit = q.commit_timeout();
    let proposed = s
        .proposer
        .propose_patiently(req, ELECTION_PATIENCE.min(limit));
    bounded(s, limit, proposed).await
}

/// `fut` (a proposal), or [`ApiError::NotCommitted`] once `limit` has passed.
pub(crate) async fn bounded<T>(
    s: &AppState,
    limit: Duration,
    fut: impl Future<Output = Result<T, ProposeError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| propose_error(s, e)),
        Err(_) => Err(ApiError::NotCommitted {
            after: limit,
            why: quorum(s),
        }),
    }
}

pub(crate) fn propose_error(s: &AppState, e: ProposeError) -> ApiError {
    match e {
        ProposeError::NotLeader { .. } => {
            ApiError::Unavailable(format!("no leader elected yet ({})", quorum(s)))
        }
        ProposeError::Unreachable(_) => {
            ApiError::Unavailable(format!("the leader could not be reached ({})", quorum(s)))
        }
        ProposeError::Refused(why) => ApiError::Unavailable(format!("the leader refused: {why}")),
        // openraft's text here is its debug output; the voters say more.
        ProposeError::Failed(_) => {
            ApiError::Unavailable(format!("the write failed: {}", quorum(s)))
        }
        ProposeError::Fatal(why) => {
            ApiError::Unavailable(format!("raft has stopped on this node: {why}"))
        }
        ProposeError::TooLarge(why) => ApiError::TooLarge(why.to_string()),
        other => ApiError::Unavailable(other.to_string()),
    }
}

/// What this node sees of the voters: "no quorum: 1 of 2 voters reachable (a51f… is
/// down)", or "3 of 3 voters reachable" when it sees a quorum (the leader may not).
fn quorum(s: &AppState) -> String {
    let m = s.raft.metrics().borrow().clone();
    let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    let me = s.identity.node_id.0;
    let down: Vec<u64> = voters
        .iter()
        .copied()
        .filter(|v| *v != me && !s.net.peers.is_connected(*v))
        .collect();
    describe(voters.len(), &down)
}

/// The words of [`quorum`], from the voter count and the voters not reachable.
fn describe(voters: usize, down: &[u64]) -> String {
    let up = voters - down.len();
    let names: Vec<String> = down.iter().map(|d| NodeId(*d).to_string()).collect();
    let down_part = match names.len() {
        0 => String::new(),
        1 => format!(" ({} is down)", names[0]),
        _ => format!(" ({} are down)", names.join(", ")),
    };
    let prefix = if up * 2 > voters { "" } else { "no quorum: " };
    format!("{prefix}{up} of {voters} voters reachable{down_part}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_quorum_and_who_is_down() {
        assert_eq!(
            describe(2, &[0xa51f]),
            "no quorum: 1 of 2 voters reachable (000000000000a51f is down)"
        );
        assert_eq!(describe(3, &[]), "3 of 3 voters reachable");
        assert_eq!(
            describe(5, &[1, 2, 3]),
            "no quorum: 2 of 5 voters reachable (0000000000000001, 0000000000000002, 0000000000000003 are down)"
        );
        assert_eq!(
            describe(3, &[7]),
            "2 of 3 voters reachable (0000000000000007 is down)"
        );
    }
}

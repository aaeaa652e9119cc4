//! Proposing entries to the raft log and waiting for their result.
//!
//! The one place that turns openraft's write errors into the node's terms.

use openraft::error::{ClientWriteError, RaftError};
use openraft::Raft;
use shoal_raft_store::{Request, Response, TypeConfig};

/// Why a proposal did not commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("raft stopped: {0}")]
    Fatal(String),
    #[error("proposal failed: {0}")]
    Other(String),
}

/// A cloneable handle that proposes requests and returns the applied response.
#[derive(Clone)]
pub struct Proposer {
    raft: Raft<TypeConfig>,
}

impl Proposer {
    pub fn new(raft: Raft<TypeConfig>) -> Proposer {
        Proposer { raft }
    }

    /// Like [`Proposer::propose`], but while no leader is known (a node that just
    /// started is still electing itself) retries for up to `patience`.
    pub async fn propose_patiently(
        &self,
        req: Request,
        patience: std::time::Duration,
    ) -> Result<Response, ProposeError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.propose(req.clone()).await {
                Err(ProposeError::NotLeader { leader: None })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// Appends `req`, waits until it is committed and applied, returns the response.
    pub async fn propose(&self, req: Request) -> Result<Response, ProposeError> {
        match self.raft.client_write(req).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Other(e.to_string())),
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f.to_string())),
        }
    }
}

//! Proposing entries to the raft log and waiting for their result, from any node:
//! on the leader the entry is proposed here; elsewhere it is forwarded over p2p to
//! the leader, which proposes it and answers after commit.
//!
//! The one place that turns openraft's write errors and forwarding failures into
//! the node's terms ([`ProposeError`]).

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::Raft;
use shoal_raft_store::{Request, Response, StoreView, TypeConfig};
use tracing::debug;

use crate::net::{message, ForwardError, Net, NetError};

/// Why a proposal did not commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("no leader reachable{}", leader.map(|l| format!(" (the leader is {})", shoal_types::NodeId(l))).unwrap_or_default())]
    NotLeader { leader: Option<u64> },
    #[error("the leader could not be reached: {0}")]
    Unreachable(#[from] NetError),
    #[error("the leader refused: {0}")]
    Refused(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
    #[error("proposal failed: {0}")]
    Failed(String),
    #[error("this node has not caught up to index {index} in time")]
    Behind { index: u64 },
    /// Over the bounds of one raft entry; never proposed.
    #[error(transparent)]
    TooLarge(#[from] shoal_raft_store::Oversize),
    #[error("unexpected answer to {what}: {got}")]
    Unexpected { what: &'static str, got: String },
}

impl From<ForwardError> for ProposeError {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::NotLeader { leader } => ProposeError::NotLeader { leader },
            ForwardError::Refused(why) => ProposeError::Refused(why),
            ForwardError::Failed(why) => ProposeError::Failed(why),
        }
    }
}

impl ProposeError {
    /// Worth trying again after a moment (an election, a leader change).
    pub fn is_transient(&self) -> bool {
        match self {
            ProposeError::NotLeader { .. } => true,
            ProposeError::Unreachable(e) => !matches!(
                e,
                NetError::Refused { .. } | NetError::Garbled { .. } | NetError::TooLarge { .. }
            ),
            _ => false,
        }
    }

    pub fn unexpected(what: &'static str, got: impl std::fmt::Debug) -> ProposeError {
        ProposeError::Unexpected {
            what,
            got: format!("{got:?}"),
        }
    }
}

/// A cloneable handle that proposes requests and returns the applied response.
#[derive(Clone)]
pub struct Proposer {
    raft: Raft<TypeConfig>,
    net: Option<Net>,
}

impl Proposer {
    /// `net`: how to reach a leader elsewhere; `None` for a node without peers.
    pub fn new(raft: Raft<TypeConfig>, net: Option<Net>) -> Proposer {
        Proposer { raft, net }
    }

    /// Like [`Proposer::propose`], but while there is no reachable leader (an
    /// election, a leader change) retries for up to `patience`.
    pub async fn propose_patiently(
        &self,
        req: Request,
        patience: Duration,
    ) -> Result<Response, ProposeError> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.propose(req.clone()).await {
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    debug!(error = %e, "write not committed yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// Appends `req` (here if this node leads, else at the leader), waits until it
    /// is committed and applied, returns the response.
    pub async fn propose(&self, req: Request) -> Result<Response, ProposeError> {
        shoal_raft_store::limits::check(&req)?;
        match self.raft.client_write(req.clone()).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let Some(leader) = f.leader_id else {
                    return Err(ProposeError::NotLeader { leader: None });
                };
                let net = self.leader_line(leader)?;
                if let Some(n) = &f.leader_node {
                    net.learn_member(leader, &n.addr).await;
                }
                Ok(net.call(leader, message::Forward { req }, None).await??)
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f.to_string())),
            Err(e) => Err(ProposeError::Failed(e.to_string())),
        }
    }

    fn leader_line(&self, leader: u64) -> Result<&Net, ProposeError> {
        self.net.as_ref().ok_or(ProposeError::NotLeader {
            leader: Some(leader),
        })
    }

    /// Waits until this node's state machine has applied everything committed when
    /// the call began, as confirmed by the leader (a linearizable read barrier).
    pub async fn read_barrier(
        &self,
        view: &StoreView,
        patience: Duration,
    ) -> Result<(), ProposeError> {
        let deadline = tokio::time::Instant::now() + patience;
        let index = loop {
            match self.read_index().await {
                Ok(i) => break i,
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mut applied = view.subscribe();
        while view.last_applied().unwrap_or(0) < index {
            if tokio::time::timeout_at(deadline, applied.changed())
                .await
                .is_err()
            {
                return Err(ProposeError::Behind { index });
            }
        }
        Ok(())
    }

    async fn read_index(&self) -> Result<u64, ProposeError> {
        match self.raft.ensure_linearizable().await {
            Ok(id) => Ok(id.map_or(0, |l| l.index)),
            Err(e) => match ForwardError::from_raft(e) {
                ForwardError::NotLeader {
                    leader: Some(leader),
                } => Ok(self
                    .leader_line(leader)?
                    .call(leader, message::ReadIndex {}, None)
                    .await??),
                other => Err(other.into()),
            },
        }
    }
}

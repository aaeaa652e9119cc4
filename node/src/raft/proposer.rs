//! Proposing entries to the raft log and waiting for their result, from any node:
//! on the leader the entry is proposed here; elsewhere it is forwarded over p2p to
//! the leader, which proposes it and answers after commit.
//!
//! The one place that turns openraft's write errors into the node's terms.

use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use shoal_p2p::P2pHandle;
use shoal_raft_store::{Request, Response, StoreView, TypeConfig};
use tracing::debug;

use crate::net::addr;
use crate::net::message::{decode, encode, ForwardError, NetRequest, NetResponse};
use crate::net::peers::PeerBook;

/// Why a proposal did not commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("no leader reachable (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("the leader could not be reached: {0}")]
    Unreachable(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
    #[error("proposal failed: {0}")]
    Other(String),
}

impl ProposeError {
    /// Worth trying again after a moment (an election, a leader change).
    fn is_transient(&self) -> bool {
        matches!(
            self,
            ProposeError::NotLeader { .. } | ProposeError::Unreachable(_)
        )
    }
}

/// A cloneable handle that proposes requests and returns the applied response.
#[derive(Clone)]
pub struct Proposer {
    raft: Raft<TypeConfig>,
    net: Option<(P2pHandle, PeerBook)>,
}

impl Proposer {
    /// `net`: how to reach a leader elsewhere; `None` for a node without peers.
    pub fn new(raft: Raft<TypeConfig>, net: Option<(P2pHandle, PeerBook)>) -> Proposer {
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
        match self.raft.client_write(req.clone()).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_id {
                Some(leader) => self.forward(leader, f.leader_node, req).await,
                None => Err(ProposeError::NotLeader { leader: None }),
            },
            Err(RaftError::APIError(e)) => Err(ProposeError::Other(e.to_string())),
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f.to_string())),
        }
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
                return Err(ProposeError::Other(format!(
                    "this node has not caught up to index {index} in time"
                )));
            }
        }
        Ok(())
    }

    async fn read_index(&self) -> Result<u64, ProposeError> {
        match self.raft.ensure_linearizable().await {
            Ok(id) => Ok(id.map_or(0, |l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                let Some(leader) = f.leader_id else {
                    return Err(ProposeError::NotLeader { leader: None });
                };
                let (p2p, peers) = self.net.as_ref().ok_or(ProposeError::NotLeader {
                    leader: Some(leader),
                })?;
                let peer = peers.peer_of(leader).ok_or_else(|| {
                    ProposeError::Unreachable(format!("no address known for leader {leader:016x}"))
                })?;
                let bytes = p2p
                    .request(peer, encode(&NetRequest::ReadIndex))
                    .await
                    .map_err(|e| ProposeError::Unreachable(e.to_string()))?;
                match decode::<NetResponse>(&bytes) {
                    Ok(NetResponse::ReadIndex(Ok(i))) => Ok(i),
                    Ok(NetResponse::ReadIndex(Err(ForwardError::NotLeader { leader }))) => {
                        Err(ProposeError::NotLeader { leader })
                    }
                    Ok(other) => Err(ProposeError::Other(format!("leader answered {other:?}"))),
                    Err(e) => Err(ProposeError::Other(e)),
                }
            }
            Err(e) => Err(ProposeError::Other(e.to_string())),
        }
    }

    async fn forward(
        &self,
        leader: u64,
        leader_node: Option<BasicNode>,
        req: Request,
    ) -> Result<Response, ProposeError> {
        let Some((p2p, peers)) = &self.net else {
            return Err(ProposeError::NotLeader {
                leader: Some(leader),
            });
        };
        if let Some((peer, addrs)) = leader_node.and_then(|n| addr::decode(&n.addr)) {
            peers.learn(leader, peer);
            if !addrs.is_empty() {
                let _ = p2p.add_addresses(peer, addrs).await;
            }
        }
        let peer = peers.peer_of(leader).ok_or_else(|| {
            ProposeError::Unreachable(format!("no address known for leader {leader:016x}"))
        })?;
        let bytes = p2p
            .request(peer, encode(&NetRequest::Forward(req)))
            .await
            .map_err(|e| ProposeError::Unreachable(e.to_string()))?;
        match decode::<NetResponse>(&bytes) {
            Ok(NetResponse::Forwarded(Ok(resp))) => Ok(resp),
            Ok(NetResponse::Forwarded(Err(ForwardError::NotLeader { leader }))) => {
                Err(ProposeError::NotLeader { leader })
            }
            Ok(NetResponse::Forwarded(Err(ForwardError::Failed(why))))
            | Ok(NetResponse::Refused(why)) => Err(ProposeError::Other(why)),
            Ok(other) => Err(ProposeError::Other(format!("leader answered {other:?}"))),
            Err(e) => Err(ProposeError::Other(e)),
        }
    }
}

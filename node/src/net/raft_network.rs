//! openraft's network over libp2p: each raft RPC is one typed call to the target.
//! A transport failure is reported as `Unreachable` (openraft backs off); an error
//! the remote raft returned is passed on. A successful call is recorded in the peer
//! book (when each member last answered, which the autopilot reads).

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use shoal_raft_store::TypeConfig;

use super::call::{Net, NetError};
use super::message::{self, Rpc};

/// Hands out one [`PeerClient`] per raft target.
#[derive(Clone)]
pub struct P2pRaftNetwork {
    pub net: Net,
}

impl RaftNetworkFactory<TypeConfig> for P2pRaftNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        self.net.learn_member(target, &node.addr).await;
        PeerClient {
            target,
            net: self.net.clone(),
        }
    }
}

pub struct PeerClient {
    target: u64,
    net: Net,
}

impl PeerClient {
    async fn call<R, T, E>(
        &self,
        req: R,
        option: RPCOption,
    ) -> Result<T, RPCError<u64, BasicNode, E>>
    where
        R: Rpc<Answer = Result<T, E>>,
        E: std::error::Error,
    {
        match self
            .net
            .call(self.target, req, Some(option.hard_ttl()))
            .await
        {
            Ok(answer) => {
                self.net.peers.record_ok(self.target);
                answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Err(
                e @ (NetError::UnknownNode(_)
                | NetError::Unreachable { .. }
                | NetError::Timeout { .. }),
            ) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(message::Append { rpc }, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(message::Snapshot { rpc }, option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(message::Vote { rpc }, option).await
    }
}

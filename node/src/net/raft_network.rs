//! openraft's network over libp2p: each raft RPC is one request on the p2p RPC
//! protocol to the target's PeerId. A transport failure is reported as
//! `Unreachable` (openraft backs off); an error the remote raft returned is passed on.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use shoal_p2p::P2pHandle;
use shoal_raft_store::TypeConfig;

use super::addr;
use super::message::{decode, encode, NetRequest, NetResponse};
use super::peers::PeerBook;

/// Hands out one [`PeerClient`] per raft target.
#[derive(Clone)]
pub struct P2pRaftNetwork {
    pub p2p: P2pHandle,
    pub peers: PeerBook,
}

impl RaftNetworkFactory<TypeConfig> for P2pRaftNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        if let Some((peer, addrs)) = addr::decode(&node.addr) {
            self.peers.learn(target, peer);
            if !addrs.is_empty() {
                let _ = self.p2p.add_addresses(peer, addrs).await;
            }
        }
        PeerClient {
            target,
            p2p: self.p2p.clone(),
            peers: self.peers.clone(),
        }
    }
}

pub struct PeerClient {
    target: u64,
    p2p: P2pHandle,
    peers: PeerBook,
}

fn unreachable<E: std::error::Error>(why: String) -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why)))
}

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        req: NetRequest,
        ttl: Duration,
    ) -> Result<NetResponse, RPCError<u64, BasicNode, E>> {
        let peer = self
            .peers
            .peer_of(self.target)
            .ok_or_else(|| unreachable(format!("no known peer for node {:016x}", self.target)))?;
        let bytes = tokio::time::timeout(ttl, self.p2p.request(peer, encode(&req)))
            .await
            .map_err(|_| {
                unreachable(format!(
                    "node {:016x} did not answer in {ttl:?}",
                    self.target
                ))
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        let resp: NetResponse = decode(&bytes)
            .map_err(|e| RPCError::Network(NetworkError::new(&std::io::Error::other(e))))?;
        if let NetResponse::Refused(why) = &resp {
            return Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(why.clone()),
            )));
        }
        self.peers.record_ok(self.target);
        Ok(resp)
    }

    fn unexpected<E: std::error::Error>(&self, got: &NetResponse) -> RPCError<u64, BasicNode, E> {
        RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
            "node {:016x} answered {got:?}",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(NetRequest::Append(rpc), option.hard_ttl())
            .await?
        {
            NetResponse::Append(Ok(r)) => Ok(r),
            NetResponse::Append(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(NetRequest::Snapshot(rpc), option.hard_ttl())
            .await?
        {
            NetResponse::Snapshot(Ok(r)) => Ok(r),
            NetResponse::Snapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(NetRequest::Vote(rpc), option.hard_ttl()).await? {
            NetResponse::Vote(Ok(r)) => Ok(r),
            NetResponse::Vote(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }
}

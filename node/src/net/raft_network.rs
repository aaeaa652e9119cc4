//! openraft's network over libp2p: each raft RPC is one typed call to the target.
//! A transport failure is reported as `Unreachable` (openraft backs off); an error
//! the remote raft returned is passed on. A successful call is recorded in the peer
//! book (when each member last answered, which the autopilot reads).

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
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
    /// `entries`: how many log entries `req` carries (0 but for appends).
    async fn call<R, T, E>(
        &self,
        req: R,
        option: RPCOption,
        entries: usize,
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
            // A batch of entries over the message limit: openraft sends fewer next.
            Err(NetError::TooLarge { bytes, limit, .. }) if entries > 1 => {
                Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(fit_entries(entries, bytes, limit)),
                ))
            }
            Err(e @ NetError::TooLarge { .. }) => {
                // One entry over the limit: the bounds of an entry (`limits`) are
                // there so that this never happens.
                tracing::error!(target = %shoal_types::NodeId(self.target), error = %e, "a raft message cannot be sent");
                Err(RPCError::Network(NetworkError::new(&e)))
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
        let entries = rpc.entries.len();
        self.call(message::Append { rpc }, option, entries).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(message::Snapshot { rpc }, option, 0).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(message::Vote { rpc }, option, 0).await
    }
}

/// How many entries of a batch of `entries` that encoded to `bytes` fit in `limit`
/// bytes, with a quarter to spare for entries larger than the batch's average: at
/// least 1, fewer than `entries`.
pub fn fit_entries(entries: usize, bytes: usize, limit: usize) -> u64 {
    let fit = (entries as u128 * limit as u128 * 3 / 4) / bytes.max(1) as u128;
    (fit as u64).clamp(1, entries.saturating_sub(1).max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::fit_entries;

    #[test]
    fn a_batch_over_the_limit_is_cut_to_fit_with_a_margin() {
        // 300 entries of 200 KiB: 60 MiB, 16 MiB frames -> 61 entries (12 MiB).
        assert_eq!(fit_entries(300, 300 * 200 * 1024, 16 << 20), 61);
        // Never zero, never the whole batch again.
        assert_eq!(fit_entries(2, 100 << 20, 16 << 20), 1);
        assert_eq!(fit_entries(10, 17 << 20, 16 << 20), 7);
        assert_eq!(fit_entries(1, 17 << 20, 16 << 20), 1);
    }
}

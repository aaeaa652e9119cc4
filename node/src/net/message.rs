//! What nodes say to each other over the p2p RPC protocol, as JSON.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use shoal_raft_store::{Request, Response, TypeConfig};
use shoal_types::api::LogStream;
use shoal_types::{Certificate, JobId, NodeId};

use super::logs::LogChunk;

#[derive(Debug, Serialize, Deserialize)]
pub enum NetRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write for the leader to propose (from a node that is not the leader).
    Forward(Request),
    /// "Add me": a node, not yet a member, asks the leader to add it as a learner.
    /// Any node passes it on to its leader; the certificate proves who asks.
    Join {
        node_id: u64,
        addr: String,
        certificate: Certificate,
    },
    /// "Up to which index must I apply to read linearizably?" (to the leader).
    ReadIndex,
    /// A worker is alive (renews all its leases at once).
    Heartbeat {
        node: NodeId,
    },
    /// A piece of one attempt's output file on the receiving node.
    Logs {
        job: JobId,
        attempt: u32,
        stream: LogStream,
        offset: u64,
        len: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum NetResponse {
    Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Forwarded(Result<Response, ForwardError>),
    Joined(Result<(), ForwardError>),
    Logs(Result<LogChunk, String>),
    HeartbeatAck(Result<(), ForwardError>),
    ReadIndex(Result<u64, ForwardError>),
    /// The request could not be read or was not allowed.
    Refused(String),
}

/// Why the receiver did not carry out a forwarded write.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("{0}")]
    Failed(String),
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    serde_json::to_vec(msg).unwrap_or_default()
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable message: {e}"))
}

//! What nodes say to each other over the p2p RPC protocol, as JSON, and the typed
//! calls over it: each request type implements [`Rpc`], naming the one answer it
//! expects, so a caller gets that answer or a [`NetError`](super::call::NetError),
//! never a [`NetResponse`] to match by hand.

use openraft::error::{ForwardToLeader, InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, TryAsRef};
use serde::{Deserialize, Serialize};
use shoal_raft_store::{Request, Response, TypeConfig};
use shoal_types::api::LogStream;
use shoal_types::join::JoinProof;
use shoal_types::{Certificate, JobId, NodeId};

/// One piece of an output file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogChunk {
    /// The bytes, hex (the RPC messages are JSON).
    pub data: String,
    /// True when this chunk reaches the end of the file as it is now.
    pub eof: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum NetRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write for the leader to propose (from a node that is not the leader).
    Forward(Request),
    /// "Add me": a node, not yet a member, asks the leader to add it as a learner.
    /// Any node passes it on to its leader. The certificate says which key the node
    /// id belongs to; the proof, signed by that key, shows the sender holds it.
    Join {
        node_id: u64,
        addr: String,
        certificate: Certificate,
        #[serde(default)]
        proof: Option<JoinProof>,
    },
    /// "Up to which index must I apply to read linearizably?" (to the leader).
    ReadIndex,
    /// A worker is alive (renews all its leases at once).
    Heartbeat {
        node: NodeId,
    },
    /// "Is this node a member in your view?" (from a node whose own view lags; see
    /// `membership::vouch`).
    IsMember {
        node: u64,
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
    IsMember(bool),
    /// The request could not be read or was not allowed.
    Refused(String),
}

/// Why the receiver did not carry out a request meant for the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

impl ForwardError {
    /// The one mapping of an openraft error to the node's terms: "forward to the
    /// leader" becomes [`ForwardError::NotLeader`], anything else a failure.
    pub fn from_raft<E>(e: RaftError<u64, E>) -> ForwardError
    where
        E: TryAsRef<ForwardToLeader<u64, BasicNode>> + std::error::Error,
    {
        match e.forward_to_leader::<BasicNode>() {
            Some(f) => ForwardError::NotLeader {
                leader: f.leader_id,
            },
            None => ForwardError::Failed(e.to_string()),
        }
    }
}

/// A request whose answer is one [`NetResponse`] variant.
pub trait Rpc {
    type Answer;
    fn into_request(self) -> NetRequest;
    /// The answer, or what came instead (another variant), described.
    fn answer(resp: NetResponse) -> Result<Self::Answer, String>;
}

macro_rules! rpc {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* } => $answer:ty,
     |$me:ident| $req:expr, $variant:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name { $(pub $field: $ty),* }
        impl Rpc for $name {
            type Answer = $answer;
            fn into_request(self) -> NetRequest {
                let $me = self;
                $req
            }
            fn answer(resp: NetResponse) -> Result<$answer, String> {
                match resp {
                    NetResponse::$variant(a) => Ok(a),
                    other => Err(format!("{other:?}")),
                }
            }
        }
    };
}

rpc!(
    /// A raft append (or heartbeat) for the target.
    Append { rpc: AppendEntriesRequest<TypeConfig> }
        => Result<AppendEntriesResponse<u64>, RaftError<u64>>,
    |m| NetRequest::Append(m.rpc), Append
);
rpc!(
    /// A raft vote request.
    Vote { rpc: VoteRequest<u64> } => Result<VoteResponse<u64>, RaftError<u64>>,
    |m| NetRequest::Vote(m.rpc), Vote
);
rpc!(
    /// A raft snapshot chunk.
    Snapshot { rpc: InstallSnapshotRequest<TypeConfig> }
        => Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>,
    |m| NetRequest::Snapshot(m.rpc), Snapshot
);
rpc!(
    /// A write for the leader to propose.
    Forward { req: Request } => Result<Response, ForwardError>,
    |m| NetRequest::Forward(m.req), Forwarded
);
rpc!(
    /// Add (or update) this node as a member.
    Join { node_id: u64, addr: String, certificate: Certificate, proof: Option<JoinProof> }
        => Result<(), ForwardError>,
    |m| NetRequest::Join {
        node_id: m.node_id, addr: m.addr, certificate: m.certificate, proof: m.proof
    },
    Joined
);
rpc!(
    /// The leader's commit index for a linearizable read.
    ReadIndex {} => Result<u64, ForwardError>,
    |_m| NetRequest::ReadIndex, ReadIndex
);
rpc!(
    /// A worker's sign of life to the leader.
    Heartbeat { node: NodeId } => Result<(), ForwardError>,
    |m| NetRequest::Heartbeat { node: m.node }, HeartbeatAck
);
rpc!(
    /// Whether `node` is a member (voter or learner) in the receiver's view.
    IsMember { node: u64 } => bool,
    |m| NetRequest::IsMember { node: m.node }, IsMember
);
rpc!(
    /// A chunk of one attempt's output from the node that ran it.
    Logs { job: JobId, attempt: u32, stream: LogStream, offset: u64, len: u64 }
        => Result<LogChunk, String>,
    |m| NetRequest::Logs { job: m.job, attempt: m.attempt, stream: m.stream, offset: m.offset, len: m.len },
    Logs
);

/// The JSON of a message. Every message is made of plain data (strings, numbers,
/// maps with string keys), which always serializes.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    serde_json::to_vec(msg).expect("node messages are plain data and always serialize to JSON")
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable message: {e}"))
}

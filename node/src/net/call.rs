//! Typed calls to other nodes: [`Net::call`] sends one [`Rpc`] to a node and returns
//! its answer; every transport, decoding or refusal failure is a [`NetError`].

use std::time::Duration;

use shoal_p2p::P2pHandle;

use super::addr;
use super::message::{decode, encode, NetResponse, Rpc};
use super::peers::PeerBook;

/// Why a call got no answer of the expected kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetError {
    #[error("node {0:016x} is not known to this node")]
    UnknownNode(u64),
    #[error("node {node:016x} could not be reached: {detail}")]
    Unreachable { node: u64, detail: String },
    #[error("node {node:016x} did not answer in {after:?}")]
    Timeout { node: u64, after: Duration },
    #[error("node {node:016x} refused: {why}")]
    Refused { node: u64, why: String },
    #[error("node {node:016x} answered something unreadable or unexpected: {detail}")]
    Garbled { node: u64, detail: String },
    /// The request's encoding is over the largest message a peer accepts; it was
    /// not sent.
    #[error(
        "a request of {bytes} bytes for node {node:016x} is over the {limit}-byte message limit"
    )]
    TooLarge {
        node: u64,
        bytes: usize,
        limit: usize,
    },
}

/// The node's line to its peers. Cheap to clone.
#[derive(Clone)]
pub struct Net {
    pub p2p: P2pHandle,
    pub peers: PeerBook,
    /// The largest message a peer accepts (`P2pConfig::max_message`).
    pub max_message: usize,
}

impl Net {
    pub fn new(p2p: P2pHandle, peers: PeerBook, max_message: usize) -> Net {
        Net {
            p2p,
            peers,
            max_message,
        }
    }

    /// Sends `req` to `node` and waits (at most `ttl`, if given) for its answer.
    pub async fn call<R: Rpc>(
        &self,
        node: u64,
        req: R,
        ttl: Option<Duration>,
    ) -> Result<R::Answer, NetError> {
        let peer = self
            .peers
            .peer_of(node)
            .ok_or(NetError::UnknownNode(node))?;
        let bytes = encode(&req.into_request());
        if bytes.len() > self.max_message {
            return Err(NetError::TooLarge {
                node,
                bytes: bytes.len(),
                limit: self.max_message,
            });
        }
        let send = self.p2p.request(peer, bytes);
        let sent = match ttl {
            Some(after) => tokio::time::timeout(after, send)
                .await
                .map_err(|_| NetError::Timeout { node, after })?,
            None => send.await,
        };
        let bytes = sent.map_err(|e| NetError::Unreachable {
            node,
            detail: e.to_string(),
        })?;
        let resp: NetResponse =
            decode(&bytes).map_err(|detail| NetError::Garbled { node, detail })?;
        if let NetResponse::Refused(why) = resp {
            return Err(NetError::Refused { node, why });
        }
        R::answer(resp).map_err(|detail| NetError::Garbled { node, detail })
    }

    /// Learns a member's peer id and addresses from its membership entry; an entry
    /// unchanged since the last call is not sent to the swarm again.
    pub async fn learn_member(&self, node: u64, entry: &str) {
        if !self
            .peers
            .note_entry(node, entry, std::time::Instant::now())
        {
            return;
        }
        if let Some((peer, addrs)) = addr::decode(entry) {
            self.peers.learn(node, peer);
            if !addrs.is_empty() {
                let _ = self.p2p.add_addresses(peer, addrs).await;
            }
        }
    }
}

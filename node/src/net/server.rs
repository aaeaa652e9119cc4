//! Answers peers: reads each request, checks that a raft message speaks for the node
//! that sent it, and hands it to the [`Handler`] the layers above registered; keeps
//! the peer book's connection state current from the swarm's admission events.
//! `net` knows what messages look like, never what they mean.

use std::future::Future;
use std::sync::Arc;

use shoal_p2p::{P2pEvent, P2pEvents, PeerId};
use shoal_types::NodeId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use super::message::{decode, encode, NetRequest, NetResponse};
use super::peers::PeerBook;

/// What the node does with what peers say.
pub trait Handler: Send + Sync + 'static {
    /// Whether a peer certified as `node` is that node (the membership may know the
    /// id under another key).
    fn admit(&self, node: u64, peer: PeerId) -> bool;
    /// `node`'s first connection opened / its last one closed.
    fn connected(&self, node: u64);
    fn disconnected(&self, node: u64);
    /// A gossip message from `node`.
    fn gossip(&self, node: Option<u64>, body: &[u8]);
    /// Answers a request from `sender` (`None`: a peer whose node id is unknown).
    fn request(
        &self,
        sender: Option<u64>,
        req: NetRequest,
    ) -> impl Future<Output = NetResponse> + Send;
}

/// Handles network events until the swarm stops or `stop` is cancelled; each
/// request is answered in its own task, tracked by `tasks`.
pub async fn serve<H: Handler>(
    handler: Arc<H>,
    peers: PeerBook,
    mut events: P2pEvents,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => break,
            ev = events.recv() => match ev { Some(ev) => ev, None => break },
        };
        match ev {
            P2pEvent::PeerAdmitted { peer, certificate } => match certificate.node_id() {
                Ok(node) if !handler.admit(node.0, peer) => {
                    warn!(%node, %peer, "a peer claims the id of a member with another key; ignored");
                }
                Ok(node) => {
                    peers.learn(node.0, peer);
                    peers.set_connected(peer, true);
                    handler.connected(node.0);
                    info!(%node, %peer, "peer connected");
                }
                Err(e) => warn!(%peer, error = %e, "admitted peer with an unreadable key"),
            },
            P2pEvent::PeerGone { peer } => {
                peers.set_connected(peer, false);
                if let Some(node) = peers.node_of(&peer) {
                    handler.disconnected(node);
                }
                debug!(%peer, "peer disconnected");
            }
            P2pEvent::Request { peer, body, reply } => {
                let handler = handler.clone();
                let sender = peers.node_of(&peer);
                tasks.spawn(
                    async move {
                        let resp = answer(&*handler, peer, sender, &body).await;
                        let _ = reply.send(encode(&resp));
                    }
                    .in_current_span(),
                );
            }
            P2pEvent::Gossip { from, body } => handler.gossip(peers.node_of(&from), &body),
        }
    }
}

async fn answer<H: Handler>(
    handler: &H,
    peer: PeerId,
    sender: Option<u64>,
    body: &[u8],
) -> NetResponse {
    let req: NetRequest = match decode(body) {
        Ok(r) => r,
        Err(e) => {
            warn!(%peer, error = %e, "unreadable request");
            return NetResponse::Refused(e);
        }
    };
    // A raft message must come from the node it speaks for (the leader or the
    // candidate in its vote): a certified node cannot pose as another.
    let claimed = match &req {
        NetRequest::Append(rpc) => rpc.vote.leader_id().voted_for(),
        NetRequest::Vote(rpc) => rpc.vote.leader_id().voted_for(),
        NetRequest::Snapshot(rpc) => rpc.vote.leader_id().voted_for(),
        _ => None,
    };
    if let Some(claimed) = claimed {
        if sender != Some(claimed) {
            warn!(%peer, claimed = %NodeId(claimed), "raft message for another node refused");
            return NetResponse::Refused(format!(
                "{peer} may not speak for node {}",
                NodeId(claimed)
            ));
        }
    }
    handler.request(sender, req).await
}

//! The node's side of the swarm actor: a cloneable [`P2pHandle`] that sends commands,
//! and the [`P2pEvent`]s the actor emits.

use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use shoal_types::Certificate;
use tokio::sync::{mpsc, oneshot};

use crate::gate::GateMetrics;
use crate::P2pError;

/// Something the network tells the node.
#[derive(Debug)]
pub enum P2pEvent {
    /// A peer showed a valid certificate of this cluster.
    PeerAdmitted {
        peer: PeerId,
        certificate: Certificate,
    },
    /// The last connection to an admitted peer closed.
    PeerGone { peer: PeerId },
    /// An admitted peer asks something; answer through `reply` (dropping it sends
    /// the peer an error).
    Request {
        peer: PeerId,
        body: Vec<u8>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// A gossip message from an admitted peer.
    Gossip { from: PeerId, body: Vec<u8> },
}

pub(crate) enum Command {
    Request {
        peer: PeerId,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, P2pError>>,
    },
    Publish(Vec<u8>),
    AddAddresses(PeerId, Vec<Multiaddr>),
    Dial(Multiaddr),
    ReachableAddrs(oneshot::Sender<Vec<Multiaddr>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
}

/// Talks to the swarm actor. Cheap to clone.
#[derive(Clone)]
pub struct P2pHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) local: PeerId,
    pub(crate) metrics: Arc<GateMetrics>,
}

impl P2pHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// Hello outcomes so far (admitted, refused).
    pub fn gate_metrics(&self) -> &GateMetrics {
        &self.metrics
    }

    async fn send(&self, cmd: Command) -> Result<(), P2pError> {
        self.tx.send(cmd).await.map_err(|_| P2pError::Stopped)
    }

    /// Sends `body` to `peer` (dialling it if needed, after its hello) and waits
    /// for the answer.
    pub async fn request(&self, peer: PeerId, body: Vec<u8>) -> Result<Vec<u8>, P2pError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request { peer, body, reply }).await?;
        answer.await.map_err(|_| P2pError::Stopped)?
    }

    /// Publishes on the cluster's gossip topic (best effort).
    pub async fn publish(&self, body: Vec<u8>) -> Result<(), P2pError> {
        self.send(Command::Publish(body)).await
    }

    /// Remembers where `peer` listens, for dialling it later.
    pub async fn add_addresses(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), P2pError> {
        self.send(Command::AddAddresses(peer, addrs)).await
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<(), P2pError> {
        self.send(Command::Dial(addr)).await
    }

    /// The addresses other nodes should dial: the configured `advertise` list, or
    /// else what this node listens on now.
    pub async fn reachable_addrs(&self) -> Result<Vec<Multiaddr>, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::ReachableAddrs(tx)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Peers with an open connection (admitted or not).
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::ConnectedPeers(tx)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }
}

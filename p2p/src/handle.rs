//! The node's side of the swarm actor: a cloneable [`P2pHandle`] that sends commands,
//! and the [`P2pEvent`]s the actor emits, received from [`P2pEvents`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use shoal_types::Certificate;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

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
    /// A gossip message by `from` (its signature checked by gossipsub), handed over
    /// by an admitted neighbour; `from` itself may not be connected to this node.
    Gossip { from: PeerId, body: Vec<u8> },
}

impl P2pEvent {
    /// `PeerAdmitted` and `PeerGone`: never dropped.
    pub fn is_membership(&self) -> bool {
        matches!(
            self,
            P2pEvent::PeerAdmitted { .. } | P2pEvent::PeerGone { .. }
        )
    }
}

/// The network's events for the node, one stream in the order they happened.
///
/// Membership events ([`P2pEvent::PeerAdmitted`], [`P2pEvent::PeerGone`]) are never
/// dropped: the node's peer book and liveness depend on them. They are unbounded,
/// which is fine because there is one per connection change. Requests and gossip
/// are bounded: while `capacity` of them (4096 for [`crate::start`]) wait unread,
/// further ones are dropped (and logged). A dropped request's `reply` is dropped
/// with it, so the asking peer gets an error at once rather than waiting for its
/// timeout.
///
/// Ends (`recv` returns `None`) when the swarm task has stopped.
pub struct P2pEvents {
    rx: mpsc::UnboundedReceiver<P2pEvent>,
    /// Requests and gossip sent and not yet received.
    backlog: Arc<AtomicUsize>,
}

impl P2pEvents {
    /// The next event; `None` once the swarm task has stopped and every event
    /// it sent has been received.
    pub async fn recv(&mut self) -> Option<P2pEvent> {
        let ev = self.rx.recv().await?;
        if !ev.is_membership() {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
        }
        Some(ev)
    }
}

/// The actor's end of [`P2pEvents`].
pub(crate) struct EventSender {
    tx: mpsc::UnboundedSender<P2pEvent>,
    backlog: Arc<AtomicUsize>,
    capacity: usize,
    dropped: u64,
}

/// Why an event did not reach the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotSent {
    /// `capacity` requests and gossip already wait; the event was dropped.
    Full { dropped_so_far: u64 },
    /// The node dropped its [`P2pEvents`].
    Closed,
}

/// A pair: the actor's sender and the node's [`P2pEvents`], with room for
/// `capacity` requests and gossip.
pub(crate) fn events(capacity: usize) -> (EventSender, P2pEvents) {
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let sender = EventSender {
        tx,
        backlog: backlog.clone(),
        capacity,
        dropped: 0,
    };
    (sender, P2pEvents { rx, backlog })
}

impl EventSender {
    /// Queues `event` for the node: always if it is a membership event, else only
    /// while fewer than `capacity` requests and gossip wait. A refused event is
    /// dropped here (with a request's reply: the peer gets an error).
    pub fn send(&mut self, event: P2pEvent) -> Result<(), NotSent> {
        let bounded = !event.is_membership();
        // Only this sender adds to the backlog, so it cannot grow between the load
        // and the add.
        if bounded && self.backlog.load(Ordering::Relaxed) >= self.capacity {
            self.dropped += 1;
            return Err(NotSent::Full {
                dropped_so_far: self.dropped,
            });
        }
        if bounded {
            self.backlog.fetch_add(1, Ordering::Relaxed);
        }
        self.tx.send(event).map_err(|_| NotSent::Closed)
    }
}

/// How long [`P2pHandle::listen_addrs`] and [`P2pHandle::reachable_addrs`] wait for
/// the listeners to report.
const ADDRS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Which of this node's addresses a caller asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AddrQuestion {
    /// Where it listens.
    Listen,
    /// What other nodes should dial: `advertise`, or else where it listens.
    Reachable,
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
    /// Dial a known peer at the addresses learned for it, unless connected or dialing.
    Connect(PeerId),
    Addrs(AddrQuestion, oneshot::Sender<Vec<Multiaddr>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
}

/// Talks to the swarm actor. Cheap to clone. Once the swarm has stopped, every call
/// fails with [`P2pError::Stopped`].
#[derive(Clone)]
pub struct P2pHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) local: PeerId,
    pub(crate) metrics: Arc<GateMetrics>,
    /// Cancelled to stop the swarm: a child of the token given to `start`.
    pub(crate) stop: CancellationToken,
}

impl P2pHandle {
    /// Tells the swarm task to stop (closing its listeners and connections) and
    /// returns at once; await the task [`crate::start`] returned to know it has
    /// stopped. Only this swarm stops: the token given to `start` is not cancelled.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

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

    /// Dials `peer` at the addresses learned for it (`add_addresses`, mDNS,
    /// bootstrap) unless it is connected or being dialled already.
    pub async fn connect(&self, peer: PeerId) -> Result<(), P2pError> {
        self.send(Command::Connect(peer)).await
    }

    /// The addresses other nodes should dial: the configured `advertise` list, or
    /// else what this node listens on now. Waits until every listener has its
    /// address (a port 0 resolved to the real one).
    pub async fn reachable_addrs(&self) -> Result<Vec<Multiaddr>, P2pError> {
        self.addrs(AddrQuestion::Reachable).await
    }

    /// Where this node listens (interfaces and real ports), once every listener has
    /// its address.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, P2pError> {
        self.addrs(AddrQuestion::Listen).await
    }

    /// Asks the swarm for addresses; a listener that has not reported within
    /// [`ADDRS_PATIENCE`] (it should within milliseconds) is an error rather than a
    /// caller waiting forever.
    async fn addrs(&self, question: AddrQuestion) -> Result<Vec<Multiaddr>, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Addrs(question, tx)).await?;
        match tokio::time::timeout(ADDRS_PATIENCE, rx).await {
            Ok(answer) => answer.map_err(|_| P2pError::Stopped),
            Err(_) => Err(P2pError::Start(format!(
                "a listener has not reported its address within {} s",
                ADDRS_PATIENCE.as_secs()
            ))),
        }
    }

    /// Peers with an open connection (admitted or not).
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::ConnectedPeers(tx)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        crate::peer_id_of([n; 32]).unwrap()
    }

    fn gossip(n: u8) -> P2pEvent {
        P2pEvent::Gossip {
            from: peer(1),
            body: vec![n],
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_requests_and_gossip_but_never_membership() {
        let (mut tx, mut rx) = events(3);
        for n in 0..3 {
            assert_eq!(tx.send(gossip(n)), Ok(()));
        }
        // Full: gossip and requests are dropped...
        assert_eq!(tx.send(gossip(3)), Err(NotSent::Full { dropped_so_far: 1 }));
        let (reply, answer) = oneshot::channel();
        let request = P2pEvent::Request {
            peer: peer(2),
            body: b"q".to_vec(),
            reply,
        };
        assert_eq!(tx.send(request), Err(NotSent::Full { dropped_so_far: 2 }));
        // ...with the reply, so whoever waits for it learns at once.
        assert!(
            answer.await.is_err(),
            "a dropped request left its asker waiting"
        );
        // ...but a membership event always gets through, in order.
        assert_eq!(tx.send(P2pEvent::PeerGone { peer: peer(2) }), Ok(()));
        for n in 0..3 {
            assert!(matches!(rx.recv().await, Some(P2pEvent::Gossip { body, .. }) if body == [n]));
        }
        assert!(matches!(rx.recv().await, Some(P2pEvent::PeerGone { peer: p }) if p == peer(2)));
        // Reading made room again.
        assert_eq!(tx.send(gossip(4)), Ok(()));
        assert!(matches!(rx.recv().await, Some(P2pEvent::Gossip { body, .. }) if body == [4]));

        // The stream ends once the sender is gone, and a sender whose node stopped
        // reading says so.
        assert_eq!(tx.send(P2pEvent::PeerGone { peer: peer(3) }), Ok(()));
        drop(tx);
        assert!(matches!(rx.recv().await, Some(P2pEvent::PeerGone { .. })));
        assert!(rx.recv().await.is_none());
        let (mut tx, rx) = events(3);
        drop(rx);
        assert_eq!(tx.send(gossip(0)), Err(NotSent::Closed));
    }
}

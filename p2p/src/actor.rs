//! The one task that owns the libp2p swarm. Commands come in over a channel, events
//! go out over another; nothing else touches the swarm. It runs until its stop token
//! is cancelled or every handle is dropped, then closes its listeners and
//! connections ([`Actor::close`]) and returns.
//!
//! Every new connection starts on probation: both sides send their certificate on
//! the hello protocol, and a peer whose certificate does not verify — or that shows
//! none within the hello timeout — is disconnected and counted. RPC requests from a
//! peer on probation wait (briefly) for its hello; requests to a peer wait until it
//! is admitted. Both waits are capped ([`Parking`]): past the caps an outbound
//! request fails at once with [`P2pError::Overloaded`] and an inbound one is dropped
//! (the peer sees its stream closed, an error).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::core::transport::ListenerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{gossipsub, mdns, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::config::P2pConfig;
use crate::gate::Gate;
use crate::handle::{AddrQuestion, Command, EventSender, NotSent, P2pEvent};
use crate::parking::{Parking, LIMITS};
use crate::P2pError;

type Reply = oneshot::Sender<Result<Vec<u8>, P2pError>>;
type PendingReply = BoxFuture<'static, (ResponseChannel<Vec<u8>>, Option<Vec<u8>>)>;

/// How long a stopping swarm waits for its connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Peers whose addresses the swarm keeps (each with at most 16 addresses).
const MAX_KNOWN_PEERS: usize = 1024;
/// mDNS answers acted on per discovery event.
const MDNS_PER_EVENT: usize = 32;

/// A request to a peer not yet admitted.
struct ParkedOut {
    body: Vec<u8>,
    reply: Reply,
}

/// A request from a peer whose hello has not arrived.
struct ParkedIn {
    body: Vec<u8>,
    channel: ResponseChannel<Vec<u8>>,
}

pub(crate) struct Actor {
    pub swarm: Swarm<Behaviour>,
    pub gate: Gate,
    pub events: EventSender,
    pub topic: gossipsub::IdentTopic,
    pub hello_payload: Vec<u8>,
    pub bootstrap: Vec<Multiaddr>,
    /// Told to other nodes instead of the listen addresses when not empty.
    pub advertise: Vec<Multiaddr>,
    pub request_timeout: Duration,
    /// How long a peer on probation has to show its certificate.
    pub hello_timeout: Duration,
    /// Open listeners, closed on stop.
    listeners: HashSet<ListenerId>,
    /// Listeners that have reported an address (a port 0 is resolved only then).
    reported: HashSet<ListenerId>,
    /// Address questions asked before every listener reported; answered when they have.
    awaiting_listen: Vec<(AddrQuestion, oneshot::Sender<Vec<Multiaddr>>)>,
    outbound: HashMap<OutboundRequestId, Reply>,
    /// Where peers listen (from the node, mDNS and bootstrap dials); used to dial them.
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    /// Which peer answered at each bootstrap address, to re-dial it when gone.
    bootstrap_peers: HashMap<Multiaddr, PeerId>,
    parked_out: Parking<ParkedOut>,
    parked_in: Parking<ParkedIn>,
    replies: FuturesUnordered<PendingReply>,
}

impl Actor {
    pub fn new(
        swarm: Swarm<Behaviour>,
        gate: Gate,
        events: EventSender,
        topic: gossipsub::IdentTopic,
        listeners: Vec<ListenerId>,
        config: &P2pConfig,
    ) -> Actor {
        Actor {
            swarm,
            gate,
            events,
            topic,
            // A certificate is four strings and an integer: JSON encoding cannot fail.
            hello_payload: serde_json::to_vec(&config.certificate)
                .expect("a certificate always encodes as JSON"),
            bootstrap: config.bootstrap.clone(),
            advertise: config.advertise.clone(),
            request_timeout: config.request_timeout,
            hello_timeout: config.hello_timeout,
            listeners: listeners.into_iter().collect(),
            reported: HashSet::new(),
            awaiting_listen: Vec::new(),
            outbound: HashMap::new(),
            addresses: HashMap::new(),
            bootstrap_peers: HashMap::new(),
            parked_out: Parking::new(LIMITS),
            parked_in: Parking::new(LIMITS),
            replies: FuturesUnordered::new(),
        }
    }

    /// Runs until `stop` is cancelled or every handle is dropped, then closes.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_bootstrap = Instant::now();
        self.dial_bootstrap();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.swarm_event(event),
                Some((channel, body)) = self.replies.next(), if !self.replies.is_empty() => {
                    if let Some(body) = body {
                        let _ = self.swarm.behaviour_mut().rpc.send_response(channel, body);
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.expire(now);
                    if now.duration_since(last_bootstrap) >= Duration::from_secs(2) {
                        last_bootstrap = now;
                        self.dial_bootstrap();
                    }
                }
            }
        }
        self.close(commands).await;
        debug!("network task stopped");
    }

    /// Stops: no more commands, every waiting request answered with
    /// [`P2pError::Stopped`], listeners and connections closed. Returns when they
    /// are, or after [`CLOSE_GRACE`]; the swarm is dropped then, and with it any
    /// socket still open.
    async fn close(mut self, mut commands: mpsc::Receiver<Command>) {
        commands.close();
        while let Ok(cmd) = commands.try_recv() {
            // Dropped: their replies tell the callers the task stopped.
            drop(cmd);
        }
        for reply in std::mem::take(&mut self.outbound).into_values() {
            let _ = reply.send(Err(P2pError::Stopped));
        }
        for p in self.parked_out.drain() {
            let _ = p.reply.send(Err(P2pError::Stopped));
        }
        // Channels dropped: their peers see an error.
        drop(self.parked_in.drain());
        self.replies.clear();

        for id in self.listeners.clone() {
            if !self.swarm.remove_listener(id) {
                self.listeners.remove(&id);
            }
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
        while !self.listeners.is_empty() || self.swarm.connected_peers().next().is_some() {
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some());
            match event.await {
                Ok(SwarmEvent::ListenerClosed { listener_id, .. }) => {
                    self.listeners.remove(&listener_id);
                }
                // Late arrivals (a dial that completed now) go too.
                Ok(SwarmEvent::ConnectionEstablished { peer_id, .. }) => {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                Ok(_) => {}
                Err(_) => {
                    warn!(
                        listeners = self.listeners.len(),
                        peers = self.swarm.connected_peers().count(),
                        "network did not close in time; dropping what is left"
                    );
                    break;
                }
            }
        }
    }

    /// Dials every bootstrap address not known to lead to a connected peer.
    fn dial_bootstrap(&mut self) {
        for addr in self.bootstrap.clone() {
            if let Some(peer) = self.bootstrap_peers.get(&addr) {
                if self.swarm.is_connected(peer) {
                    continue;
                }
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(%addr, error = %e, "bootstrap dial failed");
            }
        }
    }

    /// Hands `event` to the node. Membership events always get through; a request
    /// or gossip may be dropped when the node lags (see [`crate::P2pEvents`]).
    fn emit(&mut self, event: P2pEvent) {
        let kind = match &event {
            P2pEvent::Request { .. } => "a request (the peer gets an error)",
            P2pEvent::Gossip { .. } => "gossip",
            _ => "membership",
        };
        match self.events.send(event) {
            Ok(()) => {}
            // Logged at the 1st, 2nd, 4th, 8th... drop: an overloaded node is not
            // made slower by its own warnings.
            Err(NotSent::Full { dropped_so_far }) => {
                if dropped_so_far.is_power_of_two() {
                    warn!(
                        dropped_so_far,
                        "node is not keeping up with network events; dropped {kind}"
                    );
                }
            }
            Err(NotSent::Closed) => debug!("the node no longer reads network events"),
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Request { peer, body, reply } => self.request(peer, body, reply),
            Command::Publish(body) => {
                let topic = self.topic.clone();
                if let Err(e) = self.swarm.behaviour_mut().gossip.publish(topic, body) {
                    debug!(error = %e, "gossip not published");
                }
            }
            Command::AddAddresses(peer, addrs) => {
                for addr in addrs {
                    self.remember(peer, addr);
                }
            }
            Command::Connect(peer) => {
                if peer != *self.swarm.local_peer_id() && !self.swarm.is_connected(&peer) {
                    let addrs = self.addresses.get(&peer).cloned().unwrap_or_default();
                    if !addrs.is_empty() {
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(addrs).build());
                    }
                }
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    debug!(%addr, error = %e, "dial failed");
                }
            }
            Command::Addrs(AddrQuestion::Reachable, tx) if !self.advertise.is_empty() => {
                let _ = tx.send(self.advertise.clone());
            }
            Command::Addrs(question, tx) => {
                // Askers that gave up (see `P2pHandle::addrs`) are not kept waiting.
                self.awaiting_listen.retain(|(_, t)| !t.is_closed());
                self.awaiting_listen.push((question, tx));
                self.answer_addrs();
            }
            Command::ConnectedPeers(tx) => {
                let _ = tx.send(self.swarm.connected_peers().copied().collect());
            }
        }
    }

    fn request(&mut self, peer: PeerId, body: Vec<u8>, reply: Reply) {
        if peer == *self.swarm.local_peer_id() {
            let _ = reply.send(Err(P2pError::Unreachable {
                peer: peer.to_string(),
                detail: "that is this node".into(),
            }));
            return;
        }
        if self.gate.is_admitted(&peer) && self.swarm.is_connected(&peer) {
            let id = self.swarm.behaviour_mut().rpc.send_request(&peer, body);
            self.outbound.insert(id, reply);
            return;
        }
        if !self.swarm.is_connected(&peer) {
            let addrs = self.addresses.get(&peer).cloned().unwrap_or_default();
            match self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build())
            {
                // A dial to it is already under way (for an earlier request): wait for it.
                Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => {
                    let _ = reply.send(Err(P2pError::Unreachable {
                        peer: peer.to_string(),
                        detail: e.to_string(),
                    }));
                    return;
                }
            }
        }
        let bytes = body.len();
        let deadline = Instant::now() + self.request_timeout;
        if let Err((p, full)) =
            self.parked_out
                .park(peer, ParkedOut { body, reply }, bytes, deadline)
        {
            debug!(%peer, %full, "request to a peer not yet admitted refused");
            let _ = p.reply.send(Err(P2pError::Overloaded {
                peer: peer.to_string(),
                detail: format!("{full}, and it is not connected and admitted yet"),
            }));
        }
    }

    fn remember(&mut self, peer: PeerId, addr: Multiaddr) {
        if !self.addresses.contains_key(&peer) && self.addresses.len() >= MAX_KNOWN_PEERS {
            // Full (mDNS may announce any number of made-up peers): forget one that is
            // not connected, or take no more.
            let idle = self
                .addresses
                .keys()
                .find(|p| !self.swarm.is_connected(p))
                .copied();
            match idle {
                Some(p) => {
                    self.addresses.remove(&p);
                }
                None => return,
            }
        }
        let known = self.addresses.entry(peer).or_default();
        if !known.contains(&addr) {
            known.push(addr);
            if known.len() > 16 {
                known.remove(0);
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        for peer in self.gate.overdue(now) {
            warn!(%peer, "peer showed no certificate in time; disconnecting");
            self.gate.refuse(peer, now);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.parked_in.take(&peer);
        }
        self.gate.forget_expired_shuns(now);
        for (peer, p) in self.parked_out.expire(now) {
            let _ = p.reply.send(Err(P2pError::Unreachable {
                peer: peer.to_string(),
                detail: "not connected and admitted in time".into(),
            }));
        }
        // Dropping a channel closes the peer's stream: it sees an error.
        for (peer, _) in self.parked_in.expire(now) {
            debug!(%peer, "request from a peer on probation expired before its hello");
        }
    }

    fn admitted(&mut self, peer: PeerId) {
        let Some(cert) = self.gate.certificate(&peer).cloned() else {
            return;
        };
        info!(%peer, "peer admitted");
        self.emit(P2pEvent::PeerAdmitted {
            peer,
            certificate: cert,
        });
        for p in self.parked_out.take(&peer) {
            let id = self.swarm.behaviour_mut().rpc.send_request(&peer, p.body);
            self.outbound.insert(id, p.reply);
        }
        for p in self.parked_in.take(&peer) {
            self.deliver(peer, p.body, p.channel);
        }
    }

    fn deliver(&mut self, peer: PeerId, body: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        let (reply, answer) = oneshot::channel();
        self.emit(P2pEvent::Request { peer, body, reply });
        self.replies
            .push(async move { (channel, answer.await.ok()) }.boxed());
    }

    fn refuse(&mut self, peer: PeerId, why: &str) {
        warn!(%peer, reason = why, "peer refused at hello; disconnecting");
        self.gate.refuse(peer, Instant::now());
        self.parked_in.take(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn hello(&mut self, peer: PeerId, payload: &[u8]) -> bool {
        match self.gate.hello(peer, payload) {
            Ok(true) => {
                self.admitted(peer);
                true
            }
            Ok(false) => true,
            Err(r) => {
                self.refuse(peer, &format!("{r:?}"));
                false
            }
        }
    }

    /// Answers the address questions once every open listener has reported its
    /// address (until then a `/tcp/0` listener's port is unknown).
    fn answer_addrs(&mut self) {
        if self.awaiting_listen.is_empty() || !self.listeners.is_subset(&self.reported) {
            return;
        }
        let listening: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        for (question, tx) in self.awaiting_listen.drain(..) {
            let addrs = match question {
                AddrQuestion::Reachable if !self.advertise.is_empty() => self.advertise.clone(),
                _ => listening.clone(),
            };
            let _ = tx.send(addrs);
        }
    }

    fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                info!(%address, "listening");
                self.reported.insert(listener_id);
                self.answer_addrs();
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                warn!(?reason, "a listener closed");
                self.listeners.remove(&listener_id);
                self.reported.remove(&listener_id);
                self.answer_addrs();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                let now = Instant::now();
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address().clone();
                    if self.bootstrap.contains(&addr) {
                        self.bootstrap_peers.insert(addr.clone(), peer_id);
                    }
                    self.remember(peer_id, addr);
                }
                if self.gate.is_shunned(&peer_id, now) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.gate.connected(peer_id, now);
                if num_established.get() == 1 && !self.gate.is_admitted(&peer_id) {
                    let payload = self.hello_payload.clone();
                    self.swarm
                        .behaviour_mut()
                        .hello
                        .send_request(&peer_id, payload);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                let was = self.gate.is_admitted(&peer_id);
                self.gate.disconnected(&peer_id);
                self.parked_in.take(&peer_id);
                if was {
                    debug!(peer = %peer_id, "peer disconnected");
                    self.emit(P2pEvent::PeerGone { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } if !self.swarm.is_connected(&peer) => {
                // Requests waiting for this peer fail now rather than at their timeout.
                for p in self.parked_out.take(&peer) {
                    let _ = p.reply.send(Err(P2pError::Unreachable {
                        peer: peer.to_string(),
                        detail: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Hello(ev)) => self.hello_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Rpc(ev)) => self.rpc_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            })) => {
                // Relayed through the mesh: the neighbour that handed it over passed the
                // gate; the author (`source`, whose signature gossipsub checked) may be a
                // node this one has no connection to, and the node decides whether it
                // is a member.
                if !self.gate.is_admitted(&propagation_source) {
                    return;
                }
                if let Some(from) = message.source {
                    self.emit(P2pEvent::Gossip {
                        from,
                        body: message.data,
                    });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                let now = Instant::now();
                // Answers are only candidates (a dial must still show a certificate for
                // the very key): a burst of them is cut short.
                for (peer, addr) in found.into_iter().take(MDNS_PER_EVENT) {
                    if peer == *self.swarm.local_peer_id() || self.gate.is_shunned(&peer, now) {
                        continue;
                    }
                    self.remember(peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            _ => {}
        }
    }

    fn hello_event(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // Answer with our certificate only a peer that showed a valid one.
                let admitted = self.hello(peer, &request);
                if admitted {
                    let payload = self.hello_payload.clone();
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .hello
                        .send_response(channel, payload);
                }
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            } => {
                self.hello(peer, &response);
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "hello not answered");
            }
            _ => {}
        }
    }

    fn rpc_event(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if self.gate.is_admitted(&peer) {
                    self.deliver(peer, request, channel);
                } else if self.swarm.is_connected(&peer) {
                    // Its hello is still on the way; it has until its probation ends.
                    let bytes = request.len();
                    let deadline = Instant::now() + self.hello_timeout;
                    let parked = ParkedIn {
                        body: request,
                        channel,
                    };
                    if let Err((_, full)) = self.parked_in.park(peer, parked, bytes, deadline) {
                        // Dropping the channel closes the peer's stream: it sees an error.
                        warn!(%peer, %full, "request from a peer on probation dropped");
                    }
                } else {
                    warn!(%peer, "request from a peer that never showed a certificate; dropped");
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Err(P2pError::Unreachable {
                        peer: peer.to_string(),
                        detail: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

//! Shoal's networking crate, the only one that links libp2p.
//!
//! [`start`] builds the swarm (TCP + noise + yamux, identity = the node key) and
//! spawns the one task that owns it ([`actor`]); the node talks to it through a
//! [`P2pHandle`], receives [`P2pEvent`]s from [`P2pEvents`], and stops it with the
//! cancellation token it passed to [`start`]. Protocols: a certificate hello that gates
//! every connection ([`gate`]), one size-limited request-response protocol for
//! everything the node layer asks of a peer, a gossipsub topic per cluster, and mDNS.
//! This crate moves bytes and admits peers; what the bytes mean is the node's.

mod actor;
mod behaviour;
pub mod codec;
pub mod config;
pub mod error;
pub mod gate;
pub mod handle;
pub mod identity;
mod parking;
mod port_check;

use std::time::Duration;

use libp2p::core::transport::ListenerId;
use libp2p::{gossipsub, noise, tcp, yamux, Multiaddr};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{ConnectionCaps, P2pConfig};
pub use error::P2pError;
pub use handle::{P2pEvent, P2pEvents, P2pHandle};
pub use identity::{keypair_from_node_key, peer_id_of};
pub use libp2p::{Multiaddr as Addr, PeerId};

/// Requests and gossip waiting for the node; past this the network drops them (and
/// says so). Membership events are never dropped (see [`P2pEvents`]).
const EVENT_QUEUE: usize = 4096;

/// Starts the swarm and spawns the task that owns it (call it inside a tokio
/// runtime). Returns the handle to talk to it, its events, and the task.
///
/// The task stops when `cancel` is cancelled, when [`P2pHandle::shutdown`] is
/// called on any clone of the handle (that stops this swarm only, not `cancel`), or
/// when every [`P2pHandle`] is dropped. Stopping closes the listeners and the
/// connections (waiting up to 2 s for the connections to close), answers waiting
/// requests with [`P2pError::Stopped`], and ends the [`P2pEvents`] stream once it is
/// read out. When the returned [`JoinHandle`] is ready, the listen ports are free
/// again. With mDNS on, libp2p-mdns 0.49 leaves its per-interface tasks running
/// after its swarm is gone (they hold no listen port and announce no addresses).
///
/// A node with one token and a `tokio_util::task::TaskTracker` for all its tasks:
///
/// ```ignore
/// let (p2p, events, task) = shoal_p2p::start(config, cancel.clone())?;
/// tracker.spawn(task); // awaited with the node's other tasks
/// tracker.spawn(server.run(events)); // ends when `events` does
/// // ... on shutdown:
/// cancel.cancel();
/// tracker.close();
/// tracker.wait().await; // the swarm's sockets are closed now
/// ```
pub fn start(
    config: P2pConfig,
    cancel: CancellationToken,
) -> Result<(P2pHandle, P2pEvents, JoinHandle<()>), P2pError> {
    let keypair = keypair_from_node_key(config.node_secret)?;
    let local = keypair.public().to_peer_id();
    let start_err = |e: &dyn std::fmt::Display| P2pError::Start(e.to_string());
    let mut swarm = build_swarm(keypair, &config)?;
    let topic = gossipsub::IdentTopic::new(format!("shoal/{}/adverts", config.cluster_id));
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| start_err(&e))?;
    let mut listeners = Vec::new();
    for addr in &config.listen {
        listeners.push(listen(&mut swarm, addr)?);
    }
    let gate = gate::Gate::new(
        config.cluster_id.clone(),
        config.authority,
        config.hello_timeout,
    );
    let metrics = gate.metrics.clone();
    let (events_tx, events) = handle::events(EVENT_QUEUE);
    let (tx, commands) = mpsc::channel(1024);
    let actor = actor::Actor::new(swarm, gate, events_tx, topic, listeners, &config);
    // A child: `P2pHandle::shutdown` stops this swarm and nothing else of the node.
    let stop = cancel.child_token();
    let task = tokio::spawn(actor.run(commands, stop.clone()));
    let handle = P2pHandle {
        tx,
        local,
        metrics,
        stop,
    };
    Ok((handle, events, task))
}

/// TCP + noise + yamux; with the `quic` cargo feature, QUIC as well (addresses
/// `/udp/PORT/quic-v1` in `--listen` and `--bootstrap` then use it).
fn build_swarm(
    keypair: libp2p::identity::Keypair,
    config: &P2pConfig,
) -> Result<libp2p::Swarm<behaviour::Behaviour>, P2pError> {
    let start_err = |e: &dyn std::fmt::Display| P2pError::Start(e.to_string());
    let builder = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| start_err(&e))?;
    #[cfg(feature = "quic")]
    let builder = builder.with_quic();
    Ok(builder
        .with_behaviour(|key| {
            behaviour::Behaviour::new(key, config)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| start_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// Listens on `addr`, after checking that nothing else holds its port.
fn listen(
    swarm: &mut libp2p::Swarm<behaviour::Behaviour>,
    addr: &Multiaddr,
) -> Result<ListenerId, P2pError> {
    port_check::ensure_free(addr)?;
    swarm.listen_on(addr.clone()).map_err(|e| P2pError::Listen {
        addr: addr.to_string(),
        detail: e.to_string(),
    })
}

//! The libp2p protocols a Shoal node speaks, combined into one behaviour.

use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    connection_limits, gossipsub, identity::Keypair, mdns, request_response, StreamProtocol,
};

use crate::codec::FrameCodec;
use crate::config::P2pConfig;

/// Certificates, before anything else (small: one certificate each way).
pub const HELLO: StreamProtocol = StreamProtocol::new("/shoal/hello/1");
/// Everything else the node layer asks of a peer (raft, forwarding, leases, logs).
pub const RPC: StreamProtocol = StreamProtocol::new("/shoal/rpc/1");
const HELLO_MAX: usize = 16 << 10;

/// RPC streams one connection may have open at once: each may carry a frame of up
/// to `max_message`, so this bounds what one peer can make a node hold.
pub const MAX_STREAMS_PER_CONNECTION: usize = 32;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so a connection over the limits is denied before any other behaviour
    /// sees it.
    pub limits: connection_limits::Behaviour,
    pub hello: request_response::Behaviour<FrameCodec>,
    pub rpc: request_response::Behaviour<FrameCodec>,
    pub gossip: gossipsub::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

impl Behaviour {
    pub fn new(key: &Keypair, config: &P2pConfig) -> Result<Behaviour, String> {
        let hello = request_response::Behaviour::with_codec(
            FrameCodec::new(HELLO_MAX, HELLO_MAX),
            [(HELLO, request_response::ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(config.hello_timeout),
        );
        let rpc = request_response::Behaviour::with_codec(
            FrameCodec::new(config.max_message, config.max_message),
            [(RPC, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
        );
        let gossip_config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(Duration::from_secs(1))
            .validation_mode(gossipsub::ValidationMode::Strict)
            .max_transmit_size(64 << 10)
            .build()
            .map_err(|e| e.to_string())?;
        let gossip = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )
        .map_err(|e| e.to_string())?;
        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let c = &config.limits;
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(c.pending_incoming))
                .with_max_pending_outgoing(Some(c.pending_outgoing))
                .with_max_established_incoming(Some(c.established_incoming))
                .with_max_established(Some(c.established))
                .with_max_established_per_peer(Some(c.per_peer)),
        );
        Ok(Behaviour {
            limits,
            hello,
            rpc,
            gossip,
            mdns: Toggle::from(mdns),
        })
    }
}

//! What the swarm needs to start: who we are, which cluster we admit, where to listen
//! and whom to dial first.

use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use libp2p::Multiaddr;
use shoal_types::Certificate;

/// Settings of one node's swarm.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// This node's ed25519 secret key (also its libp2p identity).
    pub node_secret: [u8; 32],
    /// This node's certificate, shown to every peer in the hello.
    pub certificate: Certificate,
    pub cluster_id: String,
    /// Peers must hold a certificate from this authority for `cluster_id`.
    pub authority: VerifyingKey,
    /// Addresses to listen on. If one is taken, an ephemeral port on the same
    /// interface is used instead (and logged).
    pub listen: Vec<Multiaddr>,
    /// Addresses dialled at start and re-dialled while not connected.
    pub bootstrap: Vec<Multiaddr>,
    /// Addresses other nodes are told to dial instead of the listen addresses (NAT,
    /// port forwarding, a proxy in front of this node). Empty: the listen addresses.
    pub advertise: Vec<Multiaddr>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// A peer that has not shown a valid certificate by then is disconnected.
    pub hello_timeout: Duration,
    /// How long an outbound request waits for its response.
    pub request_timeout: Duration,
    /// Largest request and response accepted on the RPC protocol.
    pub max_message: usize,
    /// How many connections the swarm keeps (a flood of handshakes is denied past
    /// these, before any certificate is read).
    pub limits: ConnectionCaps,
}

/// Connection limits of one swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Incoming connections still in their handshake.
    pub pending_incoming: u32,
    /// Dials in progress.
    pub pending_outgoing: u32,
    pub established_incoming: u32,
    /// Both directions together.
    pub established: u32,
    /// To one peer (a node needs one; redials and simultaneous dials make more).
    pub per_peer: u32,
}

impl Default for ConnectionCaps {
    /// Room for clusters of hundreds of nodes, each connected to every other.
    fn default() -> ConnectionCaps {
        ConnectionCaps {
            pending_incoming: 64,
            pending_outgoing: 128,
            established_incoming: 1024,
            established: 2048,
            per_peer: 4,
        }
    }
}

impl P2pConfig {
    pub fn new(
        node_secret: [u8; 32],
        certificate: Certificate,
        cluster_id: impl Into<String>,
        authority: VerifyingKey,
    ) -> P2pConfig {
        P2pConfig {
            node_secret,
            certificate,
            cluster_id: cluster_id.into(),
            authority,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            advertise: Vec::new(),
            mdns: true,
            hello_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_message: 16 << 20,
            limits: ConnectionCaps::default(),
        }
    }
}

//! The certificate gate: which connected peers showed a valid certificate of this
//! cluster for the very key they connect with, and which are still on probation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use libp2p::PeerId;
use shoal_types::Certificate;

/// Why a peer was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its certificate did not parse, was for another cluster, was not signed by
    /// our authority, or certifies a key other than the one it connected with.
    BadCertificate(String),
    /// It showed no certificate within the hello timeout.
    NoHello,
}

/// Counters anyone may read (the node exports them).
#[derive(Debug, Default)]
pub struct GateMetrics {
    pub admitted: AtomicU64,
    pub refused: AtomicU64,
}

pub struct Gate {
    cluster_id: String,
    authority: VerifyingKey,
    timeout: Duration,
    /// Connected, hello not yet verified: since when.
    probation: HashMap<PeerId, Instant>,
    admitted: HashMap<PeerId, Certificate>,
    /// Refused peers are not dialled again before this time.
    shunned: HashMap<PeerId, Instant>,
    pub metrics: Arc<GateMetrics>,
}

/// How long a refused peer is not dialled again.
const SHUN: Duration = Duration::from_secs(60);

impl Gate {
    pub fn new(cluster_id: String, authority: VerifyingKey, timeout: Duration) -> Gate {
        Gate {
            cluster_id,
            authority,
            timeout,
            probation: HashMap::new(),
            admitted: HashMap::new(),
            shunned: HashMap::new(),
            metrics: Arc::default(),
        }
    }

    pub fn is_admitted(&self, peer: &PeerId) -> bool {
        self.admitted.contains_key(peer)
    }

    pub fn certificate(&self, peer: &PeerId) -> Option<&Certificate> {
        self.admitted.get(peer)
    }

    pub fn is_shunned(&self, peer: &PeerId, now: Instant) -> bool {
        self.shunned.get(peer).is_some_and(|until| *until > now)
    }

    /// A connection to `peer` was established; starts its probation unless admitted.
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        if !self.admitted.contains_key(&peer) {
            self.probation.entry(peer).or_insert(now);
        }
    }

    /// The last connection to `peer` closed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.probation.remove(peer);
        self.admitted.remove(peer);
    }

    /// Checks a hello payload from `peer`. `Ok(true)` if this admitted it just now.
    pub fn hello(&mut self, peer: PeerId, payload: &[u8]) -> Result<bool, Refusal> {
        let cert = self.check(peer, payload)?;
        self.probation.remove(&peer);
        let newly = self.admitted.insert(peer, cert).is_none();
        if newly {
            self.metrics.admitted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(newly)
    }

    fn check(&self, peer: PeerId, payload: &[u8]) -> Result<Certificate, Refusal> {
        let bad = |why: String| Refusal::BadCertificate(why);
        let cert: Certificate =
            serde_json::from_slice(payload).map_err(|e| bad(format!("unreadable: {e}")))?;
        let key = cert
            .verify(&self.authority, &self.cluster_id)
            .map_err(|e| bad(e.to_string()))?;
        let libp2p_key = libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        let certified = libp2p::identity::PublicKey::from(libp2p_key).to_peer_id();
        if certified != peer {
            return Err(bad(format!(
                "certificate is for {certified}, but the connection is from {peer}"
            )));
        }
        Ok(cert)
    }

    /// Records a refusal; the caller disconnects the peer.
    pub fn refuse(&mut self, peer: PeerId, now: Instant) {
        self.probation.remove(&peer);
        self.admitted.remove(&peer);
        self.shunned.insert(peer, now + SHUN);
        self.metrics.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Peers whose probation ran out by `now` (they get refused and disconnected).
    pub fn overdue(&self, now: Instant) -> Vec<PeerId> {
        self.probation
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= self.timeout)
            .map(|(p, _)| *p)
            .collect()
    }

    pub fn forget_expired_shuns(&mut self, now: Instant) {
        self.shunned.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn peer_of(key: &SigningKey) -> PeerId {
        crate::peer_id_of(key.to_bytes()).unwrap()
    }

    #[test]
    fn admits_only_certificates_of_this_cluster_for_the_connecting_key() {
        let authority = SigningKey::from_bytes(&[1; 32]);
        let node = SigningKey::from_bytes(&[2; 32]);
        let mut gate = Gate::new(
            "c1".into(),
            authority.verifying_key(),
            Duration::from_secs(2),
        );
        let t0 = Instant::now();
        let good = Certificate::issue(&authority, "c1", &node.verifying_key(), 1);
        let good = serde_json::to_vec(&good).unwrap();

        // Right certificate, wrong connection: refused.
        let other = SigningKey::from_bytes(&[3; 32]);
        assert!(gate.hello(peer_of(&other), &good).is_err());
        // Another cluster's authority: refused.
        let rogue = SigningKey::from_bytes(&[4; 32]);
        let foreign =
            serde_json::to_vec(&Certificate::issue(&rogue, "c1", &node.verifying_key(), 1))
                .unwrap();
        assert!(gate.hello(peer_of(&node), &foreign).is_err());
        assert!(gate.hello(peer_of(&node), b"garbage").is_err());

        gate.connected(peer_of(&node), t0);
        assert_eq!(gate.hello(peer_of(&node), &good), Ok(true));
        assert_eq!(gate.hello(peer_of(&node), &good), Ok(false));
        assert!(gate.is_admitted(&peer_of(&node)));

        // A silent peer is overdue after the timeout.
        gate.connected(peer_of(&other), t0);
        assert!(gate.overdue(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(
            gate.overdue(t0 + Duration::from_secs(2)),
            vec![peer_of(&other)]
        );
        gate.refuse(peer_of(&other), t0);
        assert!(gate.is_shunned(&peer_of(&other), t0 + Duration::from_secs(1)));
        assert_eq!(gate.metrics.refused.load(Ordering::Relaxed), 1);
    }
}

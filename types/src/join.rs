//! The proof a joining node gives that it holds the key its certificate certifies:
//! a signature by that key over the cluster id, its node id, the addresses it asks
//! to be recorded under (whose peer id must be that key's), a fresh nonce and the
//! time. Certificates are public — every hello shows one — so a certificate alone
//! proves nothing about who sends it; a join passed on by another node keeps its
//! proof. Pure: the caller gives the time.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// How far a join's time may be from the judging node's clock (either way): wide
/// enough for skewed clocks, narrow enough that a captured join soon stops working.
pub const JOIN_WINDOW_MS: u64 = 10 * 60 * 1000;

/// The joining key's signature over what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinProof {
    pub nonce: String,
    pub at_ms: u64,
    /// ed25519, hex.
    pub signature: String,
}

fn message(cluster_id: &str, node_id: u64, addr: &str, nonce: &str, at_ms: u64) -> Vec<u8> {
    format!("shoal-join-v1\n{cluster_id}\n{node_id}\n{addr}\n{nonce}\n{at_ms}").into_bytes()
}

impl JoinProof {
    /// Signs a join of `node_id` at `addr` into `cluster_id` at `at_ms`.
    pub fn sign(
        key: &SigningKey,
        cluster_id: &str,
        node_id: u64,
        addr: &str,
        at_ms: u64,
    ) -> JoinProof {
        let nonce = crate::envelope::fresh_nonce();
        let sig = key.sign(&message(cluster_id, node_id, addr, &nonce, at_ms));
        JoinProof {
            nonce,
            at_ms,
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Whether `key` signed this join of `node_id` at `addr` into `cluster_id`, and
    /// its time is within [`JOIN_WINDOW_MS`] of `now_ms`; else why not.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        cluster_id: &str,
        node_id: u64,
        addr: &str,
        now_ms: u64,
    ) -> Result<(), String> {
        if self.at_ms.abs_diff(now_ms) > JOIN_WINDOW_MS {
            return Err(format!(
                "the join was signed at {} ms, {} s from this node's clock (at most {} s)",
                self.at_ms,
                self.at_ms.abs_diff(now_ms) / 1000,
                JOIN_WINDOW_MS / 1000
            ));
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the join's signature is not 64 hex-encoded bytes")?;
        key.verify(
            &message(cluster_id, node_id, addr, &self.nonce, self.at_ms),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| "the join is not signed by the certified key".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_that_signed_that_very_join_passes() {
        let k = SigningKey::from_bytes(&[5; 32]);
        let other = SigningKey::from_bytes(&[6; 32]);
        let now = 1_000_000_000;
        let p = JoinProof::sign(&k, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", now);
        let pk = k.verifying_key();
        assert_eq!(p.verify(&pk, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", now), Ok(()));
        // Another key, cluster, node, address, or a time out of the window.
        assert!(p
            .verify(&other.verifying_key(), "c1", 7, "P@/ip4/1.2.3.4/tcp/1", now)
            .is_err());
        assert!(p.verify(&pk, "c2", 7, "P@/ip4/1.2.3.4/tcp/1", now).is_err());
        assert!(p.verify(&pk, "c1", 8, "P@/ip4/1.2.3.4/tcp/1", now).is_err());
        assert!(p.verify(&pk, "c1", 7, "Q@/ip4/1.2.3.4/tcp/1", now).is_err());
        let late = now + JOIN_WINDOW_MS + 1;
        assert!(p
            .verify(&pk, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", late)
            .unwrap_err()
            .contains("from this node's clock"));
        let early = now - JOIN_WINDOW_MS;
        assert_eq!(
            p.verify(&pk, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", early),
            Ok(())
        );
        let mut bad = p.clone();
        bad.signature = "zz".into();
        assert!(bad
            .verify(&pk, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", now)
            .is_err());
        // Two proofs of the same join differ (fresh nonce).
        assert_ne!(p, JoinProof::sign(&k, "c1", 7, "P@/ip4/1.2.3.4/tcp/1", now));
    }
}

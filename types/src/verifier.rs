//! Verifying envelopes for one cluster without re-checking the same certificate for
//! every job.
//!
//! A cluster has a handful of node certificates and each signs many envelopes, so
//! [`EnvelopeVerifier`] remembers the certificates it has checked against the
//! authority. Each envelope's own signature is still verified every time.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::VerifyingKey;

use crate::{Certificate, EnvelopeBody, SignedEnvelope, TypesError};

/// Certificates remembered at most; past this the memory starts over.
const MAX_REMEMBERED: usize = 4_096;

/// Checks envelopes against one cluster's authority.
#[derive(Debug)]
pub struct EnvelopeVerifier {
    authority: VerifyingKey,
    cluster_id: String,
    /// Certificates that passed, by their authority signature (the whole certificate
    /// is compared too, so a copied signature on other fields is not trusted).
    checked: Mutex<HashMap<String, (Certificate, VerifyingKey)>>,
}

impl EnvelopeVerifier {
    pub fn new(authority: VerifyingKey, cluster_id: impl Into<String>) -> EnvelopeVerifier {
        EnvelopeVerifier {
            authority,
            cluster_id: cluster_id.into(),
            checked: Mutex::new(HashMap::new()),
        }
    }

    /// The full check of [`SignedEnvelope::verify`].
    pub fn verify(&self, envelope: &SignedEnvelope) -> Result<EnvelopeBody, TypesError> {
        envelope.verify_with(&self.cluster_id, |cert| self.certificate_key(cert))
    }

    fn certificate_key(&self, cert: &Certificate) -> Result<VerifyingKey, TypesError> {
        if let Ok(checked) = self.checked.lock() {
            if let Some((known, key)) = checked.get(&cert.signature) {
                if known == cert {
                    return Ok(*key);
                }
            }
        }
        let key = cert.verify(&self.authority, &self.cluster_id)?;
        if let Ok(mut checked) = self.checked.lock() {
            if checked.len() >= MAX_REMEMBERED {
                checked.clear();
            }
            checked.insert(cert.signature.clone(), (cert.clone(), key));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::fresh_nonce;
    use crate::{JobSpec, NodeId};
    use ed25519_dalek::SigningKey;

    fn envelope(node: &SigningKey, cert: Certificate) -> SignedEnvelope {
        let body = EnvelopeBody {
            cluster_id: "c1".into(),
            spec: JobSpec::argv(vec!["true".into()], "/"),
            submitter: NodeId::from_public_key(node.verifying_key().as_bytes()),
            certificate: cert,
            timestamp_ms: 1,
            nonce: fresh_nonce(),
        };
        SignedEnvelope::sign(&body, node)
    }

    #[test]
    fn remembers_good_certificates_and_still_checks_every_signature() {
        let authority = SigningKey::from_bytes(&[1; 32]);
        let node = SigningKey::from_bytes(&[2; 32]);
        let cert = Certificate::issue(&authority, "c1", &node.verifying_key(), 5);
        let v = EnvelopeVerifier::new(authority.verifying_key(), "c1");
        v.verify(&envelope(&node, cert.clone())).unwrap();
        v.verify(&envelope(&node, cert.clone())).unwrap();
        assert_eq!(v.checked.lock().unwrap().len(), 1);

        // A remembered certificate does not vouch for a forged signature.
        let mut forged = envelope(&node, cert.clone());
        forged.signature = "00".repeat(64);
        assert!(v.verify(&forged).is_err());

        // Nor does its signature vouch for a different node key.
        let other = SigningKey::from_bytes(&[3; 32]);
        let mut stolen = cert;
        stolen.node_key = hex::encode(other.verifying_key().as_bytes());
        assert!(v.verify(&envelope(&other, stolen)).is_err());

        // Another authority's certificate is refused.
        let rogue = SigningKey::from_bytes(&[4; 32]);
        let rogue_cert = Certificate::issue(&rogue, "c1", &node.verifying_key(), 5);
        assert!(v.verify(&envelope(&node, rogue_cert)).is_err());
    }
}

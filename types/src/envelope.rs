//! Signed job envelopes: the spec plus who submitted it, when, and a nonce, signed
//! with the submitting node's key.
//!
//! The signature covers the exact body bytes carried in the envelope, so nobody has
//! to re-serialize anything canonically: verifiers check the bytes, then parse them.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{Certificate, JobSpec, NodeId, TypesError};

/// What the submitting node vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeBody {
    pub cluster_id: String,
    pub spec: JobSpec,
    pub submitter: NodeId,
    pub certificate: Certificate,
    pub timestamp_ms: u64,
    /// 16 random bytes, hex; (submitter, nonce) is unique in the cluster's history.
    pub nonce: String,
}

/// A body and the submitter's signature over its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEnvelope {
    /// The JSON encoding of an [`EnvelopeBody`]; these bytes are what is signed.
    pub body: String,
    /// ed25519 signature over `"shoal-envelope-v1\n" + body`, hex.
    pub signature: String,
}

const DOMAIN: &[u8] = b"shoal-envelope-v1\n";

fn signed_bytes(body: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(DOMAIN.len() + body.len());
    v.extend_from_slice(DOMAIN);
    v.extend_from_slice(body.as_bytes());
    v
}

impl SignedEnvelope {
    /// True for the placeholder of a stored array task (no body, no signature).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty() && self.signature.is_empty()
    }

    /// Serializes and signs `body` with the submitting node's key.
    pub fn sign(body: &EnvelopeBody, key: &SigningKey) -> SignedEnvelope {
        // Strings, integers, vectors and plain enums, no maps: JSON encoding cannot fail.
        let body = serde_json::to_string(body).expect("an envelope body always encodes as JSON");
        let signature = hex::encode(key.sign(&signed_bytes(&body)).to_bytes());
        SignedEnvelope { body, signature }
    }

    /// Parses the body without checking anything.
    pub fn body(&self) -> Result<EnvelopeBody, TypesError> {
        serde_json::from_str(&self.body).map_err(|e| TypesError::BadEnvelope {
            reason: format!("body does not parse: {e}"),
        })
    }

    /// Full check: the certificate is from `authority` for `cluster_id`, the submitter id
    /// matches the certificate, the signature is the certified key's, and the spec is valid.
    pub fn verify(
        &self,
        authority: &VerifyingKey,
        cluster_id: &str,
    ) -> Result<EnvelopeBody, TypesError> {
        self.verify_with(cluster_id, |cert| cert.verify(authority, cluster_id))
    }

    /// [`SignedEnvelope::verify`] with the certificate check supplied by the caller
    /// (see [`crate::verifier::EnvelopeVerifier`], which remembers checked ones).
    pub fn verify_with(
        &self,
        cluster_id: &str,
        check_certificate: impl FnOnce(&Certificate) -> Result<VerifyingKey, TypesError>,
    ) -> Result<EnvelopeBody, TypesError> {
        let bad = |reason: String| TypesError::BadEnvelope { reason };
        let body = self.body()?;
        if body.cluster_id != cluster_id {
            return Err(bad(format!(
                "for cluster {}, not {cluster_id}",
                body.cluster_id
            )));
        }
        let node_key = check_certificate(&body.certificate)?;
        if NodeId::from_public_key(node_key.as_bytes()) != body.submitter {
            return Err(bad("submitter does not match its certificate".into()));
        }
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("signature is not 64 hex bytes".into()))?;
        node_key
            .verify(&signed_bytes(&self.body), &Signature::from_bytes(&sig))
            .map_err(|_| bad("signature does not match the body".into()))?;
        if hex::decode(&body.nonce).map(|n| n.len()).unwrap_or(0) != 16 {
            return Err(bad("nonce is not 16 hex bytes".into()));
        }
        body.spec.validate()?;
        Ok(body)
    }

    /// The raw nonce bytes (zero-filled if malformed; [`SignedEnvelope::verify`] rejects those).
    pub fn nonce_bytes(body: &EnvelopeBody) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Ok(v) = hex::decode(&body.nonce) {
            if v.len() == 16 {
                out.copy_from_slice(&v);
            }
        }
        out
    }
}

/// 16 fresh random bytes, hex, for [`EnvelopeBody::nonce`].
pub fn fresh_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn setup() -> (SigningKey, SigningKey, EnvelopeBody) {
        let auth = keys::generate();
        let node = keys::generate();
        let cert = Certificate::issue(&auth, "c1", &node.verifying_key(), 1);
        let body = EnvelopeBody {
            cluster_id: "c1".into(),
            spec: JobSpec::argv(vec!["true".into()], "/"),
            submitter: NodeId::from_public_key(node.verifying_key().as_bytes()),
            certificate: cert,
            timestamp_ms: 10,
            nonce: fresh_nonce(),
        };
        (auth, node, body)
    }

    #[test]
    fn signed_envelope_verifies() {
        let (auth, node, body) = setup();
        let env = SignedEnvelope::sign(&body, &node);
        assert_eq!(env.verify(&auth.verifying_key(), "c1").unwrap(), body);
    }

    #[test]
    fn tampering_is_detected() {
        let (auth, node, body) = setup();
        let env = SignedEnvelope::sign(&body, &node);
        let mut edited = env.clone();
        edited.body = edited.body.replace("true", "echo");
        assert!(edited.verify(&auth.verifying_key(), "c1").is_err());
        let other = SignedEnvelope::sign(&body, &keys::generate());
        assert!(other.verify(&auth.verifying_key(), "c1").is_err());
        assert!(env.verify(&auth.verifying_key(), "c2").is_err());
        assert!(env.verify(&keys::generate().verifying_key(), "c1").is_err());
        let mut unsigned = env;
        unsigned.signature = String::new();
        assert!(unsigned.verify(&auth.verifying_key(), "c1").is_err());
    }
}

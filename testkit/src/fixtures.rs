//! Signed job envelopes for tests: a fresh authority and node key each time.

use ed25519_dalek::SigningKey;
use shoal_types::envelope::fresh_nonce;
use shoal_types::{keys, Certificate, EnvelopeBody, JobSpec, NodeId, SignedEnvelope};

/// The cluster id the fixtures use.
pub const CLUSTER: &str = "c";

/// An envelope and the keys behind it.
pub struct Signed {
    pub envelope: SignedEnvelope,
    /// The authority that certified the submitting node (what a verifier trusts).
    pub authority: SigningKey,
    /// The submitting node's key.
    pub node: SigningKey,
}

/// `spec` signed by a freshly certified node of cluster [`CLUSTER`].
pub fn signed(spec: JobSpec) -> Signed {
    let authority = keys::generate();
    let node = keys::generate();
    let body = EnvelopeBody {
        cluster_id: CLUSTER.into(),
        spec,
        submitter: NodeId::from_public_key(node.verifying_key().as_bytes()),
        certificate: Certificate::issue(&authority, CLUSTER, &node.verifying_key(), 1),
        timestamp_ms: 1,
        nonce: fresh_nonce(),
    };
    Signed {
        envelope: SignedEnvelope::sign(&body, &node),
        authority,
        node,
    }
}

/// An envelope of `spec` (keys not needed).
pub fn envelope_of(spec: JobSpec) -> SignedEnvelope {
    signed(spec).envelope
}

/// An envelope of the job `true`.
pub fn envelope() -> SignedEnvelope {
    envelope_of(JobSpec::argv(vec!["true".into()], "/"))
}

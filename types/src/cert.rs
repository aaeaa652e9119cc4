//! Node certificates: a node's public key signed by the cluster authority.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{keys, NodeId, TypesError};

/// Proof that the cluster authority admitted a node key to a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub cluster_id: String,
    /// The node's ed25519 public key, hex.
    pub node_key: String,
    pub issued_at_ms: u64,
    /// The authority's signature over [`Certificate::signed_bytes`], hex.
    pub signature: String,
}

impl Certificate {
    /// Signs `node_key` into `cluster_id` with the authority key.
    pub fn issue(
        authority: &SigningKey,
        cluster_id: &str,
        node_key: &VerifyingKey,
        issued_at_ms: u64,
    ) -> Certificate {
        let mut c = Certificate {
            cluster_id: cluster_id.to_string(),
            node_key: keys::verifying_to_hex(node_key),
            issued_at_ms,
            signature: String::new(),
        };
        c.signature = hex::encode(authority.sign(&c.signed_bytes()).to_bytes());
        c
    }

    /// The bytes the authority signs: domain tag, cluster id, key, issue time.
    fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "shoal-cert-v1\n{}\n{}\n{}",
            self.cluster_id, self.node_key, self.issued_at_ms
        )
        .into_bytes()
    }

    /// Checks the authority's signature and the cluster; returns the node's key.
    pub fn verify(
        &self,
        authority: &VerifyingKey,
        cluster_id: &str,
    ) -> Result<VerifyingKey, TypesError> {
        let bad = |reason: &str| TypesError::BadCertificate {
            reason: reason.to_string(),
        };
        if self.cluster_id != cluster_id {
            return Err(TypesError::BadCertificate {
                reason: format!("issued for cluster {}, not {cluster_id}", self.cluster_id),
            });
        }
        let sig_bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("signature is not 64 hex bytes"))?;
        authority
            .verify(&self.signed_bytes(), &Signature::from_bytes(&sig_bytes))
            .map_err(|_| bad("not signed by this cluster's authority"))?;
        keys::verifying_from_hex(&self.node_key)
    }

    /// The id of the node this certificate is for.
    pub fn node_id(&self) -> Result<NodeId, TypesError> {
        Ok(NodeId::from_public_key(&keys::decode32(&self.node_key)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_verifies_only_for_its_authority_and_cluster() {
        let auth = keys::generate();
        let node = keys::generate();
        let c = Certificate::issue(&auth, "c1", &node.verifying_key(), 5);
        assert_eq!(
            c.verify(&auth.verifying_key(), "c1").unwrap(),
            node.verifying_key()
        );
        assert!(c.verify(&auth.verifying_key(), "c2").is_err());
        assert!(c.verify(&keys::generate().verifying_key(), "c1").is_err());
        let mut forged = c.clone();
        forged.node_key = keys::verifying_to_hex(&keys::generate().verifying_key());
        assert!(forged.verify(&auth.verifying_key(), "c1").is_err());
    }
}

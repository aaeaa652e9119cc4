//! A node's identity loaded from its home: cluster id, authority public key, this
//! node's signing key and certificate. Verifies that they belong together.

use ed25519_dalek::{SigningKey, VerifyingKey};
use shoal_types::{keys, Certificate, NodeId};

use crate::config::NodeConfig;
use crate::error::HomeError;
use crate::home::Home;

/// Who this node is and which cluster it trusts.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cluster_id: String,
    pub authority: VerifyingKey,
    pub node_key: SigningKey,
    pub node_id: NodeId,
    pub certificate: Certificate,
}

impl Identity {
    pub fn load(home: &Home, config: &NodeConfig) -> Result<Identity, HomeError> {
        let id_err =
            |path: std::path::PathBuf, detail: String| HomeError::Identity { path, detail };
        let authority = keys::verifying_from_hex(&config.authority_public_key)
            .map_err(|e| id_err(home.config(), e.to_string()))?;
        let key_path = home.node_key();
        let text = std::fs::read_to_string(&key_path)
            .map_err(|e| id_err(key_path.clone(), e.to_string()))?;
        let node_key =
            keys::signing_from_hex(&text).map_err(|e| id_err(key_path.clone(), e.to_string()))?;
        let cert_path = home.certificate();
        let text = std::fs::read_to_string(&cert_path)
            .map_err(|e| id_err(cert_path.clone(), e.to_string()))?;
        let certificate: Certificate =
            serde_json::from_str(&text).map_err(|e| id_err(cert_path.clone(), e.to_string()))?;
        let certified = certificate
            .verify(&authority, &config.cluster_id)
            .map_err(|e| id_err(cert_path.clone(), e.to_string()))?;
        if certified != node_key.verifying_key() {
            return Err(id_err(
                cert_path,
                "certificate is for a different node key".into(),
            ));
        }
        Ok(Identity {
            cluster_id: config.cluster_id.clone(),
            authority,
            node_id: NodeId::from_public_key(node_key.verifying_key().as_bytes()),
            node_key,
            certificate,
        })
    }
}

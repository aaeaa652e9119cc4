//! A node's libp2p identity is its ed25519 node key: the same 32 secret bytes give
//! the libp2p keypair, so the PeerId names exactly the key that signs its jobs.

use libp2p::identity::Keypair;
use libp2p::PeerId;

use crate::P2pError;

/// The libp2p keypair for a node's ed25519 secret key bytes.
pub fn keypair_from_node_key(secret: [u8; 32]) -> Result<Keypair, P2pError> {
    Keypair::ed25519_from_bytes(secret).map_err(|e| P2pError::BadKey(e.to_string()))
}

/// The PeerId of a node's secret key.
pub fn peer_id_of(secret: [u8; 32]) -> Result<PeerId, P2pError> {
    Ok(keypair_from_node_key(secret)?.public().to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_peer_id_and_public_bytes() {
        let secret = [7u8; 32];
        let a = peer_id_of(secret).unwrap();
        assert_eq!(a, peer_id_of(secret).unwrap());
        assert_ne!(a, peer_id_of([8u8; 32]).unwrap());
        let kp = keypair_from_node_key(secret).unwrap();
        let dalek = ed25519_dalek::SigningKey::from_bytes(&secret);
        let libp2p_pub = kp.public().try_into_ed25519().unwrap().to_bytes();
        assert_eq!(libp2p_pub, dalek.verifying_key().to_bytes());
    }

    #[test]
    fn the_types_crate_computes_the_same_peer_id() {
        for seed in [1u8, 7, 200] {
            let secret = [seed; 32];
            let dalek = ed25519_dalek::SigningKey::from_bytes(&secret);
            assert_eq!(
                shoal_types::keys::peer_id_of(&dalek.verifying_key()),
                peer_id_of(secret).unwrap().to_string()
            );
        }
    }
}

//! ed25519 key helpers: generation, hex encoding of signing and verifying keys, and
//! the libp2p peer id a node key gives (so crates that do not link libp2p can show it).

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::TypesError;

/// A fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

pub fn signing_to_hex(k: &SigningKey) -> String {
    hex::encode(k.to_bytes())
}

pub fn verifying_to_hex(k: &VerifyingKey) -> String {
    hex::encode(k.to_bytes())
}

pub fn signing_from_hex(s: &str) -> Result<SigningKey, TypesError> {
    let bytes = decode32(s)?;
    Ok(SigningKey::from_bytes(&bytes))
}

pub fn verifying_from_hex(s: &str) -> Result<VerifyingKey, TypesError> {
    let bytes = decode32(s)?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| TypesError::BadKey {
        reason: e.to_string(),
    })
}

pub(crate) fn decode32(s: &str) -> Result<[u8; 32], TypesError> {
    let v = hex::decode(s.trim()).map_err(|e| TypesError::BadKey {
        reason: e.to_string(),
    })?;
    v.try_into().map_err(|v: Vec<u8>| TypesError::BadKey {
        reason: format!("expected 32 bytes, got {}", v.len()),
    })
}

/// The libp2p peer id (base58) of an ed25519 public key: the identity multihash
/// (code 0, length 36) of the key's protobuf encoding (field 1 = key type Ed25519,
/// field 2 = the 32 key bytes). `shoal-p2p` pins this against libp2p's own.
pub fn peer_id_of(public: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(38);
    bytes.extend_from_slice(&[0x00, 36, 0x08, 0x01, 0x12, 32]);
    bytes.extend_from_slice(public.as_bytes());
    bs58::encode(bytes).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = generate();
        let back = signing_from_hex(&signing_to_hex(&k)).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        let v = verifying_from_hex(&verifying_to_hex(&k.verifying_key())).unwrap();
        assert_eq!(v, k.verifying_key());
        assert!(signing_from_hex("abcd").is_err());
    }
}

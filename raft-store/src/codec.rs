//! Value encoding: one version byte, then JSON. Every decode failure is a
//! [`StoreError::Codec`] naming what was being read.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::StoreError;

/// The only encoding version written today.
pub const VERSION: u8 = 1;

pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::codec(what, e))?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&VERSION, body)) => {
            serde_json::from_slice(body).map_err(|e| StoreError::codec(what, e))
        }
        Some((v, _)) => Err(StoreError::codec(
            what,
            format!("unknown encoding version {v}"),
        )),
        None => Err(StoreError::codec(what, "empty value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::JobId;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let bytes = encode("id", &JobId(7)).unwrap();
        assert_eq!(bytes[0], VERSION);
        assert_eq!(decode::<JobId>("id", &bytes).unwrap(), JobId(7));
        assert!(matches!(
            decode::<JobId>("id", &[]),
            Err(StoreError::Codec { what: "id", .. })
        ));
        assert!(decode::<JobId>("id", &[9, b'7']).is_err());
        assert!(decode::<JobId>("id", &[VERSION, b'x']).is_err());
    }
}

//! Identifier newtypes: job ids, node ids and fencing tokens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TypesError;

/// A job's id: assigned by the state machine in log order, starting at 1, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for JobId {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(JobId(n)),
            _ => Err(TypesError::BadJobId {
                input: s.to_string(),
            }),
        }
    }
}

/// A node's id: the first 8 bytes (big-endian) of its ed25519 public key, so it is
/// derived from the node's identity and equal on every host. Shown as 16 hex digits.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl NodeId {
    /// The id of the node whose public key is `key`.
    pub fn from_public_key(key: &[u8; 32]) -> NodeId {
        let mut b = [0u8; 8];
        b.copy_from_slice(&key[..8]);
        NodeId(u64::from_be_bytes(b))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.len() != 16 {
            return Err(TypesError::BadNodeId {
                input: s.to_string(),
            });
        }
        u64::from_str_radix(t, 16)
            .map(NodeId)
            .map_err(|_| TypesError::BadNodeId {
                input: s.to_string(),
            })
    }
}

/// A lease's fencing token: the raft log index of the entry that granted the lease.
/// A completion is accepted only with the token of the job's current attempt.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_parses_positive_numbers_only() {
        assert_eq!("42".parse::<JobId>().unwrap(), JobId(42));
        assert!("0".parse::<JobId>().is_err());
        assert!("abc".parse::<JobId>().is_err());
        assert!("-3".parse::<JobId>().is_err());
    }

    #[test]
    fn node_id_round_trips_through_hex() {
        let id = NodeId::from_public_key(&[0xab; 32]);
        assert_eq!(id.to_string(), "abababababababab");
        assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
        assert!("xyz".parse::<NodeId>().is_err());
    }
}

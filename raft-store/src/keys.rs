//! Every key layout of every column family. All integers are big-endian so that
//! RocksDB's bytewise order is the numeric order the store iterates in.

use shoal_types::{FencingToken, JobId, JobState, NodeId};

use crate::StoreError;

/// `log`: the entry's log index.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// `jobs`: the job id.
pub fn job_key(id: JobId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// Maps a priority so that bytewise ascending order is priority descending:
/// flip the sign bit (order-preserving i32 -> u32) and then invert every bit.
fn priority_desc(priority: i32) -> [u8; 4] {
    (!((priority as u32) ^ 0x8000_0000)).to_be_bytes()
}

/// `queue`: highest priority first, then lowest job id (FIFO).
pub fn queue_key(priority: i32, id: JobId) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&priority_desc(priority));
    k[4..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// `by_state`: state code ([`JobState::code`], pinned by a test in `types`), then job id.
pub fn by_state_key(state: JobState, id: JobId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = state.code();
    k[1..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// `running`: node, then job id.
pub fn running_key(node: NodeId, id: JobId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&node.0.to_be_bytes());
    k[8..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// The prefix of every `running` key of `node`.
pub fn running_prefix(node: NodeId) -> [u8; 8] {
    node.0.to_be_bytes()
}

/// `nonces`: submitter, then the 16 nonce bytes.
pub fn nonce_key(submitter: NodeId, nonce: &[u8; 16]) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&submitter.0.to_be_bytes());
    k[8..].copy_from_slice(nonce);
    k
}

/// Reads a big-endian u64 at `at`.
pub fn read_u64(what: &'static str, bytes: &[u8], at: usize) -> Result<u64, StoreError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| {
            StoreError::codec(what, format!("key of {} bytes is too short", bytes.len()))
        })
}

/// The job id at the end of a `queue`, `by_state` or `running` key.
pub fn job_id_suffix(what: &'static str, key: &[u8]) -> Result<JobId, StoreError> {
    let at = key
        .len()
        .checked_sub(8)
        .ok_or_else(|| StoreError::codec(what, "key shorter than a job id"))?;
    read_u64(what, key, at).map(JobId)
}

/// A `running` value: the lease's fencing token.
pub fn token_value(token: FencingToken) -> [u8; 8] {
    token.0.to_be_bytes()
}

pub fn read_token(bytes: &[u8]) -> Result<FencingToken, StoreError> {
    read_u64("fencing token", bytes, 0).map(FencingToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_priority_desc_then_fifo() {
        let mut keys = [
            (queue_key(0, JobId(5)), "p0 #5"),
            (queue_key(-1, JobId(1)), "p-1 #1"),
            (queue_key(i32::MIN, JobId(2)), "pmin #2"),
            (queue_key(10, JobId(9)), "p10 #9"),
            (queue_key(0, JobId(3)), "p0 #3"),
            (queue_key(i32::MAX, JobId(100)), "pmax #100"),
            (queue_key(-1, JobId(0x100)), "p-1 #256"),
            (queue_key(1, JobId(7)), "p1 #7"),
        ];
        keys.sort();
        let order: Vec<&str> = keys.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            order,
            [
                "pmax #100",
                "p10 #9",
                "p1 #7",
                "p0 #3",
                "p0 #5",
                "p-1 #1",
                "p-1 #256",
                "pmin #2"
            ]
        );
    }

    #[test]
    fn ids_sort_numerically() {
        assert!(log_key(255) < log_key(256));
        assert!(job_key(JobId(1)) < job_key(JobId(1 << 40)));
        assert!(
            by_state_key(JobState::Queued, JobId(u64::MAX))
                < by_state_key(JobState::Running, JobId(1))
        );
        assert!(
            by_state_key(JobState::Queued, JobId(2)) < by_state_key(JobState::Queued, JobId(10))
        );
        let a = running_key(NodeId(1), JobId(9));
        let b = running_key(NodeId(2), JobId(1));
        assert!(a < b);
        assert!(a.starts_with(&running_prefix(NodeId(1))));
        assert!(nonce_key(NodeId(1), &[0xff; 16]) < nonce_key(NodeId(2), &[0; 16]));
    }

    #[test]
    fn suffixes_decode() {
        assert_eq!(
            job_id_suffix("t", &queue_key(-4, JobId(77))).unwrap(),
            JobId(77)
        );
        assert_eq!(
            job_id_suffix("t", &running_key(NodeId(3), JobId(8))).unwrap(),
            JobId(8)
        );
        assert!(job_id_suffix("t", &[1, 2]).is_err());
        assert_eq!(
            read_token(&token_value(FencingToken(42))).unwrap(),
            FencingToken(42)
        );
    }
}

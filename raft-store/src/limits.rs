//! The bounds of one raft entry. A request over them is refused where it is proposed
//! ([`check`], by the node that proposes it and by the leader for a forwarded one)
//! and again by `apply`, which answers [`Response::Refused`](crate::Response) instead
//! of applying it: one committed entry must never run every node out of memory, on
//! every restart. Within the bounds, an entry's JSON always fits one network frame
//! (16 MiB) with room to spare, so replication can always make progress one entry at
//! a time.
//!
//! Honest proposers stay inside by construction: the submit batcher closes a batch at
//! these sizes, the API splits long id lists, a worker commits at most
//! [`MAX_RESULTS`] results per entry and asks for at most [`MAX_LEASE_JOBS`].

use serde::{Deserialize, Serialize};
use shoal_types::job::MAX_ARRAY_TASKS;
use shoal_types::{AttemptOutcome, FailReason};

use crate::command::Request;

/// Envelopes in one `SubmitBatch`.
pub const MAX_ENVELOPES: usize = 4_096;
/// Bytes of envelopes (bodies and signatures) in one entry.
pub const MAX_ENVELOPE_BYTES: usize = 4 << 20;
/// Jobs one entry may create (an array counts its tasks): one full array, or many
/// small jobs. Checked while a batch is applied, since it needs the specs.
pub const MAX_TASKS: u64 = MAX_ARRAY_TASKS as u64;
/// Job ids in one `Cancel` or `Release`.
pub const MAX_IDS: usize = 100_000;
/// Jobs one `Lease` may ask for.
pub const MAX_LEASE_JOBS: u32 = 4_096;
/// Bytes of envelopes one lease hands out; the rest stays queued for the next lease
/// (the first job is always handed out: a spec is at most 1 MiB).
pub const MAX_LEASE_BYTES: usize = 4 << 20;
/// Results in one `Complete`, and notices in one `Start`.
pub const MAX_RESULTS: usize = 1_024;
/// Bytes of text (output heads and tails, error messages) in one `Complete`.
pub const MAX_RESULT_BYTES: usize = 4 << 20;

/// What made a request too large for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("too large for one raft entry: {what} is {got}, at most {limit}")]
pub struct Oversize {
    pub what: String,
    pub got: u64,
    pub limit: u64,
}

fn within(what: &str, got: usize, limit: usize) -> Result<(), Oversize> {
    if got > limit {
        return Err(Oversize {
            what: what.to_string(),
            got: got as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// The request's bounds that need no parsing: counts and bytes.
pub fn check(req: &Request) -> Result<(), Oversize> {
    match req {
        Request::Submit { envelope, .. } => within(
            "envelope bytes",
            envelope.body.len() + envelope.signature.len(),
            MAX_ENVELOPE_BYTES,
        ),
        Request::SubmitBatch { envelopes, .. } => {
            within("envelopes", envelopes.len(), MAX_ENVELOPES)?;
            let bytes = envelopes
                .iter()
                .map(|e| e.body.len() + e.signature.len())
                .sum();
            within("envelope bytes", bytes, MAX_ENVELOPE_BYTES)
        }
        Request::Lease { max_jobs, .. } => within(
            "jobs asked for",
            *max_jobs as usize,
            MAX_LEASE_JOBS as usize,
        ),
        Request::Start { starts, .. } => within("start notices", starts.len(), MAX_RESULTS),
        Request::Complete { results, .. } => {
            within("results", results.len(), MAX_RESULTS)?;
            let bytes = results.iter().map(|c| outcome_bytes(&c.outcome)).sum();
            within("result bytes", bytes, MAX_RESULT_BYTES)
        }
        Request::Cancel { ids, .. } | Request::Release { ids } => {
            within("job ids", ids.len(), MAX_IDS)
        }
        Request::SetDrain { .. } | Request::RequeueNode { .. } | Request::Retire { .. } => Ok(()),
    }
}

/// The text an outcome carries.
fn outcome_bytes(o: &AttemptOutcome) -> usize {
    let summary = |s: &Option<shoal_types::OutputSummary>| {
        s.as_ref().map_or(0, |s| s.head.len() + s.tail.len())
    };
    let error = match &o.error {
        Some(FailReason::SpawnFailed(t) | FailReason::Rejected(t)) => t.len(),
        _ => 0,
    };
    summary(&o.stdout) + summary(&o.stderr) + error
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::{JobId, NodeId, SignedEnvelope};

    #[test]
    fn counts_and_bytes_over_the_bounds_are_named() {
        let ids = |n: u64| (0..n).map(JobId).collect::<Vec<_>>();
        assert!(check(&Request::Cancel {
            ids: ids(MAX_IDS as u64),
            now_ms: 0
        })
        .is_ok());
        let e = check(&Request::Release {
            ids: ids(MAX_IDS as u64 + 1),
        })
        .unwrap_err();
        assert_eq!(e.what, "job ids");
        assert!(e.to_string().contains("at most 100000"), "{e}");
        let lease = |max_jobs| Request::Lease {
            node: NodeId(1),
            max_jobs,
            now_ms: 0,
        };
        assert!(check(&lease(MAX_LEASE_JOBS)).is_ok());
        assert!(check(&lease(u32::MAX)).is_err());
        let big = SignedEnvelope {
            body: "x".repeat(MAX_ENVELOPE_BYTES / 2),
            signature: String::new(),
        };
        let batch = |n| Request::SubmitBatch {
            envelopes: vec![big.clone(); n],
            now_ms: 0,
        };
        assert!(check(&batch(2)).is_ok());
        assert_eq!(check(&batch(3)).unwrap_err().what, "envelope bytes");
        let small = Request::SubmitBatch {
            envelopes: vec![SignedEnvelope::default(); MAX_ENVELOPES + 1],
            now_ms: 0,
        };
        assert_eq!(check(&small).unwrap_err().what, "envelopes");
    }
}

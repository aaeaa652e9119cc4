//! Entries over the bounds of one entry (`limits`), as a rogue or buggy leader could
//! commit them: refused whole, or envelope by envelope, the same on every node, and
//! never applied in part.

use super::test_util::*;
use crate::command::{Request, Response, SubmitRejection};
use crate::limits::{MAX_IDS, MAX_LEASE_BYTES, MAX_LEASE_JOBS, MAX_TASKS};
use shoal_types::job::MAX_ARRAY_TASKS;
use shoal_types::{JobCommand, JobId, JobSpec, NodeId};

#[test]
fn an_oversized_cancel_or_lease_is_refused_and_changes_nothing() {
    let h = Harness::new();
    let id = h.submit(&h.envelope(0));
    let r = h.run(Request::Cancel {
        ids: (0..=MAX_IDS as u64).map(JobId).collect(),
        now_ms: 1,
    });
    match r {
        Response::Refused { reason } => assert_eq!(reason.what, "job ids"),
        r => panic!("{r:?}"),
    }
    assert_eq!(h.state(id), shoal_types::JobState::Queued);
    let r = h.run(Request::Lease {
        node: NodeId(1),
        max_jobs: MAX_LEASE_JOBS + 1,
        now_ms: 2,
    });
    assert!(matches!(r, Response::Refused { .. }), "{r:?}");
    assert_eq!(h.view.queued_count().unwrap(), 1);
    // The log goes on past them.
    assert_eq!(h.submit(&h.envelope(0)), JobId(2));
}

#[test]
fn an_array_over_the_bound_is_a_bad_envelope_even_if_signed() {
    let h = Harness::new();
    let mut spec = JobSpec::argv(vec!["true".into()], "/");
    spec.array = Some(u32::MAX);
    let r = h.run(Request::Submit {
        envelope: h.envelope_of(spec),
        now_ms: 1,
    });
    match r {
        Response::SubmitRejected {
            reason: SubmitRejection::BadEnvelope(why),
        } => assert!(why.contains(&MAX_ARRAY_TASKS.to_string()), "{why}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(h.view.queued_count().unwrap(), 0);
}

#[test]
fn a_batch_makes_at_most_max_tasks_jobs() {
    let h = Harness::new();
    let half = (MAX_TASKS / 2) as u32;
    let r = h.run(Request::SubmitBatch {
        envelopes: vec![
            h.array_envelope(half, 0),
            h.array_envelope(half + 1, 0),
            h.array_envelope(half, 0),
            h.envelope(0),
        ],
        now_ms: 1,
    });
    let Response::SubmittedBatch { results } = r else {
        panic!("{r:?}")
    };
    assert!(results[0].is_ok());
    assert_eq!(
        results[1],
        Err(SubmitRejection::EntryFull { limit: MAX_TASKS })
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert_eq!(
        results[3],
        Err(SubmitRejection::EntryFull { limit: MAX_TASKS })
    );
    assert_eq!(h.view.queued_count().unwrap(), MAX_TASKS);
}

#[test]
fn a_lease_hands_out_at_most_its_bytes_and_leaves_the_rest_queued() {
    let h = Harness::new();
    // Specs of 300 KiB: 13 fit the lease's 4 MiB, 14 do not.
    let big = |i: usize| {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.command = JobCommand::Shell(format!("{i} {}", "x".repeat(300 << 10)));
        h.envelope_of(spec)
    };
    for i in 0..20 {
        h.submit(&big(i));
    }
    let lease = |now_ms| match h.run(Request::Lease {
        node: NodeId(1),
        max_jobs: 100,
        now_ms,
    }) {
        Response::Leased { jobs } => jobs,
        r => panic!("{r:?}"),
    };
    let first = lease(1);
    let bytes: usize = first
        .iter()
        .map(|j| j.envelope.body.len() + j.envelope.signature.len())
        .sum();
    assert!(bytes <= MAX_LEASE_BYTES, "{bytes}");
    assert_eq!(first.len(), 13);
    assert_eq!(first[0].id, JobId(1));
    assert_eq!(h.view.queued_count().unwrap(), 7);
    let second = lease(2);
    assert_eq!(second.len(), 7);
    assert_eq!(second[0].id, JobId(14), "the rest in order");
}

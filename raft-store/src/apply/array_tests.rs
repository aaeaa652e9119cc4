//! Job arrays through the transitions: one envelope makes N queued tasks in id order,
//! leases hand them out with their index and the shared envelope, each task ends on
//! its own, and a snapshot keeps tasks and envelope.

use super::test_util::*;
use crate::command::{Completion, LeasedJob, Request, Response, SubmitRejection};
use shoal_types::{AttemptOutcome, FencingToken, JobId, JobState, NodeId};

fn leased(r: Response) -> Vec<LeasedJob> {
    match r {
        Response::Leased { jobs } => jobs,
        r => panic!("{r:?}"),
    }
}

fn ok(job: JobId, token: FencingToken, exit: i32) -> Completion {
    Completion {
        job,
        token,
        outcome: AttemptOutcome {
            exit_code: Some(exit),
            ..Default::default()
        },
    }
}

#[test]
fn an_array_makes_n_queued_tasks_in_order() {
    let h = Harness::new();
    let lone = h.submit(&h.envelope(0));
    let env = h.array_envelope(5, 0);
    assert_eq!(h.submit(&env), JobId(2));
    assert_eq!(h.submit(&h.envelope(0)), JobId(7));
    assert_eq!(h.view.queued_count().unwrap(), 7);
    for i in 0..5u32 {
        let rec = h.view.get_job(JobId(2 + u64::from(i))).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Queued);
        assert_eq!(rec.array_index, Some(i));
        assert_eq!(rec.envelope, env, "every task carries the shared envelope");
        assert_eq!(rec.spec().unwrap().array, Some(5));
    }
    assert_eq!(h.view.get_job(lone).unwrap().unwrap().array_index, None);
    let listed = h.view.list_jobs(None, 100).unwrap();
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|r| !r.envelope.is_empty()));
    // The nonce protects the whole array: a replay makes nothing and names task 0.
    let again = h.run(Request::Submit {
        envelope: env,
        now_ms: 5,
    });
    assert_eq!(
        again,
        Response::SubmitRejected {
            reason: SubmitRejection::ReplayedNonce { existing: JobId(2) }
        }
    );
    assert_eq!(h.view.queued_count().unwrap(), 7);
}

#[test]
fn leases_hand_tasks_out_and_each_ends_on_its_own() {
    let h = Harness::new();
    let env = h.array_envelope(4, 3);
    h.submit(&h.envelope(0));
    let first = h.submit(&env);
    assert_eq!(first, JobId(2));
    // Priority 3 puts the whole array ahead of the earlier plain job.
    let (t, r) = h.run_at(Request::Lease {
        node: NodeId(1),
        max_jobs: 3,
        now_ms: 10,
    });
    let jobs = leased(r);
    let got: Vec<(JobId, Option<u32>)> = jobs.iter().map(|j| (j.id, j.array_index)).collect();
    assert_eq!(
        got,
        [
            (JobId(2), Some(0)),
            (JobId(3), Some(1)),
            (JobId(4), Some(2))
        ]
    );
    assert!(jobs.iter().all(|j| j.envelope == env));
    let t = FencingToken(t);
    let r = h.run(Request::Complete {
        node: NodeId(1),
        results: vec![ok(JobId(2), t, 0), ok(JobId(3), t, 7)],
        now_ms: 20,
    });
    assert_eq!(
        r,
        Response::Completed {
            accepted: vec![JobId(2), JobId(3)],
            stale: vec![]
        }
    );
    let state = |id| h.view.get_job(JobId(id)).unwrap().unwrap().state;
    assert_eq!(state(2), JobState::Succeeded);
    assert_eq!(state(3), JobState::Failed);
    assert_eq!(state(4), JobState::Leased);
    assert_eq!(state(5), JobState::Queued);
    let r = h.run(Request::Cancel {
        ids: vec![JobId(5)],
        now_ms: 21,
    });
    assert!(matches!(r, Response::Cancelled { .. }));
    assert_eq!(state(5), JobState::Cancelled);
    // Requeue puts the leased task back in its place, ahead of the plain job.
    h.run(Request::RequeueNode {
        node: NodeId(1),
        now_ms: 22,
        leased_up_to: None,
    });
    assert_eq!(state(4), JobState::Queued);
    let ids: Vec<JobId> = leased(h.run(Request::Lease {
        node: NodeId(2),
        max_jobs: 5,
        now_ms: 23,
    }))
    .iter()
    .map(|j| j.id)
    .collect();
    assert_eq!(ids, [JobId(4), JobId(1)]);
    let rec = h.view.get_job(JobId(4)).unwrap().unwrap();
    assert_eq!(rec.attempts.len(), 2);
    assert_eq!(rec.envelope, env);
}

#[test]
fn a_held_array_is_released_task_by_task() {
    let h = Harness::new();
    let first = h.submit(&h.held_array_envelope(3));
    assert_eq!(h.view.queued_count().unwrap(), 0);
    h.run(Request::Release {
        ids: vec![JobId(first.0 + 1)],
    });
    let jobs = leased(h.run(Request::Lease {
        node: NodeId(1),
        max_jobs: 5,
        now_ms: 1,
    }));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].array_index, Some(1));
}

#[test]
fn a_snapshot_keeps_tasks_and_their_envelope() {
    let h = Harness::new();
    let env = h.array_envelope(6, -2);
    h.submit(&env);
    h.submit(&h.envelope(0));
    let jobs = leased(h.run(Request::Lease {
        node: NodeId(1),
        max_jobs: 2,
        now_ms: 5,
    }));
    assert_eq!(
        jobs[0].id,
        JobId(7),
        "the plain job has the higher priority"
    );
    assert_eq!(jobs[1].array_index, Some(0));
    let copy = h.snapshot_copy();
    assert_eq!(copy.view.queued_count().unwrap(), 5);
    for id in 1..=6 {
        let a = h.view.get_job(JobId(id)).unwrap().unwrap();
        let b = copy.view.get_job(JobId(id)).unwrap().unwrap();
        assert_eq!(a, b);
    }
    // The restored queue hands out the rest in order, each with the envelope.
    let rest = leased(copy.run(Request::Lease {
        node: NodeId(2),
        max_jobs: 10,
        now_ms: 6,
    }));
    let idx: Vec<Option<u32>> = rest.iter().map(|j| j.array_index).collect();
    assert_eq!(idx, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert!(rest.iter().all(|j| j.envelope == env));
    // A new submit after the restore continues the id sequence.
    assert_eq!(copy.submit(&copy.envelope(0)), JobId(8));
}

//! The worker against the log: cancelled jobs killed, orphans reported lost.

use super::*;

fn record(id: u64, token: u64, state: JobState) -> JobRecord {
    JobRecord {
        id: JobId(id),
        envelope: SignedEnvelope::default(),
        submitter: NodeId(1),
        submitted_at_ms: 0,
        state,
        ended_at_ms: None,
        attempts: vec![JobAttempt {
            n: 1,
            node: NodeId(1),
            token: FencingToken(token),
            leased_at_ms: 0,
            started_at_ms: None,
            ended_at_ms: None,
            exit_code: None,
            signal: None,
            fail_reason: None,
            wall_ms: None,
            cpu_ms: None,
            max_rss_kb: None,
            stdout: None,
            stderr: None,
        }],
        array_index: None,
    }
}

#[test]
fn cancelled_jobs_are_killed_once_their_lease_is_applied_here() {
    let t0 = Instant::now();
    let mut l = FakeLedger::default();
    let mut w = recovered(1, t0, &l);
    lease_answer(&mut w, vec![leased(1, 10)], t0, &l);
    l.jobs.insert(JobId(1), record(1, 10, JobState::Cancelled));
    // Not applied here yet: not judged.
    l.applied = 9;
    assert!(!w
        .step(Input::Applied, t0, &l)
        .contains(&Action::Kill(JobId(1))));
    l.applied = 10;
    assert!(w
        .step(Input::Applied, t0, &l)
        .contains(&Action::Kill(JobId(1))));
    assert!(
        !w.step(Input::Applied, t0, &l)
            .contains(&Action::Kill(JobId(1))),
        "once"
    );
}

#[test]
fn orphans_are_reported_lost_at_the_reconciliation() {
    let t0 = Instant::now();
    let mut l = FakeLedger::default();
    let mut w = recovered(1, t0, &l);
    l.running_here = vec![(JobId(5), FencingToken(50))];
    assert!(!w
        .step(Input::Applied, t0 + MS(1_999), &l)
        .iter()
        .any(|a| matches!(a, Action::Save(_))));
    let a = w.step(Input::Applied, t0 + RECONCILE_EVERY, &l);
    let lost = a.iter().find_map(|x| match x {
        Action::Save(c) => Some(c.clone()),
        _ => None,
    });
    let lost = lost.expect("the orphan is saved as a lost completion");
    assert_eq!(lost[0].job, JobId(5));
    assert_eq!(lost[0].outcome.error, Some(FailReason::Lost));
}

#[test]
fn orphans_are_logged_leases_with_neither_a_process_nor_a_result() {
    let in_log = vec![
        (JobId(1), FencingToken(10)),
        (JobId(2), FencingToken(11)),
        (JobId(3), FencingToken(12)),
    ];
    let finished = vec![done(2, 11, 0)];
    let none = HashMap::new();
    assert_eq!(
        orphans(&in_log, &[], &finished, &none),
        vec![(JobId(1), FencingToken(10)), (JobId(3), FencingToken(12))]
    );
    assert_eq!(
        orphans(&in_log, &[JobId(1)], &finished, &none),
        vec![(JobId(3), FencingToken(12))]
    );
    // A result committed a moment ago, which this node has not applied yet.
    let lately = HashMap::from([((JobId(3), FencingToken(12)), Instant::now())]);
    assert_eq!(
        orphans(&in_log, &[], &finished, &lately),
        vec![(JobId(1), FencingToken(10))]
    );
    // A result for an older attempt of the same job does not cover the new one.
    assert_eq!(orphans(&in_log[..1], &[], &[done(1, 3, 0)], &none).len(), 1);
}

//! Start notices, and the orderly stop.

use super::*;

fn start_notice(id: u64, token: u64, at_ms: u64) -> StartNotice {
    StartNotice {
        job: JobId(id),
        token: FencingToken(token),
        at_ms,
    }
}

fn starts_of(actions: &[Action]) -> Option<Vec<JobId>> {
    actions.iter().find_map(|a| match a {
        Action::Propose {
            starts: Some(s), ..
        } => Some(s.iter().map(|s| s.job).collect()),
        _ => None,
    })
}

#[test]
fn start_notices_wait_the_linger_and_share_one_proposal() {
    let (t0, l, mut w) = recovered_with(2, 0);
    let a = lease_answer(&mut w, vec![leased(1, 5), leased(2, 5)], t0, &l);
    assert_eq!(launches(&a), [JobId(1), JobId(2)]);
    let a = w.step(Input::Started(vec![start_notice(1, 5, 10)]), t0 + MS(5), &l);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(w.wake_at(), Some(t0 + MS(5) + START_LINGER));
    w.step(
        Input::Started(vec![start_notice(2, 5, 20)]),
        t0 + MS(50),
        &l,
    );
    // Before the linger nothing is proposed; at it, both notices in one proposal.
    let a = w.step(Input::Applied, t0 + MS(100), &l);
    assert_eq!(starts_of(&a), None);
    let a = w.step(Input::Timer, t0 + MS(5) + START_LINGER, &l);
    assert_eq!(starts_of(&a), Some(vec![JobId(1), JobId(2)]));
    assert_eq!(w.wake_at(), None);
}

#[test]
fn a_job_that_ends_within_the_linger_needs_no_start_notice() {
    let (t0, l, mut w) = recovered_with(2, 0);
    lease_answer(&mut w, vec![leased(1, 5), leased(2, 5)], t0, &l);
    w.step(
        Input::Started(vec![start_notice(1, 5, 10), start_notice(2, 5, 10)]),
        t0 + MS(5),
        &l,
    );
    // A notice from a supervisor of an attempt this worker does not run is ignored.
    w.step(Input::Started(vec![start_notice(3, 5, 10)]), t0 + MS(6), &l);
    w.step(Input::Finished(vec![done(1, 5, 3)]), t0 + MS(8), &l);
    let a = w.step(Input::Timer, t0 + MS(5) + START_LINGER, &l);
    assert_eq!(starts_of(&a), Some(vec![JobId(2)]));
    // Both ended before their linger: no notice at all.
    let (t0, l, mut w) = recovered_with(2, 0);
    lease_answer(&mut w, vec![leased(1, 5)], t0, &l);
    w.step(Input::Started(vec![start_notice(1, 5, 10)]), t0 + MS(5), &l);
    w.step(Input::Finished(vec![done(1, 5, 3)]), t0 + MS(8), &l);
    let a = w.step(Input::Timer, t0 + MS(5) + START_LINGER, &l);
    assert_eq!(starts_of(&a), None, "{a:?}");
}

#[test]
fn start_notices_not_committed_are_retried_for_jobs_still_running() {
    let (t0, l, mut w) = recovered_with(2, 0);
    lease_answer(&mut w, vec![leased(1, 5), leased(2, 5)], t0, &l);
    let notices = vec![start_notice(1, 5, 10), start_notice(2, 5, 10)];
    w.step(Input::Started(notices.clone()), t0 + MS(5), &l);
    let at = t0 + MS(5) + START_LINGER;
    assert!(starts_of(&w.step(Input::Timer, at, &l)).is_some());
    w.step(Input::Finished(vec![done(2, 5, 100)]), at + MS(1), &l);
    w.step(
        Input::Proposed {
            commit: None,
            starts: Some((notices, false)),
            leased: vec![],
            asked_at: at,
        },
        at + MS(2),
        &l,
    );
    let a = w.step(Input::Timer, at + MS(100), &l);
    assert_eq!(starts_of(&a), None, "not before the retry pause: {a:?}");
    let a = w.step(Input::Timer, at + MS(2) + COMMIT_RETRY, &l);
    assert_eq!(starts_of(&a), Some(vec![JobId(1)]));
}

fn errors_of(actions: &[Action]) -> Vec<(JobId, Option<FailReason>)> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Propose {
                commit: Some(c), ..
            } => Some(c.iter().map(|c| (c.job, c.outcome.error.clone())).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn an_orderly_stop_leases_nothing_hands_back_the_backlog_and_lets_jobs_finish() {
    let (t0, l, mut w) = recovered_with(1, 50);
    lease_answer(
        &mut w,
        vec![leased(1, 5), leased(2, 5), leased(3, 5)],
        t0,
        &l,
    );
    let a = w.step(Input::Stop, t0 + MS(10), &l);
    assert_eq!(lease_of(&a), None, "no lease once stopping: {a:?}");
    assert!(!w.stopped(), "job 1 still runs");
    // The two waiting jobs go back at once, reported `stopped` (which re-queues
    // them).
    assert_eq!(
        errors_of(&a),
        [
            (JobId(2), Some(FailReason::Stopped)),
            (JobId(3), Some(FailReason::Stopped))
        ]
    );
    let batch = match a.iter().find_map(|x| match x {
        Action::Propose {
            commit: Some(c), ..
        } => Some(c.clone()),
        _ => None,
    }) {
        Some(b) => b,
        None => panic!("{a:?}"),
    };
    committed(&mut w, batch, true, t0 + MS(20), &l);
    // The running job ends by itself within the grace: its own result, then done.
    let mut ok = done(1, 5, 30);
    ok.outcome.exit_code = Some(0);
    let a = w.step(Input::Finished(vec![ok.clone()]), t0 + MS(40), &l);
    assert_eq!(errors_of(&a), [(JobId(1), None)]);
    assert_eq!(lease_of(&a), None);
    assert!(!w.stopped(), "its result is not committed yet");
    committed(&mut w, vec![ok], true, t0 + MS(50), &l);
    assert!(w.stopped());
}

#[test]
fn after_the_stop_grace_running_jobs_are_killed_and_handed_back() {
    let (t0, l, mut w) = recovered_with(2, 0);
    lease_answer(&mut w, vec![leased(1, 5), leased(2, 5)], t0, &l);
    w.step(Input::Stop, t0 + MS(10), &l);
    let a = w.step(Input::GraceOver, t0 + MS(30_000), &l);
    assert_eq!(a, [Action::Kill(JobId(1)), Action::Kill(JobId(2))]);
    // Killed by the stop: `stopped`, not failed; one that still exits 0 keeps it.
    let mut killed = done(1, 5, 30_000);
    killed.outcome.signal = Some(15);
    let mut ok = done(2, 5, 30_000);
    ok.outcome.exit_code = Some(0);
    let a = w.step(Input::Finished(vec![killed, ok]), t0 + MS(30_100), &l);
    assert_eq!(
        errors_of(&a),
        [(JobId(1), Some(FailReason::Stopped)), (JobId(2), None)]
    );
}

#[test]
fn a_lease_answered_after_the_stop_is_handed_back_unstarted() {
    let (t0, l, mut w) = recovered_with(2, 10);
    w.step(Input::Stop, t0, &l);
    assert!(w.stopped(), "nothing ran: done at once");
    let a = lease_answer(&mut w, vec![leased(7, 9)], t0 + MS(5), &l);
    assert!(launches(&a).is_empty(), "{a:?}");
    assert!(!w.stopped());
    let a = w.step(Input::Timer, t0 + MS(5) + COMMIT_LINGER, &l);
    assert_eq!(errors_of(&a), [(JobId(7), Some(FailReason::Stopped))]);
}

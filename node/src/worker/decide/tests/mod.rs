//! The worker's timing rules, driven through [`WorkerState::step`] with a fake clock
//! (instants offset from one origin) and a fake ledger; the actions returned are the
//! record of effects.

use super::*;
use shoal_types::{Attempt as JobAttempt, NodeId, SignedEnvelope};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// lease 6 s, margin 2 s: self-fence 4 s, lapse 8 s, cut-off 1 s, heartbeat 1 s,
/// prefetch freshness (8 − 4) / 2 = 2 s.
fn timing() -> LeaseTiming {
    LeaseTiming::from_lease_ms(6_000)
}

#[derive(Default)]
struct FakeLedger {
    applied: u64,
    jobs: HashMap<JobId, JobRecord>,
    running_here: Vec<(JobId, FencingToken)>,
    drained: bool,
    disk_low: bool,
    queued: u64,
    unreachable: bool,
}

impl Ledger for FakeLedger {
    fn last_applied(&self) -> u64 {
        self.applied
    }
    fn job(&self, id: JobId) -> Result<Option<JobRecord>, String> {
        Ok(self.jobs.get(&id).cloned())
    }
    fn running_here(&self) -> Result<Vec<(JobId, FencingToken)>, String> {
        Ok(self.running_here.clone())
    }
    fn drained_here(&self) -> bool {
        self.drained
    }
    fn disk_low(&self) -> bool {
        self.disk_low
    }
    fn queued(&self) -> u64 {
        self.queued
    }
    fn leader_reachable(&self) -> bool {
        !self.unreachable
    }
}

fn leased(id: u64, token: u64) -> LeasedJob {
    LeasedJob {
        id: JobId(id),
        attempt: 1,
        token: FencingToken(token),
        envelope: shoal_testkit::fixtures::envelope(),
        array_index: None,
    }
}

fn done(id: u64, token: u64, wall_ms: u64) -> Completion {
    Completion {
        job: JobId(id),
        token: FencingToken(token),
        outcome: AttemptOutcome {
            wall_ms,
            ..Default::default()
        },
    }
}

/// A worker past recovery at `t0`, with `slots` slots, nothing running.
fn recovered(slots: u32, t0: Instant, ledger: &FakeLedger) -> WorkerState {
    let mut w = WorkerState::new(slots, timing(), t0);
    let a = w.step(Input::Start { pending: vec![] }, t0, ledger);
    assert_eq!(a, vec![Action::RequeuePreviousRun]);
    w.step(Input::Recovered { ok: true }, t0, ledger);
    w
}

/// A worker of `slots` slots, recovered at a fresh `t0`, over a ledger with
/// `queued` jobs waiting.
fn recovered_with(slots: u32, queued: u64) -> (Instant, FakeLedger, WorkerState) {
    let t0 = Instant::now();
    let l = FakeLedger {
        queued,
        ..Default::default()
    };
    let w = recovered(slots, t0, &l);
    (t0, l, w)
}

fn launches(actions: &[Action]) -> Vec<JobId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { job, .. } => Some(job.id),
            _ => None,
        })
        .collect()
}

fn lease_of(actions: &[Action]) -> Option<u32> {
    actions.iter().find_map(|a| match a {
        Action::Propose { lease, .. } => *lease,
        _ => None,
    })
}

fn commit_of(actions: &[Action]) -> Option<Vec<JobId>> {
    actions.iter().find_map(|a| match a {
        Action::Propose {
            commit: Some(c), ..
        } => Some(c.iter().map(|c| c.job).collect()),
        _ => None,
    })
}

/// Leases `jobs` at `at` and returns the actions of the answer.
fn lease_answer(
    w: &mut WorkerState,
    jobs: Vec<LeasedJob>,
    at: Instant,
    l: &FakeLedger,
) -> Vec<Action> {
    w.step(
        Input::Proposed {
            commit: None,
            starts: None,
            leased: jobs,
            asked_at: at,
        },
        at,
        l,
    )
}

/// The answer to a heartbeat sent at `sent`, arriving at `at`.
fn beat(
    w: &mut WorkerState,
    sent: Instant,
    acked: bool,
    at: Instant,
    l: &FakeLedger,
) -> Vec<Action> {
    w.step(
        Input::Heartbeat {
            sent_at: sent,
            acked,
        },
        at,
        l,
    )
}

/// The answer to a proposal that carried `batch` (and no lease), arriving at `at`.
fn committed(
    w: &mut WorkerState,
    batch: Vec<Completion>,
    ok: bool,
    at: Instant,
    l: &FakeLedger,
) -> Vec<Action> {
    w.step(
        Input::Proposed {
            commit: Some((batch, ok)),
            starts: None,
            leased: vec![],
            asked_at: at,
        },
        at,
        l,
    )
}

#[test]
fn nothing_is_leased_before_the_previous_run_is_settled() {
    let t0 = Instant::now();
    let l = FakeLedger {
        queued: 10,
        ..Default::default()
    };
    let mut w = WorkerState::new(2, timing(), t0);
    // An earlier life's completion: saved, committed, and only then the requeue.
    let a = w.step(
        Input::Start {
            pending: vec![done(1, 1, 5)],
        },
        t0,
        &l,
    );
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
    assert_eq!(lease_of(&a), None);
    // The commit failed: still no requeue, no lease; retried at the next round.
    let a = committed(&mut w, vec![done(1, 1, 5)], false, t0, &l);
    assert!(a.is_empty(), "{a:?}");
    let a = w.step(Input::Applied, t0 + MS(10), &l);
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
    let a = committed(&mut w, vec![done(1, 1, 5)], true, t0 + MS(20), &l);
    assert!(a.contains(&Action::RequeuePreviousRun), "{a:?}");
    assert!(!a.iter().any(|x| matches!(x, Action::Propose { .. })));
    let a = w.step(Input::Recovered { ok: true }, t0 + MS(30), &l);
    assert_eq!(
        lease_of(&a),
        Some(2),
        "leases its free slots once recovered"
    );
}

#[test]
fn leases_free_slots_and_prefetches_only_while_jobs_are_short() {
    let t0 = Instant::now();
    let mut l = FakeLedger {
        queued: 1_000,
        ..Default::default()
    };
    let mut w = recovered(2, t0, &l);
    let a = w.step(Input::Applied, t0, &l);
    assert_eq!(lease_of(&a), Some(2));
    let a = lease_answer(&mut w, vec![leased(1, 10), leased(2, 11)], t0, &l);
    assert_eq!(launches(&a), vec![JobId(1), JobId(2)]);
    // Both finish fast: prefetch is on, 16 per slot beyond the free slots.
    let a = w.step(
        Input::Finished(vec![done(1, 10, 5), done(2, 11, 5)]),
        t0 + MS(10),
        &l,
    );
    assert_eq!(lease_of(&a), Some(2 + 32));
    // A long job turns it off again.
    let mut w = recovered(2, t0, &l);
    w.step(Input::Finished(vec![done(1, 10, 1_000)]), t0, &l);
    assert_eq!(lease_of(&w.step(Input::Applied, t0, &l)), Some(2));
    // Drained, short of disk, or nothing queued: no lease.
    l.drained = true;
    assert_eq!(lease_of(&w.step(Input::Applied, t0, &l)), None);
    l.drained = false;
    l.disk_low = true;
    assert_eq!(lease_of(&w.step(Input::Applied, t0, &l)), None);
    l.disk_low = false;
    assert_eq!(lease_of(&w.step(Input::Applied, t0, &l)), Some(2));
    l.queued = 0;
    assert_eq!(lease_of(&w.step(Input::Applied, t0, &l)), None);
}

#[test]
fn with_prefetch_the_next_lease_waits_until_the_backlog_is_half_used() {
    let t0 = Instant::now();
    let l = FakeLedger {
        queued: 1_000,
        ..Default::default()
    };
    let mut w = recovered(1, t0, &l);
    w.step(Input::Finished(vec![done(9, 9, 5)]), t0, &l);
    // Prefetch is 16 for one slot: 17 leased, one starts, 16 wait.
    let jobs: Vec<LeasedJob> = (1..=17).map(|i| leased(i, 100 + i)).collect();
    let a = lease_answer(&mut w, jobs, t0, &l);
    assert_eq!(launches(&a), vec![JobId(1)]);
    assert_eq!(w.counts(), (1, 16));
    // Each finished job starts the next; no lease while more than 8 wait.
    for i in 1..=7 {
        let a = w.step(Input::Finished(vec![done(i, 100 + i, 5)]), t0 + MS(i), &l);
        assert_eq!(launches(&a), vec![JobId(i + 1)]);
        assert_eq!(lease_of(&a), None, "backlog {} > 8", w.counts().1);
    }
    let a = w.step(Input::Finished(vec![done(8, 108, 5)]), t0 + MS(8), &l);
    assert_eq!(w.counts(), (1, 8));
    assert_eq!(lease_of(&a), Some(17 - 9));
}

#[test]
fn an_acknowledged_heartbeat_renews_and_an_unanswered_one_does_not() {
    let (t0, l, mut w) = recovered_with(1, 1);
    lease_answer(&mut w, vec![leased(1, 10)], t0, &l);
    let a = w.step(Input::Tick, t0 + MS(250), &l);
    assert_eq!(
        a,
        vec![Action::Heartbeat {
            sent_at: t0 + MS(250)
        }]
    );
    let a = beat(&mut w, t0 + MS(250), false, t0 + MS(300), &l);
    assert!(a.is_empty(), "no renewal without an acknowledgement: {a:?}");
    // The next heartbeat waits heartbeat_every (1 s) after the last one sent.
    assert!(w.step(Input::Tick, t0 + MS(1_249), &l).is_empty());
    let a = w.step(Input::Tick, t0 + MS(1_250), &l);
    assert_eq!(
        a,
        vec![Action::Heartbeat {
            sent_at: t0 + MS(1_250)
        }]
    );
    let a = beat(&mut w, t0 + MS(1_250), true, t0 + MS(1_300), &l);
    assert_eq!(a.first(), Some(&Action::Renew(vec![JobId(1)])));
}

#[test]
fn cut_off_from_the_leader_fences_running_jobs_after_one_second() {
    let t0 = Instant::now();
    let mut l = FakeLedger {
        queued: 1,
        ..Default::default()
    };
    let mut w = recovered(2, t0, &l);
    lease_answer(&mut w, vec![leased(1, 10), leased(2, 11)], t0, &l);
    l.unreachable = true;
    // The last acknowledged heartbeat is t0 (the start).
    let a = w.step(Input::Tick, t0 + MS(999), &l);
    assert!(!a.iter().any(|x| matches!(x, Action::Fence(_))), "{a:?}");
    let a = w.step(Input::Tick, t0 + MS(1_000), &l);
    let fenced: Vec<&Action> = a.iter().filter(|x| matches!(x, Action::Fence(_))).collect();
    assert_eq!(
        fenced,
        vec![&Action::Fence(JobId(1)), &Action::Fence(JobId(2))]
    );
    // Once only; and nothing is leased while cut off.
    let a = w.step(Input::Tick, t0 + MS(1_250), &l);
    assert!(!a.iter().any(|x| matches!(x, Action::Fence(_))));
    w.step(Input::Finished(vec![done(1, 10, 5000)]), t0 + MS(1_300), &l);
    assert_eq!(lease_of(&w.step(Input::Applied, t0 + MS(1_300), &l)), None);
    // A reachable leader, however silent, is not a cut-off.
    let l2 = FakeLedger {
        queued: 1,
        ..Default::default()
    };
    let mut w = recovered(1, t0, &l2);
    lease_answer(&mut w, vec![leased(1, 10)], t0, &l2);
    let a = w.step(Input::Tick, t0 + MS(3_000), &l2);
    assert!(!a.iter().any(|x| matches!(x, Action::Fence(_))));
}

#[test]
fn the_backlog_is_dropped_at_half_of_lapse_minus_self_fence() {
    let (t0, l, mut w) = recovered_with(1, 100);
    w.step(Input::Finished(vec![done(9, 9, 5)]), t0, &l);
    // Asked at t0 + 500 ms (newer than the last acknowledged heartbeat, t0).
    let asked = t0 + MS(500);
    lease_answer(
        &mut w,
        vec![leased(1, 10), leased(2, 11), leased(3, 12)],
        asked,
        &l,
    );
    assert_eq!(w.counts(), (1, 2));
    // Fresh for (8 s − 4 s) / 2 = 2 s from the ask.
    w.step(Input::Tick, asked + MS(1_999), &l);
    assert_eq!(w.counts().1, 2, "still fresh");
    w.step(Input::Tick, asked + MS(2_000), &l);
    assert_eq!(w.counts().1, 0, "dropped at 2 s");
    // Dropped, not started: the slot that frees now starts nothing.
    let a = w.step(Input::Finished(vec![done(1, 10, 5)]), asked + MS(2_100), &l);
    assert!(launches(&a).is_empty());
}

#[test]
fn a_stale_backlog_is_dropped_before_a_fresh_heartbeat_can_vouch_for_it() {
    let (t0, l, mut w) = recovered_with(1, 100);
    w.step(Input::Finished(vec![done(9, 9, 5)]), t0, &l);
    lease_answer(&mut w, vec![leased(1, 10), leased(2, 11)], t0, &l);
    // Frozen for 10 s (a SIGSTOP): the first tick after judges the old contact.
    let a = w.step(Input::Tick, t0 + MS(10_000), &l);
    assert_eq!(w.counts().1, 0);
    assert!(a.contains(&Action::Heartbeat {
        sent_at: t0 + MS(10_000)
    }));
    // The heartbeat's acknowledgement then starts nothing of the old backlog.
    let a = beat(&mut w, t0 + MS(10_000), true, t0 + MS(10_010), &l);
    assert!(launches(&a).is_empty());
}

#[test]
fn launched_jobs_fence_themselves_at_lease_minus_margin() {
    let (t0, l, mut w) = recovered_with(1, 1);
    let a = lease_answer(&mut w, vec![leased(1, 10)], t0, &l);
    let fence = a.iter().find_map(|x| match x {
        Action::Launch { fence_after, .. } => Some(*fence_after),
        _ => None,
    });
    assert_eq!(fence, Some(MS(4_000)));
}

#[test]
fn completions_are_saved_before_they_are_proposed_and_batched_by_the_linger() {
    let (t0, l, mut w) = recovered_with(4, 0);
    lease_answer(&mut w, (1..=4).map(|i| leased(i, 10 + i)).collect(), t0, &l);
    // One of four finishes (a long job): waits COMMIT_LINGER for company.
    let a = w.step(Input::Finished(vec![done(1, 11, 2_000)]), t0, &l);
    assert_eq!(commit_of(&a), None);
    assert_eq!(w.wake_at(), Some(t0 + COMMIT_LINGER));
    let a = w.step(Input::Timer, t0 + COMMIT_LINGER, &l);
    let save = a.iter().position(|x| matches!(x, Action::Save(_)));
    let propose = a.iter().position(|x| matches!(x, Action::Propose { .. }));
    assert!(save.is_some() && save < propose, "saved first: {a:?}");
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
    // A failed commit is retried after COMMIT_RETRY, not at every wake-up.
    let now = t0 + COMMIT_LINGER;
    committed(&mut w, vec![done(1, 11, 2_000)], false, now, &l);
    assert_eq!(w.wake_at(), Some(now + COMMIT_RETRY));
    assert_eq!(commit_of(&w.step(Input::Applied, now + MS(10), &l)), None);
    let a = w.step(Input::Timer, now + COMMIT_RETRY, &l);
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
    let a = committed(
        &mut w,
        vec![done(1, 11, 2_000)],
        true,
        now + COMMIT_RETRY,
        &l,
    );
    assert_eq!(
        a.first(),
        Some(&Action::MarkCommitted(vec![done(1, 11, 2_000)]))
    );
}

#[test]
fn short_jobs_share_a_commit_until_the_batch_is_full() {
    let t0 = Instant::now();
    let l = FakeLedger::default();
    let mut w = recovered(200, t0, &l);
    lease_answer(
        &mut w,
        (1..=200).map(|i| leased(i, 1_000 + i)).collect(),
        t0,
        &l,
    );
    let a = w.step(
        Input::Finished((1..=127).map(|i| done(i, 1_000 + i, 5)).collect()),
        t0,
        &l,
    );
    assert_eq!(commit_of(&a), None, "127 < SHORT_BATCH");
    assert_eq!(w.wake_at(), Some(t0 + SHORT_LINGER));
    let a = w.step(Input::Finished(vec![done(128, 1_128, 5)]), t0 + MS(1), &l);
    assert_eq!(commit_of(&a).map(|c| c.len()), Some(SHORT_BATCH));
}

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

#[test]
fn the_cut_off_clock_runs_from_when_the_acknowledged_heartbeat_was_sent() {
    let t0 = Instant::now();
    let mut l = FakeLedger {
        queued: 1,
        ..Default::default()
    };
    let mut w = recovered(1, t0, &l);
    lease_answer(&mut w, vec![leased(1, 10)], t0, &l);
    let sent = t0 + MS(2_000);
    w.step(Input::Tick, sent, &l);
    // The answer took 900 ms: the leader vouched as of the send, not the answer.
    beat(&mut w, sent, true, sent + MS(900), &l);
    l.unreachable = true;
    let a = w.step(Input::Tick, sent + MS(1_000), &l);
    assert!(a.contains(&Action::Fence(JobId(1))), "{a:?}");
}

#[test]
fn a_failed_commit_backs_off_even_when_nothing_else_runs() {
    let t0 = Instant::now();
    let l = FakeLedger::default();
    let mut w = recovered(1, t0, &l);
    lease_answer(&mut w, vec![leased(1, 10)], t0, &l);
    // Nothing else runs: the completion is proposed at once.
    let a = w.step(Input::Finished(vec![done(1, 10, 2_000)]), t0, &l);
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
    committed(&mut w, vec![done(1, 10, 2_000)], false, t0, &l);
    // Not again at every wake-up until COMMIT_RETRY has passed.
    assert_eq!(commit_of(&w.step(Input::Applied, t0 + MS(100), &l)), None);
    let a = w.step(Input::Timer, t0 + COMMIT_RETRY, &l);
    assert_eq!(commit_of(&a), Some(vec![JobId(1)]));
}

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

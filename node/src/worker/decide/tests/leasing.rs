//! Leasing, prefetch, heartbeats and fencing, and how completions are batched.

use super::*;

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

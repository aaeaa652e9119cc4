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

mod leasing;
mod log;
mod starts_and_stop;

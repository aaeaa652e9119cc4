//! The worker's rules, as a pure step: [`WorkerState::step`] takes one [`Input`] (an
//! event, or the result of an earlier action), the time and a read-only [`Ledger`] of
//! the local state machine, and returns the [`Action`]s to carry out. It owns the
//! worker's bookkeeping (attempts running here, the prefetch backlog, completions
//! not yet committed); `worker::run` only waits for inputs and executes actions.
//!
//! The rules:
//! - **Recovery first.** Completions an earlier life did not commit are committed,
//!   then the jobs the log still says run here (killed with that life) are re-queued;
//!   nothing is leased or started before.
//! - **Heartbeat gating.** A heartbeat goes to the leader every `heartbeat_every`;
//!   only an acknowledged one renews the running jobs' supervisors, which kill their
//!   job `self_fence` after the last renewal.
//! - **Cut off.** When the leader is known but unreachable and no heartbeat was
//!   acknowledged for `fence_when_cut_off` (1 s), running jobs are fenced at once and
//!   nothing is leased or started.
//! - **Lease sizing and prefetch.** Lease as many jobs as there are free slots; while
//!   jobs are short (a finished batch all under [`SHORT_JOB_MS`]) lease
//!   [`PREFETCH_PER_SLOT`] more per slot, and only once the backlog is half used.
//! - **Prefetch freshness.** The backlog may start only while the newer of its lease
//!   request and the last acknowledged heartbeat is younger than half of
//!   `lapse − self_fence`; otherwise it is dropped (the reconciliation reports those
//!   jobs lost, which re-queues them).
//! - **Completion batching.** Finished attempts are saved to the outbox, then
//!   committed together after a linger ([`COMMIT_LINGER`], or [`SHORT_LINGER`] while
//!   jobs are short) or as soon as a batch is full or nothing else runs; after a
//!   failed commit, retried every [`COMMIT_RETRY`].
//! - **Start notices.** A started process's notice (which makes its job `running`
//!   in the log) waits [`START_LINGER`] to share one entry with the round's other
//!   starts; a job that ends sooner needs none, its completion carries the time.
//! - **Reconciliation.** Every [`RECONCILE_EVERY`], leases the log says run here with
//!   neither a process nor a result ([`orphans`]) are reported lost.
//! - **Cancellation.** A running attempt whose job was cancelled, or whose lease is no
//!   longer the job's current attempt, is killed.
//! - **Orderly stop.** On [`Input::Stop`] nothing more is leased or started; the
//!   backlog is handed back (completions `stopped`, which re-queue the jobs) and the
//!   running attempts may finish. On [`Input::GraceOver`] they are killed, and those
//!   that do not succeed are reported `stopped` too. [`WorkerState::stopped`] says when
//!   nothing is left to run or to commit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use shoal_raft_store::limits::{MAX_LEASE_JOBS, MAX_RESULTS};
use shoal_raft_store::{Completion, LeasedJob, StartNotice};
use shoal_types::{AttemptOutcome, FailReason, FencingToken, JobId, JobRecord, JobState};
use tracing::{debug, info, warn};

use crate::leases::LeaseTiming;

mod reconcile;
pub use reconcile::orphans;

/// While jobs are short, the worker leases this many jobs per slot beyond its free
/// slots and starts them the moment a slot frees, instead of waiting a raft round
/// (lease) after every finished job. Long jobs get no prefetch, so a node never sits
/// on queued work another node could start.
pub const PREFETCH_PER_SLOT: u32 = 16;
/// A finished batch whose attempts all ran shorter than this turns prefetch on.
pub const SHORT_JOB_MS: u64 = 1_000;
/// How long a finished attempt may wait for others to share its outbox write and its
/// completion entry (each an fsync).
pub const COMMIT_LINGER: Duration = Duration::from_millis(3);
/// While jobs are short, finished attempts wait up to this long, or until this many
/// have finished, to share one outbox write and one completion entry: every entry
/// costs each node an append, an fsync and an apply.
pub const SHORT_LINGER: Duration = Duration::from_millis(50);
pub const SHORT_BATCH: usize = 128;
/// How long a start notice waits for others (and for its job's end, which makes it
/// unneeded) before it is proposed.
pub const START_LINGER: Duration = Duration::from_millis(200);
/// How long a committed result keeps its attempt from being judged an orphan while
/// this node's state machine catches up.
pub const COMMITTED_MEMORY: Duration = Duration::from_secs(30);
/// Pause before proposing completions again after a failed attempt.
pub const COMMIT_RETRY: Duration = Duration::from_millis(250);
/// How often the worker compares what the log says runs here with what does.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// What the worker reads of the local state machine and of the line to the leader.
pub trait Ledger {
    /// The last log index this node's state machine applied.
    fn last_applied(&self) -> u64;
    fn job(&self, id: JobId) -> Result<Option<JobRecord>, String>;
    /// The attempts the log says run on this node.
    fn running_here(&self) -> Result<Vec<(JobId, FencingToken)>, String>;
    fn drained_here(&self) -> bool;
    /// The home's file system has less free space than the node's disk reserve.
    fn disk_low(&self) -> bool;
    fn queued(&self) -> u64;
    /// False only when a leader is known and this node has no connection to it.
    fn leader_reachable(&self) -> bool;
}

/// One thing that happened, or the result of an action.
#[derive(Debug)]
pub enum Input {
    /// The worker starts; `pending` are the completions its outbox still holds.
    Start { pending: Vec<Completion> },
    /// Attempts that ended, in the order their supervisors reported.
    Finished(Vec<Completion>),
    /// Processes that started (their supervisors' reports).
    Started(Vec<StartNotice>),
    /// The local state machine applied more entries.
    Applied,
    /// The wake-up time asked for by [`WorkerState::wake_at`] has come.
    Timer,
    /// The periodic tick (every [`TICK`]).
    Tick,
    /// The answer to [`Action::Heartbeat`].
    Heartbeat { sent_at: Instant, acked: bool },
    /// The answer to [`Action::Propose`]: the completions and start notices it
    /// carried with whether they were committed, and the jobs leased (asked at
    /// `asked_at`).
    Proposed {
        commit: Option<(Vec<Completion>, bool)>,
        starts: Option<(Vec<StartNotice>, bool)>,
        leased: Vec<LeasedJob>,
        asked_at: Instant,
    },
    /// The answer to [`Action::RequeuePreviousRun`].
    Recovered { ok: bool },
    /// The node is stopping in order: take no more work, let running jobs finish.
    Stop,
    /// The stop grace is over: kill what still runs and hand it back.
    GraceOver,
    /// [`Action::Launch`] failed.
    LaunchFailed {
        job: JobId,
        token: FencingToken,
        reason: FailReason,
    },
}

/// An effect for the executor, carried out in order.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Record finished attempts durably in the outbox (before they are proposed).
    Save(Vec<Completion>),
    /// Record in the outbox that these completions are committed.
    MarkCommitted(Vec<Completion>),
    /// Propose completions, start notices and/or a lease together; answered by
    /// [`Input::Proposed`].
    Propose {
        commit: Option<Vec<Completion>>,
        starts: Option<Vec<StartNotice>>,
        lease: Option<u32>,
    },
    /// Re-queue what the log says runs here; answered by [`Input::Recovered`].
    RequeuePreviousRun,
    /// Tell the leader this worker is alive; answered by [`Input::Heartbeat`].
    Heartbeat { sent_at: Instant },
    /// Push these attempts' supervisor deadlines forward.
    Renew(Vec<JobId>),
    /// Kill the attempt now (SIGKILL): its lease cannot be trusted.
    Fence(JobId),
    /// Kill the attempt (SIGTERM, grace, SIGKILL): its job was cancelled.
    Kill(JobId),
    /// Start a leased job under a supervisor that fences it `fence_after` after the
    /// last renewal; a failure comes back as [`Input::LaunchFailed`].
    Launch {
        job: LeasedJob,
        fence_after: Duration,
    },
    /// Slot usage changed (for the API and the adverts).
    Publish { slots: u32, running: u32 },
}

/// How often the executor delivers [`Input::Tick`].
pub const TICK: Duration = Duration::from_millis(250);

/// An attempt this worker started and has not seen finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    token: FencingToken,
    kill_sent: bool,
    /// Killed because the node's stop grace ran out: an unsuccessful end is the
    /// stop's doing, not the job's.
    stop_killed: bool,
}

/// The worker's bookkeeping; changed only by [`WorkerState::step`].
#[derive(Debug)]
pub struct WorkerState {
    slots: u32,
    prefetch: u32,
    timing: LeaseTiming,
    running: HashMap<JobId, Attempt>,
    /// Leased jobs not started yet (prefetch), and when the oldest was asked for.
    backlog: VecDeque<LeasedJob>,
    backlog_asked: Option<Instant>,
    /// Finished attempts not yet in the outbox / in the outbox, not committed.
    fresh: Vec<Completion>,
    finished: Vec<Completion>,
    /// Start notices not yet committed, and when they are due.
    starts: Vec<StartNotice>,
    starts_at: Option<Instant>,
    /// Results committed lately (see [`orphans`]).
    committed: HashMap<(JobId, FencingToken), Instant>,
    short_jobs: bool,
    commit_at: Option<Instant>,
    backing_off: bool,
    /// The earlier life's completions are committed and its jobs re-queued.
    recovered: bool,
    /// An orderly stop began ([`Input::Stop`]).
    stopping: bool,
    /// Completions proposed and not answered yet.
    commit_in_flight: bool,
    /// The send time of the last acknowledged heartbeat.
    last_ack: Instant,
    beat_sent: Option<Instant>,
    last_reconcile: Instant,
}

impl WorkerState {
    pub fn new(slots: u32, timing: LeaseTiming, now: Instant) -> WorkerState {
        WorkerState {
            slots,
            prefetch: slots.saturating_mul(PREFETCH_PER_SLOT),
            timing,
            running: HashMap::new(),
            backlog: VecDeque::new(),
            backlog_asked: None,
            fresh: Vec::new(),
            finished: Vec::new(),
            starts: Vec::new(),
            starts_at: None,
            committed: HashMap::new(),
            short_jobs: false,
            commit_at: None,
            backing_off: false,
            recovered: false,
            stopping: false,
            commit_in_flight: false,
            last_ack: now,
            beat_sent: None,
            last_reconcile: now,
        }
    }

    /// When the executor must deliver [`Input::Timer`], if at all.
    pub fn wake_at(&self) -> Option<Instant> {
        match (self.commit_at, self.starts_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Attempts running here and jobs leased but not started.
    pub fn counts(&self) -> (usize, usize) {
        (self.running.len(), self.backlog.len())
    }

    /// An orderly stop has nothing left to do: nothing runs, nothing waits to start
    /// and every result is committed.
    pub fn stopped(&self) -> bool {
        self.stopping
            && self.running.is_empty()
            && self.backlog.is_empty()
            && self.fresh.is_empty()
            && self.finished.is_empty()
            && !self.commit_in_flight
    }

    /// A completion that hands a job back to the queue: its node is stopping.
    fn hand_back(job: &LeasedJob) -> Completion {
        Completion {
            job: job.id,
            token: job.token,
            outcome: AttemptOutcome {
                error: Some(FailReason::Stopped),
                ..Default::default()
            },
        }
    }

    /// Applies one input; returns what to do, in order.
    pub fn step(&mut self, input: Input, now: Instant, ledger: &impl Ledger) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Start { pending } => {
                if !pending.is_empty() {
                    info!(
                        count = pending.len(),
                        "reporting completions the previous run did not commit"
                    );
                }
                self.finished = pending;
                self.advance(now, ledger, &mut out);
            }
            Input::Finished(mut batch) => {
                for c in &mut batch {
                    let ended = self.running.remove(&c.job);
                    if ended.is_some_and(|a| a.stop_killed) && !c.outcome.succeeded() {
                        c.outcome.error = Some(FailReason::Stopped);
                    }
                }
                // Their completions carry the start times.
                self.starts
                    .retain(|s| !batch.iter().any(|c| c.job == s.job && c.token == s.token));
                if self.starts.is_empty() {
                    self.starts_at = None;
                }
                self.short_jobs = batch.iter().all(|c| c.outcome.wall_ms < SHORT_JOB_MS);
                self.fresh.extend(batch);
                self.advance(now, ledger, &mut out);
            }
            Input::Started(notices) => {
                let ours = notices
                    .into_iter()
                    .filter(|n| self.running.get(&n.job).is_some_and(|a| a.token == n.token));
                self.starts.extend(ours);
                if !self.starts.is_empty() && self.starts_at.is_none() {
                    self.starts_at = Some(now + START_LINGER);
                }
            }
            Input::Applied | Input::Timer => self.advance(now, ledger, &mut out),
            Input::Stop => {
                if !self.stopping {
                    info!(
                        running = self.running.len(),
                        handed_back = self.backlog.len(),
                        "stopping: no new work; running jobs may finish"
                    );
                }
                self.stopping = true;
                self.advance(now, ledger, &mut out);
            }
            Input::GraceOver => {
                let mut ids: Vec<JobId> = self.running.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    if let Some(a) = self.running.get_mut(&id) {
                        a.stop_killed = true;
                        if !a.kill_sent {
                            a.kill_sent = true;
                            info!(job = %id, "stop grace over; stopping the job and handing it back");
                            out.push(Action::Kill(id));
                        }
                    }
                }
            }
            Input::Tick => self.tick(now, ledger, &mut out),
            Input::Heartbeat { sent_at, acked } => {
                // Renew only what the leader still vouches for: no acknowledged
                // heartbeat, no renewal, and the supervisors fence themselves.
                if !acked {
                    if !self.running.is_empty() {
                        debug!(
                            running = self.running.len(),
                            "heartbeat not acknowledged; leases not renewed"
                        );
                    }
                    return out;
                }
                self.last_ack = sent_at;
                if !self.running.is_empty() {
                    let mut ids: Vec<JobId> = self.running.keys().copied().collect();
                    ids.sort_unstable();
                    out.push(Action::Renew(ids));
                }
                self.advance(now, ledger, &mut out);
            }
            Input::Proposed {
                commit,
                starts,
                leased,
                asked_at,
            } => {
                self.started_proposed(starts, now);
                self.proposed(commit, leased, asked_at, now, ledger, &mut out)
            }
            Input::Recovered { ok } => {
                self.recovered = ok;
                if ok {
                    self.advance(now, ledger, &mut out);
                }
            }
            Input::LaunchFailed { job, token, reason } => {
                warn!(%job, %reason, "job not started");
                if self.running.get(&job).is_some_and(|a| a.token == token) {
                    self.running.remove(&job);
                }
                self.fresh.push(Completion {
                    job,
                    token,
                    outcome: AttemptOutcome {
                        error: Some(reason),
                        ..Default::default()
                    },
                });
                // Reported at the next round (the timer), not from here: this input
                // arrives while the round that launched it is still being carried out.
                if self.commit_at.is_none() {
                    self.commit_at = Some(now + COMMIT_LINGER);
                }
            }
        }
        out
    }

    fn tick(&mut self, now: Instant, ledger: &impl Ledger, out: &mut Vec<Action>) {
        // Judged before the heartbeat below refreshes `last_ack` (see
        // `stale_backlog`): a silence long enough happened, whatever comes now.
        if !self.backlog.is_empty() && self.stale_backlog(now) {
            warn!(
                count = self.backlog.len(),
                "no recent word from the leader; leased jobs not started"
            );
            self.backlog.clear();
            self.backlog_asked = None;
        }
        // Cut off from a known leader: fence our jobs before the leader gives them
        // away (it waits longer after seeing us go).
        if !self.running.is_empty() && self.cut_off(now, ledger) {
            let mut ids: Vec<JobId> = self
                .running
                .iter()
                .filter(|(_, a)| !a.kill_sent)
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            for id in ids {
                warn!(job = %id, "cut off from the leader; fencing the job");
                if let Some(a) = self.running.get_mut(&id) {
                    a.kill_sent = true;
                }
                out.push(Action::Fence(id));
            }
        }
        if self
            .beat_sent
            .is_some_and(|b| now.saturating_duration_since(b) < self.timing.heartbeat_every())
        {
            return;
        }
        self.beat_sent = Some(now);
        out.push(Action::Heartbeat { sent_at: now });
    }

    /// Cut off: a leader is known, this node has no connection to it, and no
    /// heartbeat was acknowledged for `fence_when_cut_off`.
    fn cut_off(&self, now: Instant, ledger: &impl Ledger) -> bool {
        now.saturating_duration_since(self.last_ack) >= self.timing.fence_when_cut_off()
            && !ledger.leader_reachable()
    }

    /// Whether the jobs waiting in the backlog may have been given away. The leader
    /// marks a worker alive when it asks for a lease (`backlog_asked`) and when a
    /// heartbeat arrives (`last_ack`: the send time of the last acknowledged one), and
    /// re-queues its jobs `lapse` after the last sign of life; a job started now
    /// fences itself `self_fence` from now unless renewed. So the backlog may start
    /// only while the newer sign of life is younger than half of `lapse − self_fence`,
    /// and this must be judged before a new heartbeat refreshes `last_ack`: after a
    /// SIGSTOP longer than `lapse` the leader has given the jobs away, a fresh
    /// heartbeat does not undo that, and this node's state machine may not have
    /// applied the requeue yet.
    fn stale_backlog(&self, now: Instant) -> bool {
        let t = self.timing;
        let fresh = (t.lapse() - t.self_fence()) / 2;
        let contact = self
            .backlog_asked
            .map_or(self.last_ack, |a| a.max(self.last_ack));
        now.saturating_duration_since(contact) >= fresh
    }

    /// Moves `fresh` completions to `finished`, saving them in the outbox first.
    fn save(&mut self, out: &mut Vec<Action>) {
        if self.fresh.is_empty() {
            return;
        }
        out.push(Action::Save(self.fresh.clone()));
        self.finished.append(&mut self.fresh);
    }

    /// The rules that follow any input: recovery, starting, killing, reconciling,
    /// leasing and committing.
    fn advance(&mut self, now: Instant, ledger: &impl Ledger, out: &mut Vec<Action>) {
        if !self.recovered {
            self.save(out);
            // Completions first (an earlier life's too), so a job that finished is
            // not re-queued as lost by the requeue.
            if self.finished.is_empty() {
                out.push(Action::RequeuePreviousRun);
            } else {
                self.commit_in_flight = true;
                out.push(Action::Propose {
                    commit: Some(front(&mut self.finished, MAX_RESULTS)),
                    starts: None,
                    lease: None,
                });
            }
            return;
        }
        let cut_off = self.cut_off(now, ledger);
        // Prefetched jobs take free slots at once: nothing to wait for.
        self.start_backlog(cut_off || self.stale_backlog(now), ledger, out);
        self.kill_cancelled(ledger, out);
        if now.saturating_duration_since(self.last_reconcile) >= RECONCILE_EVERY {
            self.last_reconcile = now;
            self.save(out);
            self.committed
                .retain(|_, at| now.saturating_duration_since(*at) < COMMITTED_MEMORY);
            self.reconcile(ledger, out);
        }
        let ahead = if self.short_jobs { self.prefetch } else { 0 };
        let held = (self.running.len() + self.backlog.len()) as u32;
        let want = (self.slots + ahead).saturating_sub(held);
        // With prefetch, lease only once the backlog is half used, so each lease
        // entry carries several jobs instead of one per finished job.
        let low = ahead == 0 || (self.backlog.len() as u32) <= ahead / 2;
        let lease = want > 0
            && low
            && !cut_off
            && !self.stopping
            && !ledger.drained_here()
            && !ledger.disk_low()
            && ledger.queued() > 0;
        // Completions wait up to the linger for a slot's worth of company, unless
        // nothing else runs to finish soon.
        let pending = self.fresh.len() + self.finished.len();
        let (linger, enough) = if self.short_jobs {
            (SHORT_LINGER, SHORT_BATCH)
        } else {
            (COMMIT_LINGER, self.slots as usize)
        };
        if pending > 0 && self.commit_at.is_none() {
            self.commit_at = Some(now + linger);
        }
        let due = pending > 0
            && (self.commit_at.is_some_and(|t| now >= t)
                || (!self.backing_off && (pending >= enough || self.running.is_empty())));
        let commit = if due {
            self.save(out);
            self.commit_at = None;
            Some(front(&mut self.finished, MAX_RESULTS))
        } else {
            None
        };
        let starts_due = !self.starts.is_empty() && self.starts_at.is_some_and(|t| now >= t);
        let starts = starts_due.then(|| {
            let batch = front(&mut self.starts, MAX_RESULTS);
            // What did not fit one entry goes in the next round's.
            self.starts_at = (!self.starts.is_empty()).then_some(now);
            batch
        });
        if commit.is_none() && starts.is_none() && !lease {
            self.finish_round(out);
            return;
        }
        // Completions, start notices and the next lease are proposed together (one
        // append round when openraft batches them).
        self.commit_in_flight |= commit.is_some();
        out.push(Action::Propose {
            commit,
            starts,
            lease: lease.then_some(want.min(MAX_LEASE_JOBS)),
        });
    }

    fn proposed(
        &mut self,
        commit: Option<(Vec<Completion>, bool)>,
        leased: Vec<LeasedJob>,
        asked_at: Instant,
        now: Instant,
        ledger: &impl Ledger,
        out: &mut Vec<Action>,
    ) {
        let tried = commit.is_some();
        if tried {
            self.commit_in_flight = false;
        }
        if let Some((batch, ok)) = commit {
            if ok {
                for c in &batch {
                    self.committed.insert((c.job, c.token), now);
                }
                out.push(Action::MarkCommitted(batch));
            } else {
                let newer = std::mem::take(&mut self.finished);
                self.finished = batch;
                self.finished.extend(newer);
            }
        }
        if !self.recovered {
            // The earlier life's completions: once they are all in, re-queue its jobs.
            if self.finished.is_empty() {
                out.push(Action::RequeuePreviousRun);
            }
            return;
        }
        if !leased.is_empty() && self.backlog.is_empty() {
            self.backlog_asked = Some(asked_at);
        }
        if tried {
            // Not committed (no leader?): try again later, not at every wake-up.
            self.backing_off = !self.finished.is_empty();
            if self.backing_off {
                self.commit_at = Some(now + COMMIT_RETRY);
            }
        }
        self.backlog.extend(leased);
        let hold = self.cut_off(now, ledger) || self.stale_backlog(now);
        self.start_backlog(hold, ledger, out);
        // Jobs not started (cancelled since, or handed back by a stop) are reported
        // at the timer.
        if !self.fresh.is_empty() && self.commit_at.is_none() {
            self.commit_at = Some(now + COMMIT_LINGER);
        }
        self.finish_round(out);
    }

    /// Start notices not committed are tried again after [`COMMIT_RETRY`], for the
    /// jobs still running here.
    fn started_proposed(&mut self, starts: Option<(Vec<StartNotice>, bool)>, now: Instant) {
        let Some((batch, false)) = starts else {
            return;
        };
        let still = batch
            .into_iter()
            .filter(|n| self.running.get(&n.job).is_some_and(|a| a.token == n.token));
        let newer = std::mem::take(&mut self.starts);
        self.starts = still.chain(newer).collect();
        if !self.starts.is_empty() {
            self.starts_at = Some(now + COMMIT_RETRY);
        }
    }

    fn finish_round(&mut self, out: &mut Vec<Action>) {
        if self.backlog.is_empty() {
            self.backlog_asked = None;
        }
        out.push(Action::Publish {
            slots: self.slots,
            running: self.running.len() as u32,
        });
    }

    /// Starts leased jobs while slots are free. A job cancelled (or re-queued away
    /// from this node) since its lease is not started; a cancelled one is reported
    /// cancelled. On `hold` nothing is started and the backlog is dropped: the
    /// reconciliation reports those jobs lost, which re-queues them.
    fn start_backlog(&mut self, hold: bool, ledger: &impl Ledger, out: &mut Vec<Action>) {
        if self.stopping {
            let back: Vec<Completion> = self
                .backlog
                .drain(..)
                .map(|j| Self::hand_back(&j))
                .collect();
            self.fresh.extend(back);
            return;
        }
        if hold && !self.backlog.is_empty() {
            warn!(
                count = self.backlog.len(),
                "no recent word from the leader; leased jobs not started"
            );
            self.backlog.clear();
            return;
        }
        while self.running.len() < self.slots as usize {
            let Some(job) = self.backlog.pop_front() else {
                break;
            };
            match lease_withdrawn(&job, ledger) {
                Some(Some(outcome)) => self.fresh.push(Completion {
                    job: job.id,
                    token: job.token,
                    outcome,
                }),
                Some(None) => {}
                None => {
                    self.running.insert(
                        job.id,
                        Attempt {
                            token: job.token,
                            kill_sent: false,
                            stop_killed: false,
                        },
                    );
                    out.push(Action::Launch {
                        job,
                        fence_after: self.timing.self_fence(),
                    });
                }
            }
        }
    }
}

/// `Some` if a leased job must not start: cancelled since (`Some(Some(outcome))`, to
/// report) or its lease is no longer the current attempt (`Some(None)`). Only judged
/// once this node has applied the lease.
fn lease_withdrawn(job: &LeasedJob, ledger: &impl Ledger) -> Option<Option<AttemptOutcome>> {
    if job.token.0 > ledger.last_applied() {
        return None;
    }
    match ledger.job(job.id) {
        Ok(Some(rec)) if rec.last_attempt().map(|a| a.token) != Some(job.token) => {
            info!(job = %job.id, "lease withdrawn before the job started");
            Some(None)
        }
        Ok(Some(rec)) if rec.state == JobState::Cancelled => {
            info!(job = %job.id, "job cancelled before it started");
            Some(Some(AttemptOutcome {
                error: Some(FailReason::Cancelled),
                ..Default::default()
            }))
        }
        Ok(Some(_)) => None,
        Ok(None) => Some(None),
        Err(e) => {
            warn!(job = %job.id, error = %e, "cannot read job state; starting it");
            None
        }
    }
}

/// The first `n` of `v` (all of it if it is no longer), taken out of it: one entry's
/// worth of completions or start notices.
fn front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
    if v.len() <= n {
        std::mem::take(v)
    } else {
        v.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests;

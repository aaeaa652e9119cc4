//! The worker loop: one task that owns this node's running attempts.
//!
//! It wakes on every applied raft entry, on finished attempts and on a renewal tick.
//! Each wake-up it (1) starts leased jobs on free slots, (2) kills attempts whose job
//! was cancelled, (3) commits finished attempts in one batch (after at most
//! [`COMMIT_LINGER`], so short jobs share outbox writes and entries) and, in the same
//! round, leases as many queued jobs as it has free slots (plus a prefetch while jobs
//! are short, see [`PREFETCH_PER_SLOT`]). Leases and completions are raft entries, so
//! after a crash the log says what was running.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use shoal_raft_store::{Completion, LeasedJob, Request, Response, StoreView};
use shoal_types::{
    time::now_ms, AttemptOutcome, EnvelopeVerifier, FailReason, FencingToken, JobCommand, JobId,
    JobState,
};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, instrument, warn};

use shoal_supervisor::protocol::LaunchSpec;

use super::launch::{Finished, JobControl, Supervisors};
use super::outbox::Outbox;
use super::verified::VerifiedEnvelopes;
use crate::net::leases::LeaderLink;
use crate::raft::proposer::{ProposeError, Proposer};
use shoal_home::Home;
use shoal_home::Identity;
use shoal_home::NodeConfig;

/// Slot usage, published for the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    pub slots: u32,
    pub running: u32,
}

/// An attempt this worker started and has not seen finish.
pub struct RunningAttempt {
    pub(super) token: FencingToken,
    pub(super) control: JobControl,
    pub(super) kill_sent: bool,
}

/// Everything the worker needs; built by the node, consumed by [`Worker::run`].
pub struct Worker {
    pub identity: Arc<Identity>,
    pub verifier: Arc<EnvelopeVerifier>,
    /// Envelopes already verified (a job array's tasks share one).
    pub verified: VerifiedEnvelopes,
    pub home: Home,
    pub config: NodeConfig,
    pub proposer: Proposer,
    pub view: StoreView,
    pub supervisors: Supervisors,
    pub status: watch::Sender<WorkerStatus>,
    /// Heartbeats to the leader, which gate lease renewals.
    pub leader: LeaderLink,
}

/// How often the worker compares what the log says runs here with what does.
const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Attempts the state machine says run on this node (`in_log`, with their lease
/// tokens) that this worker is not running and has no result for: their lease was
/// committed but its answer never reached the worker (a forwarded write whose reply
/// was lost). Only leases the local state machine has applied are judged, and
/// attempts whose result was `committed` lately are not: the leader answers a
/// forwarded write once it applied it, before this node's state machine has.
pub fn orphans(
    in_log: &[(JobId, FencingToken)],
    running: &HashMap<JobId, RunningAttempt>,
    finished: &[Completion],
    committed: &HashMap<(JobId, FencingToken), std::time::Instant>,
) -> Vec<(JobId, FencingToken)> {
    in_log
        .iter()
        .filter(|(job, token)| {
            !running.contains_key(job)
                && !finished.iter().any(|c| c.job == *job && c.token == *token)
                && !committed.contains_key(&(*job, *token))
        })
        .copied()
        .collect()
}

/// While jobs are short, the worker leases this many jobs per slot beyond its free
/// slots and starts them the moment a slot frees, instead of waiting a raft round
/// (lease) after every finished job. Long jobs get no prefetch, so a node never sits
/// on queued work another node could start.
const PREFETCH_PER_SLOT: u32 = 16;
/// A finished batch whose attempts all ran shorter than this turns prefetch on.
const SHORT_JOB_MS: u64 = 1_000;

/// How long a finished attempt may wait for others to share its outbox write and its
/// completion entry (each an fsync). Without it, short jobs cost about one raft
/// entry each to complete.
const COMMIT_LINGER: std::time::Duration = std::time::Duration::from_millis(3);

/// While jobs are short, finished attempts wait up to this long, or until this many
/// have finished, to share one outbox write and one completion entry: every entry
/// costs each node an append, an fsync and an apply, and with three nodes that per-entry
/// cost, not the per-job work, was most of the nodes' CPU.
const SHORT_LINGER: std::time::Duration = std::time::Duration::from_millis(50);
const SHORT_BATCH: usize = 128;

/// How long a committed result keeps its attempt from being judged an orphan while
/// this node's state machine catches up.
const COMMITTED_MEMORY: std::time::Duration = std::time::Duration::from_secs(30);

/// Pause before proposing completions again after a failed attempt.
const COMMIT_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// Writes `fresh` completions to the outbox (durably, before they are proposed) and
/// moves them to `finished`.
fn save(fresh: &mut Vec<Completion>, finished: &mut Vec<Completion>, outbox: &mut Outbox) {
    if fresh.is_empty() {
        return;
    }
    if let Err(e) = outbox.add(fresh) {
        warn!(error = %e, "completions not saved in the outbox; a crash now would lose them");
    }
    finished.append(fresh);
}

/// How many finished attempts may wait for the worker loop.
const FINISHED_QUEUE: usize = 4096;

impl Worker {
    #[instrument(skip_all, fields(node = %self.identity.node_id))]
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = self.config.effective_slots();
        let (done_tx, mut done_rx) = mpsc::channel::<Finished>(FINISHED_QUEUE);
        let mut applied = self.view.subscribe();
        // Checks the line to the leader 4 times a second; heartbeats once a second.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        let mut beat_sent = tokio::time::Instant::now() - self.leader.timing.heartbeat_every();
        let mut last_ack = std::time::Instant::now();
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut running: HashMap<JobId, RunningAttempt> = HashMap::new();
        let (mut outbox, mut finished) = match Outbox::open(&self.home.outbox()) {
            Ok(o) => o,
            Err(e) => {
                error!(path = %self.home.outbox().display(), error = %e, "cannot open the completion outbox; the worker does not start");
                return;
            }
        };
        if !finished.is_empty() {
            info!(
                count = finished.len(),
                "reporting completions the previous run did not commit"
            );
        }
        let mut recovered = false;
        let mut last_reconcile = std::time::Instant::now();
        // Jobs leased ahead of free slots while jobs are short (see `PREFETCH_PER_SLOT`).
        let mut backlog: VecDeque<LeasedJob> = VecDeque::new();
        let prefetch = slots.saturating_mul(PREFETCH_PER_SLOT);
        let mut short_jobs = false;
        // Finished attempts not yet in the outbox, and when they must be committed.
        let mut fresh: Vec<Completion> = Vec::new();
        let mut commit_at: Option<tokio::time::Instant> = None;
        let mut backing_off = false;
        // Results committed lately (see `orphans`).
        let mut committed: HashMap<(JobId, FencingToken), std::time::Instant> = HashMap::new();
        // When the oldest lease in `backlog` was asked for (see `start_backlog`).
        let mut backlog_asked: Option<std::time::Instant> = None;

        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(first) = done_rx.recv() => {
                    let mut batch = Vec::new();
                    let mut next = Some(first);
                    while let Some(f) = next {
                        running.remove(&f.job);
                        batch.push(Completion { job: f.job, token: f.token, outcome: f.outcome });
                        next = done_rx.try_recv().ok();
                    }
                    short_jobs = batch.iter().all(|c| c.outcome.wall_ms < SHORT_JOB_MS);
                    fresh.extend(batch);
                }
                r = applied.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(commit_at.unwrap_or_else(tokio::time::Instant::now)),
                    if commit_at.is_some() => {}
                _ = tick.tick() => {
                    // Judged before the heartbeat below refreshes `last_ack` (see
                    // `stale_backlog`): a silence long enough happened, whatever comes now.
                    if !backlog.is_empty() && self.stale_backlog(last_ack, backlog_asked) {
                        warn!(count = backlog.len(), "no recent word from the leader; leased jobs not started");
                        backlog.clear();
                        backlog_asked = None;
                    }
                    // Cut off from a known leader: fence our jobs before the leader
                    // gives them away (it waits longer after seeing us go).
                    if !running.is_empty()
                        && last_ack.elapsed() >= self.leader.timing.fence_when_cut_off()
                        && !self.leader.leader_reachable()
                    {
                        for (job, r) in running.iter_mut().filter(|(_, r)| !r.kill_sent) {
                            warn!(job = %job, "cut off from the leader; fencing the job");
                            r.kill_sent = true;
                            if let Err(e) = r.control.fence().await {
                                debug!(job = %job, error = %e, "fence not delivered");
                            }
                        }
                    }
                    if beat_sent.elapsed() < self.leader.timing.heartbeat_every() {
                        continue;
                    }
                    beat_sent = tokio::time::Instant::now();
                    let sent_at = std::time::Instant::now();
                    // Renew only what the leader still vouches for: no acknowledged
                    // heartbeat, no renewal, and the supervisors fence themselves.
                    if !self.leader.heartbeat().await {
                        if !running.is_empty() {
                            debug!(running = running.len(), "heartbeat not acknowledged; leases not renewed");
                        }
                        continue;
                    }
                    last_ack = sent_at;
                    for (job, r) in running.iter_mut() {
                        if let Err(e) = r.control.renew().await {
                            debug!(job = %job, error = %e, "renewal not delivered");
                        }
                    }
                }
            }
            if !recovered {
                save(&mut fresh, &mut finished, &mut outbox);
                // Completions first (an earlier life's too), so a job that finished is
                // not re-queued as lost by the requeue below.
                if !finished.is_empty() {
                    let now = std::time::Instant::now();
                    for done in self.commit(&mut finished, &mut outbox).await {
                        committed.insert(done, now);
                    }
                }
                if !finished.is_empty() {
                    continue;
                }
                recovered = self.requeue_previous_run().await;
                if !recovered {
                    continue;
                }
            }
            let cut_off = last_ack.elapsed() >= self.leader.timing.fence_when_cut_off()
                && !self.leader.leader_reachable();
            // Prefetched jobs take free slots at once: nothing to wait for.
            let hold = cut_off || self.stale_backlog(last_ack, backlog_asked);
            self.start_backlog(&mut backlog, hold, &mut running, &done_tx, &mut finished)
                .await;
            self.kill_cancelled(&mut running).await;
            if last_reconcile.elapsed() >= RECONCILE_EVERY {
                last_reconcile = std::time::Instant::now();
                save(&mut fresh, &mut finished, &mut outbox);
                committed.retain(|_, at| at.elapsed() < COMMITTED_MEMORY);
                self.reconcile(&running, &backlog, &mut finished, &committed, &mut outbox);
            }
            let drained = self
                .view
                .drained()
                .is_ok_and(|d| d.contains(&self.identity.node_id.0));
            let ahead = if short_jobs { prefetch } else { 0 };
            let want = (slots + ahead).saturating_sub((running.len() + backlog.len()) as u32);
            // With prefetch, lease only once the backlog is half used, so each lease
            // entry carries several jobs instead of one per finished job.
            let low = ahead == 0 || (backlog.len() as u32) <= ahead / 2;
            let lease = want > 0
                && low
                && !drained
                && !cut_off
                && self.view.queued_count().unwrap_or(0) > 0;
            // Completions wait up to COMMIT_LINGER for a slot's worth of company
            // (SHORT_LINGER for a larger batch while jobs are short), unless nothing
            // else runs to finish soon.
            let pending = fresh.len() + finished.len();
            let now = tokio::time::Instant::now();
            let (linger, enough) = if short_jobs {
                (SHORT_LINGER, SHORT_BATCH)
            } else {
                (COMMIT_LINGER, slots as usize)
            };
            if pending > 0 && commit_at.is_none() {
                commit_at = Some(now + linger);
            }
            let due = pending > 0
                && (commit_at.is_some_and(|t| now >= t)
                    || (!backing_off && (pending >= enough || running.is_empty())));
            if due {
                save(&mut fresh, &mut finished, &mut outbox);
                commit_at = None;
            }
            // Completions and the next lease are proposed together (one append round
            // when openraft batches them).
            let asked = std::time::Instant::now();
            let (done, leased) = tokio::join!(
                async {
                    if due {
                        self.commit(&mut finished, &mut outbox).await
                    } else {
                        Vec::new()
                    }
                },
                async {
                    if lease {
                        self.lease(want).await
                    } else {
                        Vec::new()
                    }
                }
            );
            let now = std::time::Instant::now();
            for d in done {
                committed.insert(d, now);
            }
            if !leased.is_empty() && backlog.is_empty() {
                backlog_asked = Some(asked);
            }
            if due {
                // Not committed (no leader?): try again later, not at every wake-up.
                backing_off = !finished.is_empty();
                if backing_off {
                    commit_at = Some(tokio::time::Instant::now() + COMMIT_RETRY);
                }
            }
            backlog.extend(leased);
            let hold = cut_off || self.stale_backlog(last_ack, backlog_asked);
            self.start_backlog(&mut backlog, hold, &mut running, &done_tx, &mut finished)
                .await;
            if backlog.is_empty() {
                backlog_asked = None;
            }
            self.status.send_replace(WorkerStatus {
                slots,
                running: running.len() as u32,
            });
        }
        // Dropping the controls closes every pipe: supervisors kill their jobs. They and
        // the prefetched jobs are re-queued by the next start (or by the leader, once
        // leases lapse).
        info!(
            running = running.len(),
            prefetched = backlog.len(),
            "worker stopped"
        );
    }

    /// Jobs the log says run here were started by an earlier life of this node;
    /// their supervisors killed them when it died. Put them back in the queue.
    async fn requeue_previous_run(&self) -> bool {
        let req = Request::RequeueNode {
            node: self.identity.node_id,
            now_ms: now_ms(),
            leased_up_to: None,
        };
        match self.proposer.propose(req).await {
            Ok(Response::Requeued { ids }) => {
                if !ids.is_empty() {
                    info!(count = ids.len(), "re-queued jobs lost by the previous run");
                }
                true
            }
            Ok(other) => {
                warn!(?other, "unexpected response to requeue");
                true
            }
            Err(ProposeError::NotLeader { .. }) => false,
            Err(e) => {
                warn!(error = %e, "cannot requeue jobs of the previous run yet");
                false
            }
        }
    }

    /// Commits the finished attempts; returns those committed (accepted or stale).
    async fn commit(
        &self,
        finished: &mut Vec<Completion>,
        outbox: &mut Outbox,
    ) -> Vec<(JobId, FencingToken)> {
        let results = std::mem::take(finished);
        let req = Request::Complete {
            node: self.identity.node_id,
            results: results.clone(),
            now_ms: now_ms(),
        };
        match self.proposer.propose(req).await {
            Ok(Response::Completed { accepted, stale }) => {
                if let Err(e) = outbox.done(&results) {
                    warn!(error = %e, "cannot mark completions committed in the outbox");
                }
                debug!(
                    accepted = accepted.len(),
                    stale = stale.len(),
                    "completions committed"
                );
                for id in stale {
                    warn!(job = %id, "completion refused: the lease is no longer ours");
                }
                results.iter().map(|c| (c.job, c.token)).collect()
            }
            Ok(other) => {
                warn!(?other, "unexpected response to completions");
                Vec::new()
            }
            Err(e) => {
                warn!(error = %e, "completions not committed; will retry");
                *finished = results;
                Vec::new()
            }
        }
    }

    /// Reports orphaned attempts (see [`orphans`]) as lost, which puts their jobs
    /// back in the queue; without this they would stay "running" while this node,
    /// alive and heartbeating, never runs them.
    fn reconcile(
        &self,
        running: &HashMap<JobId, RunningAttempt>,
        backlog: &VecDeque<LeasedJob>,
        finished: &mut Vec<Completion>,
        committed: &HashMap<(JobId, FencingToken), std::time::Instant>,
        outbox: &mut Outbox,
    ) {
        let in_log = match self.view.running_on(self.identity.node_id) {
            Ok(v) => v
                .into_iter()
                .filter(|(job, _)| !backlog.iter().any(|b| b.id == *job))
                .collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, "cannot read this node's running jobs");
                return;
            }
        };
        let lost: Vec<Completion> = orphans(&in_log, running, finished, committed)
            .into_iter()
            .map(|(job, token)| {
                warn!(%job, %token, "the log says this node runs the job, but it never got the lease; reporting it lost");
                Completion {
                    job,
                    token,
                    outcome: AttemptOutcome {
                        error: Some(FailReason::Lost),
                        ..Default::default()
                    },
                }
            })
            .collect();
        if lost.is_empty() {
            return;
        }
        if let Err(e) = outbox.add(&lost) {
            warn!(error = %e, "lost attempts not saved in the outbox");
        }
        finished.extend(lost);
    }

    async fn kill_cancelled(&self, running: &mut HashMap<JobId, RunningAttempt>) {
        // A follower's state machine may not have applied our own lease yet (the
        // leader answered it first); judge only attempts whose lease it has seen.
        let applied = self.view.last_applied().unwrap_or(0);
        for (id, r) in running
            .iter_mut()
            .filter(|(_, r)| !r.kill_sent && r.token.0 <= applied)
        {
            let cancelled = match self.view.get_job(*id) {
                Ok(Some(rec)) => {
                    rec.state == JobState::Cancelled
                        || rec.last_attempt().map(|a| a.token) != Some(r.token)
                }
                Ok(None) => true,
                Err(e) => {
                    warn!(job = %id, error = %e, "cannot read job state");
                    false
                }
            };
            if cancelled {
                info!(job = %id, "killing cancelled job");
                r.kill_sent = true;
                if let Err(e) = r.control.kill().await {
                    warn!(job = %id, error = %e, "cannot reach the job's supervisor");
                }
            }
        }
    }

    /// Leases up to `max_jobs` queued jobs; they are started by `start_backlog`.
    async fn lease(&self, max_jobs: u32) -> Vec<LeasedJob> {
        let req = Request::Lease {
            node: self.identity.node_id,
            max_jobs,
            now_ms: now_ms(),
        };
        // On the leader this is its own sign of life (see the server's forwarded
        // leases); elsewhere the leader records it when the request arrives.
        self.leader.liveness.seen(self.identity.node_id.0);
        match self.proposer.propose(req).await {
            Ok(Response::Leased { jobs }) => jobs,
            Ok(other) => {
                warn!(?other, "unexpected response to lease");
                Vec::new()
            }
            Err(e) => {
                debug!(error = %e, "lease failed");
                Vec::new()
            }
        }
    }

    /// Verifies the envelope again (a leader's word is not enough) and starts it.
    pub(super) async fn start(
        &self,
        job: &LeasedJob,
        done: &mpsc::Sender<Finished>,
    ) -> Result<JobControl, FailReason> {
        let body = self
            .verified
            .verify(&self.verifier, &job.envelope)
            .map_err(|e| FailReason::Rejected(e.to_string()))?;
        let spec = body.spec;
        let argv = match spec.command {
            JobCommand::Argv(v) => v,
            JobCommand::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s],
        };
        let mut env = spec.env;
        env.push(("SHOAL_JOB_ID".into(), job.id.to_string()));
        env.push(("SHOAL_ATTEMPT".into(), job.attempt.to_string()));
        env.push(("SHOAL_NODE_ID".into(), self.identity.node_id.to_string()));
        env.push(("SHOAL_FENCING_TOKEN".into(), job.token.to_string()));
        if let Some(i) = job.array_index {
            env.push(("SHOAL_ARRAY_INDEX".into(), i.to_string()));
        }
        let path = |s| {
            self.home
                .output_file(job.id, job.attempt, s)
                .to_string_lossy()
                .into_owned()
        };
        let launch_spec = LaunchSpec {
            argv,
            cwd: spec.cwd,
            env,
            stdout_path: path("stdout"),
            stderr_path: path("stderr"),
            timeout_ms: spec.timeout_ms,
            lease_ms: self.leader.timing.self_fence().as_millis() as u64,
            kill_grace_ms: self.config.kill_grace_ms,
            decided_at_ns: Some(shoal_supervisor::protocol::monotonic_ns()),
        };
        self.supervisors
            .launch(&launch_spec, job.id, job.token, done.clone())
            .await
            .map_err(|e| FailReason::SpawnFailed(format!("cannot start supervisor: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_logged_leases_with_neither_a_process_nor_a_result() {
        let in_log = vec![
            (JobId(1), FencingToken(10)),
            (JobId(2), FencingToken(11)),
            (JobId(3), FencingToken(12)),
        ];
        let finished = vec![Completion {
            job: JobId(2),
            token: FencingToken(11),
            outcome: AttemptOutcome::default(),
        }];
        // Job 1 has no process and no result; job 2 has a result waiting; job 3 is
        // not in `running` either (no controls to build here), so it is an orphan too.
        let running = HashMap::new();
        let none = HashMap::new();
        assert_eq!(
            orphans(&in_log, &running, &finished, &none),
            vec![(JobId(1), FencingToken(10)), (JobId(3), FencingToken(12))]
        );
        // A result committed a moment ago, which this node has not applied yet.
        let lately = HashMap::from([((JobId(3), FencingToken(12)), std::time::Instant::now())]);
        assert_eq!(
            orphans(&in_log, &running, &finished, &lately),
            vec![(JobId(1), FencingToken(10))]
        );
        // A result for an older attempt of the same job does not cover the new one.
        let old = vec![Completion {
            job: JobId(1),
            token: FencingToken(3),
            outcome: AttemptOutcome::default(),
        }];
        assert_eq!(orphans(&in_log[..1], &running, &old, &none).len(), 1);
    }
}

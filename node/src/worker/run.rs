//! The worker loop: one task that waits for inputs (finished attempts, applied raft
//! entries, a tick, the commit timer), hands each to [`WorkerState::step`] and
//! carries out the actions it returns. The decisions are all in `decide`; this
//! module owns the effects: the outbox file, the supervisors' control pipes, the
//! proposals and the heartbeats.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_raft_store::{Completion, LeasedJob, Request, Response, StartNotice, StoreView};
use shoal_supervisor::protocol::LaunchSpec;
use shoal_types::{
    time::now_ms, EnvelopeVerifier, FailReason, FencingToken, JobCommand, JobId, JobRecord,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};

use super::decide::{Action, Input, Ledger, WorkerState, TICK};
use super::launch::{JobControl, SupervisorEvent, Supervisors};
use super::outbox::Outbox;
use super::verified::VerifiedEnvelopes;
use crate::disk::DiskStatus;
use crate::leases::{LeaderLink, LeaseTiming};
use crate::raft::proposer::{ProposeError, Proposer};
use crate::status::WorkerStatus;
use shoal_home::{Home, Identity, NodeConfig};

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
    /// Whether the disk is below its reserve (`disk`), which stops leasing.
    pub disk: watch::Receiver<DiskStatus>,
    /// Heartbeats to the leader, which gate lease renewals.
    pub leader: LeaderLink,
    /// The node's orderly stop, as the worker sees it.
    pub stopping: StopSignals,
}

/// An orderly stop (SIGTERM): `drain` asks the worker to take no more work and let
/// running jobs finish; `grace_over` to stop what still runs; the worker cancels
/// `done` when it has nothing left to run or commit (or when it ends for any reason).
#[derive(Clone, Default)]
pub struct StopSignals {
    pub drain: CancellationToken,
    pub grace_over: CancellationToken,
    pub done: CancellationToken,
}

/// How many supervisor events may wait for the worker loop.
const EVENT_QUEUE: usize = 4096;

/// The [`Ledger`] of a running node: its store view and its line to the leader.
struct NodeLedger<'a> {
    view: &'a StoreView,
    leader: &'a LeaderLink,
    disk: &'a watch::Receiver<DiskStatus>,
}

impl Ledger for NodeLedger<'_> {
    fn last_applied(&self) -> u64 {
        self.view.last_applied().unwrap_or(0)
    }
    fn job(&self, id: JobId) -> Result<Option<JobRecord>, String> {
        self.view.get_job(id).map_err(|e| e.to_string())
    }
    fn running_here(&self) -> Result<Vec<(JobId, FencingToken)>, String> {
        self.view
            .running_on(self.leader.node)
            .map_err(|e| e.to_string())
    }
    fn drained_here(&self) -> bool {
        self.view
            .drained()
            .is_ok_and(|d| d.contains(&self.leader.node.0))
    }
    fn disk_low(&self) -> bool {
        self.disk.borrow().low
    }
    fn queued(&self) -> u64 {
        self.view.queued_count().unwrap_or(0)
    }
    fn leader_reachable(&self) -> bool {
        self.leader.leader_reachable()
    }
}

/// The effects' side of the worker: what `step`'s actions act on.
struct Effects {
    outbox: Option<Outbox>,
    controls: HashMap<JobId, JobControl>,
    events_tx: mpsc::Sender<SupervisorEvent>,
}

impl Worker {
    #[instrument(skip_all, fields(node = %self.identity.node_id))]
    pub async fn run(self, stop: CancellationToken) {
        let _done = self.stopping.done.clone().drop_guard();
        let slots = self.config.effective_slots();
        let timing: LeaseTiming = self.leader.timing;
        let (events_tx, mut events_rx) = mpsc::channel::<SupervisorEvent>(EVENT_QUEUE);
        let mut applied = self.view.subscribe();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let path = self.home.outbox();
        let opened = tokio::task::spawn_blocking(move || Outbox::open(&path)).await;
        let (outbox, pending) = match opened {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                error!(path = %self.home.outbox().display(), error = %e, "cannot open the completion outbox; the worker does not start");
                return;
            }
            Err(e) => {
                error!(error = %e, "opening the completion outbox failed; the worker does not start");
                return;
            }
        };
        let mut fx = Effects {
            outbox: Some(outbox),
            controls: HashMap::new(),
            events_tx,
        };
        let mut state = WorkerState::new(slots, timing, Instant::now());
        let mut inputs = vec![Input::Start { pending }];
        let (mut drain_seen, mut grace_seen) = (false, false);
        loop {
            let ledger = NodeLedger {
                view: &self.view,
                leader: &self.leader,
                disk: &self.disk,
            };
            let mut actions = Vec::new();
            for input in inputs {
                actions.extend(state.step(input, Instant::now(), &ledger));
            }
            while !actions.is_empty() {
                let mut next = Vec::new();
                for a in actions {
                    if let Some(fb) = self.execute(a, &mut fx).await {
                        next.extend(state.step(fb, Instant::now(), &ledger));
                    }
                }
                actions = next;
            }
            if state.stopped() {
                info!("every job finished or handed back; the worker is done");
                break;
            }
            let wake = state.wake_at().map(tokio::time::Instant::from_std);
            inputs = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = self.stopping.drain.cancelled(), if !drain_seen => {
                    drain_seen = true;
                    vec![Input::Stop]
                }
                _ = self.stopping.grace_over.cancelled(), if !grace_seen => {
                    grace_seen = true;
                    vec![Input::GraceOver]
                }
                Some(first) = events_rx.recv() => {
                    let (mut started, mut finished) = (Vec::new(), Vec::new());
                    let mut next = Some(first);
                    while let Some(event) = next {
                        match event {
                            SupervisorEvent::Started(n) => started.push(n),
                            SupervisorEvent::Finished(f) => {
                                fx.controls.remove(&f.job);
                                finished.push(Completion { job: f.job, token: f.token, outcome: f.outcome });
                            }
                        }
                        next = events_rx.try_recv().ok();
                    }
                    // Starts first: a job's start always comes before its end.
                    [(!started.is_empty()).then_some(Input::Started(started)),
                     (!finished.is_empty()).then_some(Input::Finished(finished))]
                        .into_iter().flatten().collect()
                }
                r = applied.changed() => match r {
                    Ok(()) => vec![Input::Applied],
                    Err(_) => break,
                },
                _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)),
                    if wake.is_some() => vec![Input::Timer],
                _ = tick.tick() => vec![Input::Tick],
            };
        }
        // Dropping the controls closes every pipe: supervisors kill their jobs. They and
        // the prefetched jobs are re-queued by the next start (or by the leader, once
        // leases lapse).
        let (running, prefetched) = state.counts();
        info!(running, prefetched, "worker stopped");
    }

    /// Carries out one action; returns the input that reports its result, if any.
    async fn execute(&self, action: Action, fx: &mut Effects) -> Option<Input> {
        match action {
            Action::Save(batch) => {
                let r = with_outbox(fx, move |o| o.add(&batch)).await;
                if let Err(e) = r {
                    warn!(error = %e, "completions not saved in the outbox; a crash now would lose them");
                }
                None
            }
            Action::MarkCommitted(batch) => {
                let r = with_outbox(fx, move |o| o.done(&batch)).await;
                if let Err(e) = r {
                    warn!(error = %e, "cannot mark completions committed in the outbox");
                }
                None
            }
            Action::Propose {
                commit,
                starts,
                lease,
            } => {
                let asked_at = Instant::now();
                let (commit, starts, leased) = tokio::join!(
                    async {
                        match commit {
                            Some(batch) => {
                                let ok = self.commit(&batch).await;
                                Some((batch, ok))
                            }
                            None => None,
                        }
                    },
                    async {
                        match starts {
                            Some(batch) => {
                                let ok = self.started(&batch).await;
                                Some((batch, ok))
                            }
                            None => None,
                        }
                    },
                    async {
                        match lease {
                            Some(n) => self.lease(n).await,
                            None => Vec::new(),
                        }
                    }
                );
                Some(Input::Proposed {
                    commit,
                    starts,
                    leased,
                    asked_at,
                })
            }
            Action::RequeuePreviousRun => Some(Input::Recovered {
                ok: self.requeue_previous_run().await,
            }),
            Action::Heartbeat { sent_at } => Some(Input::Heartbeat {
                sent_at,
                acked: self.leader.heartbeat().await,
            }),
            Action::Renew(ids) => {
                for id in ids {
                    if let Some(c) = fx.controls.get_mut(&id) {
                        if let Err(e) = c.renew().await {
                            debug!(job = %id, error = %e, "renewal not delivered");
                        }
                    }
                }
                None
            }
            Action::Fence(id) => {
                if let Some(c) = fx.controls.get_mut(&id) {
                    if let Err(e) = c.fence().await {
                        debug!(job = %id, error = %e, "fence not delivered");
                    }
                }
                None
            }
            Action::Kill(id) => {
                if let Some(c) = fx.controls.get_mut(&id) {
                    if let Err(e) = c.kill().await {
                        warn!(job = %id, error = %e, "cannot reach the job's supervisor");
                    }
                }
                None
            }
            Action::Launch { job, fence_after } => {
                let (id, token) = (job.id, job.token);
                match self.start(&job, fence_after, &fx.events_tx).await {
                    Ok(control) => {
                        fx.controls.insert(id, control);
                        None
                    }
                    Err(reason) => Some(Input::LaunchFailed {
                        job: id,
                        token,
                        reason,
                    }),
                }
            }
            Action::Publish { slots, running } => {
                self.status.send_modify(|s| {
                    s.slots = slots;
                    s.running = running;
                });
                None
            }
        }
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

    /// Commits finished attempts; true if committed (accepted or refused as stale:
    /// either way there is nothing left to report).
    async fn commit(&self, results: &[Completion]) -> bool {
        let req = Request::Complete {
            node: self.identity.node_id,
            results: results.to_vec(),
            now_ms: now_ms(),
        };
        match self.proposer.propose(req).await {
            Ok(Response::Completed { accepted, stale }) => {
                debug!(
                    accepted = accepted.len(),
                    stale = stale.len(),
                    "completions committed"
                );
                for id in &stale {
                    warn!(job = %id, "completion refused: the lease is no longer ours");
                }
                self.status
                    .send_modify(|s| s.completions_refused += stale.len() as u64);
                true
            }
            Ok(other) => {
                // Committed, but not understood: nothing to retry.
                warn!(?other, "unexpected response to completions");
                true
            }
            Err(e) => {
                warn!(error = %e, "completions not committed; will retry");
                false
            }
        }
    }

    /// Commits start notices; true if committed.
    async fn started(&self, starts: &[StartNotice]) -> bool {
        let req = Request::Start {
            node: self.identity.node_id,
            starts: starts.to_vec(),
        };
        match self.proposer.propose(req).await {
            Ok(_) => true,
            Err(e) => {
                debug!(error = %e, "start notices not committed; will retry");
                false
            }
        }
    }

    /// Leases up to `max_jobs` queued jobs.
    async fn lease(&self, max_jobs: u32) -> Vec<LeasedJob> {
        let req = Request::Lease {
            node: self.identity.node_id,
            max_jobs,
            now_ms: now_ms(),
        };
        // On the leader this is its own sign of life (see the dispatch of forwarded
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
    async fn start(
        &self,
        job: &LeasedJob,
        fence_after: Duration,
        events: &mpsc::Sender<SupervisorEvent>,
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
            lease_ms: fence_after.as_millis() as u64,
            kill_grace_ms: self.config.kill_grace_ms,
            decided_at_ns: Some(shoal_supervisor::protocol::monotonic_ns()),
            output_cap: (self.config.output_cap > 0).then_some(self.config.output_cap),
            pids_max: (self.config.pids_max > 0).then_some(self.config.pids_max),
        };
        self.supervisors
            .launch(&launch_spec, job.id, job.token, events.clone())
            .await
            .map_err(|e| FailReason::SpawnFailed(format!("cannot start supervisor: {e}")))
    }
}

/// Runs `f` on the outbox off the async worker threads (its writes are fsynced).
async fn with_outbox(
    fx: &mut Effects,
    f: impl FnOnce(&mut Outbox) -> std::io::Result<()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(mut outbox) = fx.outbox.take() else {
        return Err(std::io::Error::other(
            "the outbox was lost by an earlier failure",
        ));
    };
    let (outbox, r) = tokio::task::spawn_blocking(move || {
        let r = f(&mut outbox);
        (outbox, r)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("outbox write failed: {e}")))?;
    fx.outbox = Some(outbox);
    r
}

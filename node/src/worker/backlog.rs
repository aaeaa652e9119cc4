//! The worker's backlog of leased jobs not yet started (prefetch): when they may
//! start, when they must be dropped, and starting them on free slots.

use std::collections::{HashMap, VecDeque};

use shoal_raft_store::{Completion, LeasedJob};
use shoal_types::{AttemptOutcome, FailReason, JobId, JobState};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::launch::Finished;
use super::run::{RunningAttempt, Worker};

impl Worker {
    /// Starts leased jobs while slots are free. A job cancelled (or re-queued away
    /// from this node) since its lease is not started; a cancelled one is reported
    /// cancelled. On `hold` (cut off from the leader, or the backlog is too old to
    /// start safely: [`Worker::stale_backlog`]) nothing is started and the backlog is
    /// dropped: the reconciliation reports those jobs lost, which re-queues them.
    pub(super) async fn start_backlog(
        &self,
        backlog: &mut VecDeque<LeasedJob>,
        hold: bool,
        running: &mut HashMap<JobId, RunningAttempt>,
        done: &mpsc::Sender<Finished>,
        finished: &mut Vec<Completion>,
    ) {
        if hold && !backlog.is_empty() {
            warn!(
                count = backlog.len(),
                "no recent word from the leader; leased jobs not started"
            );
            backlog.clear();
            return;
        }
        let slots = self.config.effective_slots() as usize;
        while running.len() < slots {
            let Some(job) = backlog.pop_front() else {
                break;
            };
            let (id, token) = (job.id, job.token);
            if let Some(outcome) = self.lease_withdrawn(&job) {
                if let Some(o) = outcome {
                    finished.push(Completion {
                        job: id,
                        token,
                        outcome: o,
                    });
                }
                continue;
            }
            match self.start(&job, done).await {
                Ok(control) => {
                    running.insert(
                        id,
                        RunningAttempt {
                            token,
                            control,
                            kill_sent: false,
                        },
                    );
                }
                Err(reason) => {
                    warn!(job = %id, %reason, "job not started");
                    let outcome = AttemptOutcome {
                        error: Some(reason),
                        ..Default::default()
                    };
                    finished.push(Completion {
                        job: id,
                        token,
                        outcome,
                    });
                }
            }
        }
    }

    /// Whether the jobs waiting in the backlog may have been given away. The leader
    /// marks a worker alive when it asks for a lease (`asked`: the oldest lease in the
    /// backlog) and when a heartbeat arrives (`last_ack`: the send time of the last
    /// acknowledged one), and re-queues its jobs `lapse` after the last sign of life;
    /// a job started now fences itself `self_fence` from now unless renewed. So the
    /// backlog may start only while the newer sign of life is younger than half of
    /// `lapse - self_fence`, and this must be judged before a new heartbeat refreshes
    /// `last_ack`: after a SIGSTOP longer than `lapse` the leader has given the jobs
    /// away, a fresh heartbeat does not undo that, and this node's state machine may
    /// not have applied the requeue yet.
    pub(super) fn stale_backlog(
        &self,
        last_ack: std::time::Instant,
        asked: Option<std::time::Instant>,
    ) -> bool {
        let t = self.leader.timing;
        let fresh = (t.lapse() - t.self_fence()) / 2;
        let contact = asked.map_or(last_ack, |a| a.max(last_ack));
        contact.elapsed() >= fresh
    }

    /// `Some` if a leased job must not start: cancelled since (`Some(Some(outcome))`,
    /// to report) or its lease is no longer the current attempt (`Some(None)`). Only
    /// judged once this node has applied the lease.
    fn lease_withdrawn(&self, job: &LeasedJob) -> Option<Option<AttemptOutcome>> {
        if job.token.0 > self.view.last_applied().unwrap_or(0) {
            return None;
        }
        match self.view.get_job(job.id) {
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
}

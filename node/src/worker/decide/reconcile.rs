//! The worker against the log: jobs cancelled while they run here are killed once this
//! node has applied their lease, and attempts the log says run here but that nothing
//! here runs or reports (`orphans`) are reported lost at the reconciliation.

use super::*;

impl WorkerState {
    pub(super) fn kill_cancelled(&mut self, ledger: &impl Ledger, out: &mut Vec<Action>) {
        // A follower's state machine may not have applied our own lease yet (the
        // leader answered it first); judge only attempts whose lease it has seen.
        let applied = ledger.last_applied();
        let mut kill = Vec::new();
        for (id, a) in self
            .running
            .iter()
            .filter(|(_, a)| !a.kill_sent && a.token.0 <= applied)
        {
            let cancelled = match ledger.job(*id) {
                Ok(Some(rec)) => {
                    rec.state == JobState::Cancelled
                        || rec.last_attempt().map(|x| x.token) != Some(a.token)
                }
                Ok(None) => true,
                Err(e) => {
                    warn!(job = %id, error = %e, "cannot read job state");
                    false
                }
            };
            if cancelled {
                kill.push(*id);
            }
        }
        kill.sort_unstable();
        for id in kill {
            info!(job = %id, "killing cancelled job");
            if let Some(a) = self.running.get_mut(&id) {
                a.kill_sent = true;
            }
            out.push(Action::Kill(id));
        }
    }

    /// Reports orphaned attempts (see [`orphans`]) as lost, which puts their jobs
    /// back in the queue; without this they would stay "running" while this node,
    /// alive and heartbeating, never runs them.
    pub(super) fn reconcile(&mut self, ledger: &impl Ledger, out: &mut Vec<Action>) {
        let in_log: Vec<(JobId, FencingToken)> = match ledger.running_here() {
            Ok(v) => v
                .into_iter()
                .filter(|(job, _)| !self.backlog.iter().any(|b| b.id == *job))
                .collect(),
            Err(e) => {
                warn!(error = %e, "cannot read this node's running jobs");
                return;
            }
        };
        let running: Vec<JobId> = self.running.keys().copied().collect();
        let lost: Vec<Completion> = orphans(&in_log, &running, &self.finished, &self.committed)
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
        out.push(Action::Save(lost.clone()));
        self.finished.extend(lost);
    }
}

/// Attempts the state machine says run on this node (`in_log`, with their lease
/// tokens) that this worker is not running and has no result for: their lease was
/// committed but its answer never reached the worker (a forwarded write whose reply
/// was lost). Only leases the local state machine has applied are judged, and
/// attempts whose result was `committed` lately are not: the leader answers a
/// forwarded write once it applied it, before this node's state machine has.
pub fn orphans(
    in_log: &[(JobId, FencingToken)],
    running: &[JobId],
    finished: &[Completion],
    committed: &HashMap<(JobId, FencingToken), Instant>,
) -> Vec<(JobId, FencingToken)> {
    in_log
        .iter()
        .filter(|(job, token)| {
            !running.contains(job)
                && !finished.iter().any(|c| c.job == *job && c.token == *token)
                && !committed.contains_key(&(*job, *token))
        })
        .copied()
        .collect()
}

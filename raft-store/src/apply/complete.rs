//! Complete: record the outcome of finished attempts. A result counts only with the
//! fencing token of the job's current, unfinished attempt on that node. An attempt
//! that ended `lost` (its lease lapsed, so its node's supervisor fenced it) or
//! `stopped` (its node was stopped in order) is not the job's fault: the job goes
//! back to the queue in its old place.

use shoal_types::{FailReason, JobState, NodeId};

use crate::command::{Completion, Response};
use crate::jobs;
use crate::txn::Txn;
use crate::StoreError;

pub fn complete(
    txn: &mut Txn,
    node: NodeId,
    results: &[Completion],
    now_ms: u64,
) -> Result<Response, StoreError> {
    let mut accepted = Vec::new();
    let mut stale = Vec::new();
    for c in results {
        let Some(mut rec) = jobs::load(txn, c.job)? else {
            stale.push(c.job);
            continue;
        };
        let prev = rec.state;
        let live = prev.on_node() || prev == JobState::Cancelled;
        let Some(attempt) = rec
            .attempts
            .last_mut()
            .filter(|a| live && a.token == c.token && a.node == node && a.ended_at_ms.is_none())
        else {
            stale.push(c.job);
            continue;
        };
        let o = &c.outcome;
        attempt.ended_at_ms = Some(now_ms);
        // The start notice may not have been committed (a short job ends first).
        attempt.started_at_ms = attempt.started_at_ms.or(o.started_at_ms);
        attempt.exit_code = o.exit_code;
        attempt.signal = o.signal;
        attempt.fail_reason = if prev == JobState::Cancelled {
            Some(FailReason::Cancelled)
        } else {
            o.fail_reason()
        };
        attempt.wall_ms = Some(o.wall_ms);
        attempt.cpu_ms = Some(o.cpu_ms);
        attempt.max_rss_kb = Some(o.max_rss_kb);
        attempt.stdout = o.stdout.clone();
        attempt.stderr = o.stderr.clone();
        if prev.on_node() {
            rec.state = if o.succeeded() {
                JobState::Succeeded
            } else if o.requeues() {
                rec.after_lost_attempt()
            } else {
                JobState::Failed
            };
        }
        if rec.state == JobState::Queued {
            jobs::queue_push(txn, &rec);
        } else {
            rec.ended_at_ms = Some(now_ms);
        }
        jobs::save(txn, &rec, Some(prev))?;
        jobs::running_remove(txn, node, rec.id);
        accepted.push(rec.id);
    }
    Ok(Response::Completed { accepted, stale })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Completion, Request, Response};
    use shoal_types::{AttemptOutcome, FailReason, FencingToken, JobId, JobState, NodeId};

    fn done(job: JobId, token: FencingToken, code: i32) -> Completion {
        let outcome = AttemptOutcome {
            exit_code: Some(code),
            wall_ms: 10,
            cpu_ms: 4,
            max_rss_kb: 99,
            ..Default::default()
        };
        Completion {
            job,
            token,
            outcome,
        }
    }

    #[test]
    fn complete_checks_tokens_and_records_outcome() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        h.submit(&h.envelope(0));
        let (t, _) = h.run_at(Request::Lease {
            node: NodeId(3),
            max_jobs: 2,
            now_ms: 10,
        });
        let t = FencingToken(t);
        let r = h.run(Request::Complete {
            node: NodeId(3),
            results: vec![
                done(JobId(1), t, 0),
                done(JobId(2), FencingToken(t.0 + 99), 0),
                done(JobId(42), t, 0),
            ],
            now_ms: 20,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![JobId(1)],
                stale: vec![JobId(2), JobId(42)]
            }
        );
        let rec = h.view.get_job(JobId(1)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Succeeded);
        assert_eq!(rec.ended_at_ms, Some(20));
        let a = &rec.attempts[0];
        assert_eq!(
            (
                a.ended_at_ms,
                a.exit_code,
                a.wall_ms,
                a.cpu_ms,
                a.max_rss_kb
            ),
            (Some(20), Some(0), Some(10), Some(4), Some(99))
        );
        assert_eq!(a.fail_reason, None);
        // Wrong node, then a failure, then a duplicate.
        let r = h.run(Request::Complete {
            node: NodeId(4),
            results: vec![done(JobId(2), t, 1)],
            now_ms: 21,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![],
                stale: vec![JobId(2)]
            }
        );
        let r = h.run(Request::Complete {
            node: NodeId(3),
            results: vec![done(JobId(2), t, 1)],
            now_ms: 22,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![JobId(2)],
                stale: vec![]
            }
        );
        let rec = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Failed);
        assert_eq!(rec.attempts[0].fail_reason, Some(FailReason::ExitCode));
        let r = h.run(Request::Complete {
            node: NodeId(3),
            results: vec![done(JobId(2), t, 0)],
            now_ms: 23,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![],
                stale: vec![JobId(2)]
            }
        );
        assert!(h.view.running_on(NodeId(3)).unwrap().is_empty());
        assert_eq!(
            h.view.list_jobs(Some(JobState::Running), 10).unwrap().len(),
            0
        );
        assert_eq!(
            h.view.list_jobs(Some(JobState::Failed), 10).unwrap().len(),
            1
        );
    }

    #[test]
    fn a_lost_attempt_puts_the_job_back_in_the_queue() {
        let h = Harness::new();
        let id = h.submit(&h.envelope(0));
        let (t, _) = h.run_at(Request::Lease {
            node: NodeId(1),
            max_jobs: 1,
            now_ms: 5,
        });
        let outcome = AttemptOutcome {
            signal: Some(9),
            error: Some(FailReason::Lost),
            ..Default::default()
        };
        let r = h.run(Request::Complete {
            node: NodeId(1),
            results: vec![Completion {
                job: id,
                token: FencingToken(t),
                outcome,
            }],
            now_ms: 6,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![id],
                stale: vec![]
            }
        );
        let rec = h.view.get_job(id).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Queued);
        assert_eq!(rec.attempts[0].fail_reason, Some(FailReason::Lost));
        assert_eq!(rec.ended_at_ms, None);
        assert_eq!(h.view.queued_count().unwrap(), 1);
        assert!(h.view.running_on(NodeId(1)).unwrap().is_empty());
    }
}

//! RequeueNode: a node went away. Its running attempts (up to a lease index, when
//! given) end as Lost; the jobs go back to the queue at their old place (the queue
//! orders by priority and job id), except a job lost `max_lost` times, which fails
//! (`LostTooOften`).

use shoal_types::{FailReason, JobState, NodeId};

use crate::command::Response;
use crate::db::CF_RUNNING;
use crate::jobs;
use crate::keys;
use crate::txn::Txn;
use crate::StoreError;

pub fn requeue_node(
    txn: &mut Txn,
    node: NodeId,
    now_ms: u64,
    leased_up_to: Option<u64>,
) -> Result<Response, StoreError> {
    let running = txn.scan(CF_RUNNING, &keys::running_prefix(node), usize::MAX)?;
    let mut ids = Vec::new();
    for (key, token) in running {
        let id = keys::job_id_suffix("running key", &key)?;
        if leased_up_to.is_some_and(|up_to| keys::read_token(&token).is_ok_and(|t| t.0 > up_to)) {
            continue;
        }
        jobs::running_remove(txn, node, id);
        let Some(mut rec) = jobs::load(txn, id)? else {
            tracing::warn!(%id, "running entry without a job record; dropped");
            continue;
        };
        let prev = rec.state;
        if !(prev.on_node() || prev == JobState::Cancelled) {
            continue;
        }
        if let Some(a) = rec.attempts.last_mut().filter(|a| a.ended_at_ms.is_none()) {
            a.ended_at_ms = Some(now_ms);
            a.fail_reason = Some(FailReason::Lost);
        }
        if prev.on_node() {
            rec.state = rec.after_lost_attempt();
            if rec.state == JobState::Queued {
                jobs::queue_push(txn, &rec);
                ids.push(id);
            } else {
                rec.ended_at_ms = Some(now_ms);
            }
        }
        jobs::save(txn, &rec, Some(prev))?;
    }
    Ok(Response::Requeued { ids })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Request, Response};
    use shoal_types::{FailReason, JobId, JobState, NodeId};

    #[test]
    fn a_requeue_leaves_leases_granted_after_its_judgement() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        h.submit(&h.envelope(0));
        let lease = || {
            h.run(Request::Lease {
                node: NodeId(1),
                max_jobs: 1,
                now_ms: 5,
            })
        };
        lease();
        let judged_at = h.view.last_applied().unwrap();
        lease();
        let r = h.run(Request::RequeueNode {
            node: NodeId(1),
            now_ms: 7,
            leased_up_to: Some(judged_at),
        });
        assert_eq!(
            r,
            Response::Requeued {
                ids: vec![JobId(1)]
            }
        );
        let still = h.view.running_on(NodeId(1)).unwrap();
        assert_eq!(still.len(), 1);
        assert_eq!(still[0].0, JobId(2));
        assert!(still[0].1 .0 > judged_at);
    }

    #[test]
    fn requeue_returns_running_jobs_to_their_place() {
        let h = Harness::new();
        for _ in 0..4 {
            h.submit(&h.envelope(0));
        }
        h.run(Request::Lease {
            node: NodeId(1),
            max_jobs: 2,
            now_ms: 5,
        });
        h.run(Request::Lease {
            node: NodeId(2),
            max_jobs: 1,
            now_ms: 5,
        });
        h.run(Request::Cancel {
            ids: vec![JobId(2)],
            now_ms: 6,
        });
        let r = h.run(Request::RequeueNode {
            node: NodeId(1),
            now_ms: 7,
            leased_up_to: None,
        });
        assert_eq!(
            r,
            Response::Requeued {
                ids: vec![JobId(1)]
            }
        );
        assert!(h.view.running_on(NodeId(1)).unwrap().is_empty());
        assert_eq!(h.view.running_on(NodeId(2)).unwrap().len(), 1);
        let rec = h.view.get_job(JobId(1)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Queued);
        assert_eq!(rec.attempts[0].fail_reason, Some(FailReason::Lost));
        assert_eq!(rec.attempts[0].ended_at_ms, Some(7));
        let c = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(c.state, JobState::Cancelled);
        assert_eq!(c.attempts[0].fail_reason, Some(FailReason::Lost));
        assert_eq!(h.view.queued_count().unwrap(), 2);
        // Job 1 goes before job 4 again, and gets attempt 2.
        let r = h.run(Request::Lease {
            node: NodeId(3),
            max_jobs: 1,
            now_ms: 8,
        });
        let Response::Leased { jobs } = r else {
            panic!()
        };
        assert_eq!((jobs[0].id, jobs[0].attempt), (JobId(1), 2));
    }

    #[test]
    fn a_job_lost_max_lost_times_fails_and_stopped_attempts_do_not_count() {
        let h = Harness::new();
        let id = h.submit(&h.envelope(0));
        let mut spec = shoal_types::JobSpec::argv(vec!["true".into()], "/");
        spec.max_lost = Some(1);
        let once = h.submit(&h.envelope_of(spec));
        let lease_and_lose = |node: u64| {
            h.run(Request::Lease {
                node: NodeId(node),
                max_jobs: 10,
                now_ms: 5,
            });
            h.run(Request::RequeueNode {
                node: NodeId(node),
                now_ms: 6,
                leased_up_to: None,
            })
        };
        // The second job may be lost once: it fails at the first loss.
        assert_eq!(
            lease_and_lose(1),
            Response::Requeued { ids: vec![id] },
            "only the first job goes back"
        );
        let rec = h.view.get_job(once).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Failed);
        assert_eq!(rec.attempts[0].fail_reason, Some(FailReason::LostTooOften));
        assert_eq!(rec.ended_at_ms, Some(6));
        // An orderly stop's hand-back does not count.
        let r = h.run(Request::Lease {
            node: NodeId(2),
            max_jobs: 1,
            now_ms: 7,
        });
        let Response::Leased { jobs } = r else {
            panic!("{r:?}")
        };
        h.run(Request::Complete {
            node: NodeId(2),
            results: vec![crate::command::Completion {
                job: id,
                token: jobs[0].token,
                outcome: shoal_types::AttemptOutcome {
                    error: Some(FailReason::Stopped),
                    ..Default::default()
                },
            }],
            now_ms: 8,
        });
        assert_eq!(h.state(id), JobState::Queued);
        // Lost twice more (three in all, the default): it fails.
        assert_eq!(lease_and_lose(3), Response::Requeued { ids: vec![id] });
        assert_eq!(lease_and_lose(4), Response::Requeued { ids: vec![] });
        let rec = h.view.get_job(id).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Failed);
        let reasons: Vec<_> = rec.attempts.iter().map(|a| a.fail_reason.clone()).collect();
        assert_eq!(
            reasons,
            [
                Some(FailReason::Lost),
                Some(FailReason::Stopped),
                Some(FailReason::Lost),
                Some(FailReason::LostTooOften)
            ]
        );
        assert_eq!(h.view.queued_count().unwrap(), 0);
    }
}

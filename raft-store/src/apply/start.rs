//! Start: a node's processes started. Each notice moves its job from Leased to
//! Running and records the start time, but only while the notice's lease is the
//! job's open attempt on that node: a notice that arrives after the completion, a
//! cancel or a requeue changes nothing.

use shoal_types::{JobState, NodeId};

use crate::command::{Response, StartNotice};
use crate::jobs;
use crate::txn::Txn;
use crate::StoreError;

pub fn start(txn: &mut Txn, node: NodeId, starts: &[StartNotice]) -> Result<Response, StoreError> {
    let mut accepted = Vec::new();
    for s in starts {
        let Some(mut rec) = jobs::load(txn, s.job)? else {
            continue;
        };
        let prev = rec.state;
        if prev != JobState::Leased {
            continue;
        }
        let Some(attempt) = rec
            .attempts
            .last_mut()
            .filter(|a| a.token == s.token && a.node == node && a.ended_at_ms.is_none())
        else {
            continue;
        };
        attempt.started_at_ms = Some(s.at_ms);
        rec.state = JobState::Running;
        jobs::save(txn, &rec, Some(prev))?;
        accepted.push(rec.id);
    }
    Ok(Response::Started { accepted })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Completion, Request, Response, StartNotice};
    use shoal_types::{AttemptOutcome, FencingToken, JobId, JobState, NodeId};

    fn lease(h: &Harness, node: u64) -> FencingToken {
        let (idx, _) = h.run_at(Request::Lease {
            node: NodeId(node),
            max_jobs: 1,
            now_ms: 100,
        });
        FencingToken(idx)
    }

    fn notice(job: u64, token: FencingToken, at_ms: u64) -> StartNotice {
        StartNotice {
            job: JobId(job),
            token,
            at_ms,
        }
    }

    #[test]
    fn a_start_notice_makes_a_leased_job_running_with_its_time() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        let token = lease(&h, 3);
        assert_eq!(h.state(JobId(1)), JobState::Leased);
        let r = h.run(Request::Start {
            node: NodeId(3),
            starts: vec![notice(1, token, 150)],
        });
        assert_eq!(
            r,
            Response::Started {
                accepted: vec![JobId(1)]
            }
        );
        let rec = h.view.get_job(JobId(1)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Running);
        assert_eq!(rec.attempts[0].leased_at_ms, 100);
        assert_eq!(rec.attempts[0].started_at_ms, Some(150));
    }

    #[test]
    fn notices_for_another_node_an_old_lease_or_a_finished_job_change_nothing() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        h.submit(&h.envelope(0));
        let t1 = lease(&h, 3);
        let t2 = lease(&h, 3);
        // Job 2 finished before its notice was committed; its outcome has the time.
        h.run(Request::Complete {
            node: NodeId(3),
            results: vec![Completion {
                job: JobId(2),
                token: t2,
                outcome: AttemptOutcome {
                    exit_code: Some(0),
                    started_at_ms: Some(120),
                    ..Default::default()
                },
            }],
            now_ms: 130,
        });
        let r = h.run(Request::Start {
            node: NodeId(4),
            starts: vec![
                notice(1, t1, 150),
                notice(1, FencingToken(t1.0 + 100), 150),
                notice(2, t2, 150),
                notice(99, t1, 150),
            ],
        });
        assert_eq!(r, Response::Started { accepted: vec![] });
        let r = h.run(Request::Start {
            node: NodeId(3),
            starts: vec![notice(1, FencingToken(t1.0 + 100), 150), notice(2, t2, 150)],
        });
        assert_eq!(r, Response::Started { accepted: vec![] });
        assert_eq!(h.state(JobId(1)), JobState::Leased);
        let done = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.attempts[0].started_at_ms, Some(120));
    }

    #[test]
    fn a_leased_job_can_be_cancelled_and_requeued_like_a_running_one() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        h.submit(&h.envelope(0));
        lease(&h, 3);
        lease(&h, 3);
        let r = h.run(Request::Cancel {
            ids: vec![JobId(1)],
            now_ms: 200,
        });
        assert_eq!(
            r,
            Response::Cancelled {
                results: vec![(JobId(1), shoal_types::api::CancelOutcome::Killed)]
            }
        );
        let r = h.run(Request::RequeueNode {
            node: NodeId(3),
            now_ms: 210,
            leased_up_to: None,
        });
        assert_eq!(
            r,
            Response::Requeued {
                ids: vec![JobId(2)]
            }
        );
        assert_eq!(h.state(JobId(2)), JobState::Queued);
        assert_eq!(h.view.queued_count().unwrap(), 1);
    }
}

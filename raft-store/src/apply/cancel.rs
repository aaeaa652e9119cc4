//! Cancel: a queued job is dropped from the queue; a running one is marked Cancelled
//! and keeps its `running` index entry so the kill's completion is still recorded.

use shoal_types::api::CancelOutcome;
use shoal_types::{JobId, JobState};

use crate::command::Response;
use crate::jobs;
use crate::txn::Txn;
use crate::StoreError;

pub fn cancel(txn: &mut Txn, ids: &[JobId], now_ms: u64) -> Result<Response, StoreError> {
    let mut results = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(mut rec) = jobs::load(txn, id)? else {
            results.push((id, CancelOutcome::NotFound));
            continue;
        };
        let prev = rec.state;
        let outcome = match prev {
            s if s.is_terminal() => {
                results.push((id, CancelOutcome::AlreadyFinished));
                continue;
            }
            JobState::Queued => {
                jobs::queue_remove(txn, &rec);
                CancelOutcome::Cancelled
            }
            s if s.on_node() => CancelOutcome::Killed,
            _ => CancelOutcome::Cancelled,
        };
        rec.state = JobState::Cancelled;
        rec.ended_at_ms = Some(now_ms);
        jobs::save(txn, &rec, Some(prev))?;
        results.push((id, outcome));
    }
    Ok(Response::Cancelled { results })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Completion, Request, Response};
    use shoal_types::api::CancelOutcome;
    use shoal_types::{AttemptOutcome, FailReason, FencingToken, JobId, JobState, NodeId};

    #[test]
    fn cancel_each_state() {
        let h = Harness::new();
        h.submit(&h.envelope(1));
        h.submit(&h.envelope(0));
        let (t, _) = h.run_at(Request::Lease {
            node: NodeId(1),
            max_jobs: 1,
            now_ms: 5,
        });
        let r = h.run(Request::Cancel {
            ids: vec![JobId(2), JobId(1), JobId(9)],
            now_ms: 6,
        });
        assert_eq!(
            r,
            Response::Cancelled {
                results: vec![
                    (JobId(2), CancelOutcome::Cancelled),
                    (JobId(1), CancelOutcome::Killed),
                    (JobId(9), CancelOutcome::NotFound)
                ]
            }
        );
        assert_eq!(h.view.queued_count().unwrap(), 0);
        let r = h.run(Request::Lease {
            node: NodeId(1),
            max_jobs: 5,
            now_ms: 7,
        });
        assert_eq!(r, Response::Leased { jobs: vec![] });
        assert_eq!(
            h.view.running_on(NodeId(1)).unwrap(),
            vec![(JobId(1), FencingToken(t))]
        );
        let outcome = AttemptOutcome {
            signal: Some(9),
            ..Default::default()
        };
        let r = h.run(Request::Complete {
            node: NodeId(1),
            results: vec![Completion {
                job: JobId(1),
                token: FencingToken(t),
                outcome,
            }],
            now_ms: 8,
        });
        assert_eq!(
            r,
            Response::Completed {
                accepted: vec![JobId(1)],
                stale: vec![]
            }
        );
        let rec = h.view.get_job(JobId(1)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Cancelled);
        assert_eq!(rec.attempts[0].fail_reason, Some(FailReason::Cancelled));
        assert_eq!(rec.attempts[0].signal, Some(9));
        assert!(h.view.running_on(NodeId(1)).unwrap().is_empty());
        let r = h.run(Request::Cancel {
            ids: vec![JobId(1)],
            now_ms: 9,
        });
        assert_eq!(
            r,
            Response::Cancelled {
                results: vec![(JobId(1), CancelOutcome::AlreadyFinished)]
            }
        );
        assert_eq!(
            h.view
                .list_jobs(Some(JobState::Cancelled), 10)
                .unwrap()
                .len(),
            2
        );
    }
}

//! Release: a held job becomes queued. Its queue key is its priority and id, so it
//! takes the place it would have had if it had never been held.

use shoal_types::api::ReleaseOutcome;
use shoal_types::{JobId, JobState};

use crate::command::Response;
use crate::jobs;
use crate::txn::Txn;
use crate::StoreError;

pub fn release(txn: &mut Txn, ids: &[JobId]) -> Result<Response, StoreError> {
    let mut results = Vec::with_capacity(ids.len());
    for &id in ids {
        let outcome = match jobs::load(txn, id)? {
            None => ReleaseOutcome::NotFound,
            Some(rec) if rec.state != JobState::Held => ReleaseOutcome::NotHeld,
            Some(mut rec) => {
                rec.state = JobState::Queued;
                jobs::save(txn, &rec, Some(JobState::Held))?;
                jobs::queue_push(txn, &rec);
                ReleaseOutcome::Released
            }
        };
        results.push((id, outcome));
    }
    Ok(Response::Released { results })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Request, Response};
    use shoal_types::api::{CancelOutcome, ReleaseOutcome};
    use shoal_types::{JobId, JobState, NodeId};

    #[test]
    fn held_jobs_wait_until_released_then_keep_their_place() {
        let h = Harness::new();
        let held = h.submit(&h.held_envelope(0));
        let plain = h.submit(&h.envelope(0));
        let cancelled = h.submit(&h.held_envelope(0));
        assert_eq!(h.view.get_job(held).unwrap().unwrap().state, JobState::Held);
        assert_eq!(h.view.queued_count().unwrap(), 1);

        let lease = |max_jobs| match h.run(Request::Lease {
            node: NodeId(1),
            max_jobs,
            now_ms: 5,
        }) {
            Response::Leased { jobs } => jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            r => panic!("{r:?}"),
        };
        let r = h.run(Request::Cancel {
            ids: vec![cancelled],
            now_ms: 3,
        });
        assert_eq!(
            r,
            Response::Cancelled {
                results: vec![(cancelled, CancelOutcome::Cancelled)]
            }
        );
        let r = h.run(Request::Release {
            ids: vec![held, plain, cancelled, JobId(99)],
        });
        assert_eq!(
            r,
            Response::Released {
                results: vec![
                    (held, ReleaseOutcome::Released),
                    (plain, ReleaseOutcome::NotHeld),
                    (cancelled, ReleaseOutcome::NotHeld),
                    (JobId(99), ReleaseOutcome::NotFound),
                ]
            }
        );
        // Released first-submitted job runs before the later one, and the cancelled
        // one never does.
        assert_eq!(lease(5), vec![held, plain]);
        assert_eq!(h.view.queued_count().unwrap(), 0);
    }
}

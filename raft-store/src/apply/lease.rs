//! Lease: hand the front of the queue to a node. The fencing token of every lease
//! is the log index of the entry that granted it. A leased job is `Leased` until its
//! node says the process started (see `start`).

use shoal_types::{Attempt, FencingToken, JobState, NodeId};

use crate::command::{LeasedJob, Response};
use crate::db::CF_QUEUE;
use crate::jobs;
use crate::keys;
use crate::limits::MAX_LEASE_BYTES;
use crate::txn::Txn;
use crate::StoreError;

pub fn lease(
    txn: &mut Txn,
    log_index: u64,
    node: NodeId,
    max_jobs: u32,
    now_ms: u64,
) -> Result<Response, StoreError> {
    let token = FencingToken(log_index);
    if txn.meta.drained.contains(&node.0) || txn.meta.retired.contains(&node.0) {
        return Ok(Response::Leased { jobs: Vec::new() });
    }
    // Nothing queued lives below the floor (see `Txn::queue_floor`); everything
    // from it to the last key taken here is leased or dead afterwards.
    let floor = txn.queue_floor.clone().unwrap_or_default();
    let front = txn.scan_from(CF_QUEUE, &[], &floor, max_jobs as usize)?;
    let mut leased = Vec::with_capacity(front.len());
    let mut bytes = 0;
    for (key, _) in front {
        let id = keys::job_id_suffix("queue key", &key)?;
        let Some(mut rec) = jobs::load(txn, id)? else {
            tracing::warn!(%id, "queue entry without a job record; dropped");
            jobs::queue_remove_key(txn, &key);
            txn.queue_floor = Some(key);
            continue;
        };
        // The reply must fit one network frame: past the byte bound, the rest
        // stays queued for the next lease.
        bytes += rec.envelope.body.len() + rec.envelope.signature.len();
        if bytes > MAX_LEASE_BYTES && !leased.is_empty() {
            break;
        }
        jobs::queue_remove_key(txn, &key);
        txn.queue_floor = Some(key);
        let prev = rec.state;
        let n = rec.attempts.len() as u32 + 1;
        rec.attempts.push(Attempt {
            n,
            node,
            token,
            leased_at_ms: now_ms,
            started_at_ms: None,
            ended_at_ms: None,
            exit_code: None,
            signal: None,
            fail_reason: None,
            wall_ms: None,
            cpu_ms: None,
            max_rss_kb: None,
            stdout: None,
            stderr: None,
        });
        rec.state = JobState::Leased;
        jobs::save(txn, &rec, Some(prev))?;
        jobs::running_put(txn, node, id, token);
        leased.push(LeasedJob {
            id,
            attempt: n,
            token,
            envelope: rec.envelope,
            array_index: rec.array_index,
        });
    }
    Ok(Response::Leased { jobs: leased })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Request, Response};
    use shoal_types::{FencingToken, JobId, JobState, NodeId};

    #[test]
    fn lease_takes_priority_then_fifo() {
        let h = Harness::new();
        for p in [0, 5, -3, 5, 0] {
            h.submit(&h.envelope(p));
        }
        let (idx, r) = h.run_at(Request::Lease {
            node: NodeId(7),
            max_jobs: 3,
            now_ms: 500,
        });
        let Response::Leased { jobs } = r else {
            panic!("{r:?}")
        };
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        assert_eq!(ids, [JobId(2), JobId(4), JobId(1)]);
        assert!(jobs
            .iter()
            .all(|j| j.token == FencingToken(idx) && j.attempt == 1));
        let rec = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Leased);
        assert_eq!(rec.attempts[0].leased_at_ms, 500);
        assert_eq!(rec.attempts[0].started_at_ms, None);
        assert_eq!(rec.attempts[0].node, NodeId(7));
        assert_eq!(h.view.queued_count().unwrap(), 2);
        assert_eq!(h.view.running_on(NodeId(7)).unwrap().len(), 3);
        let r = h.run(Request::Lease {
            node: NodeId(8),
            max_jobs: 10,
            now_ms: 501,
        });
        let Response::Leased { jobs } = r else {
            panic!()
        };
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        assert_eq!(ids, [JobId(5), JobId(3)]);
        assert_eq!(h.view.queued_count().unwrap(), 0);
        let r = h.run(Request::Lease {
            node: NodeId(8),
            max_jobs: 10,
            now_ms: 502,
        });
        assert_eq!(r, Response::Leased { jobs: vec![] });
    }

    #[test]
    fn jobs_queued_ahead_of_the_leased_front_are_still_found() {
        let h = Harness::new();
        for _ in 0..3 {
            h.submit(&h.envelope(0));
        }
        let ids = |r: Response| match r {
            Response::Leased { jobs } => jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            r => panic!("{r:?}"),
        };
        let lease = |n| {
            ids(h.run(Request::Lease {
                node: NodeId(1),
                max_jobs: n,
                now_ms: 1,
            }))
        };
        assert_eq!(lease(2), [JobId(1), JobId(2)]);
        // A higher priority sorts before everything leased so far.
        h.submit(&h.envelope(9));
        // Requeued jobs go back to their old place, before the front as well.
        h.run(Request::RequeueNode {
            node: NodeId(1),
            now_ms: 2,
            leased_up_to: None,
        });
        assert_eq!(lease(10), [JobId(4), JobId(1), JobId(2), JobId(3)]);
        assert_eq!(lease(10), Vec::<JobId>::new());
        h.submit(&h.envelope(-1));
        assert_eq!(lease(10), [JobId(5)]);
    }

    #[test]
    fn lease_in_one_batch_sees_earlier_submits_and_leases() {
        let h = Harness::new();
        let out = h.run_batch(vec![
            Request::Submit {
                envelope: h.envelope(0),
                now_ms: 1,
            },
            Request::Submit {
                envelope: h.envelope(1),
                now_ms: 1,
            },
            Request::Lease {
                node: NodeId(1),
                max_jobs: 1,
                now_ms: 2,
            },
            Request::Lease {
                node: NodeId(2),
                max_jobs: 5,
                now_ms: 2,
            },
        ]);
        let ids = |r: &Response| match r {
            Response::Leased { jobs } => jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            _ => panic!("{r:?}"),
        };
        assert_eq!(ids(&out[2]), [JobId(2)]);
        assert_eq!(ids(&out[3]), [JobId(1)]);
        assert_eq!(h.view.queued_count().unwrap(), 0);
    }

    #[test]
    fn nodes_running_lists_each_node_with_work_once() {
        let h = Harness::new();
        assert!(h.view.nodes_running().unwrap().is_empty());
        for _ in 0..4 {
            h.submit(&h.envelope(0));
        }
        for (node, n) in [(u64::MAX, 1), (5, 2), (1, 1)] {
            h.run(Request::Lease {
                node: NodeId(node),
                max_jobs: n,
                now_ms: 3,
            });
        }
        assert_eq!(
            h.view.nodes_running().unwrap(),
            vec![NodeId(1), NodeId(5), NodeId(u64::MAX)]
        );
    }

    #[test]
    fn a_drained_node_leases_nothing_until_undrained() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        let drain = |drained| {
            h.run(Request::SetDrain {
                node: NodeId(4),
                drained,
            })
        };
        assert_eq!(drain(true), Response::DrainSet { changed: true });
        assert_eq!(drain(true), Response::DrainSet { changed: false });
        assert_eq!(h.view.drained().unwrap(), [4].into());
        let lease = || {
            h.run(Request::Lease {
                node: NodeId(4),
                max_jobs: 5,
                now_ms: 1,
            })
        };
        assert_eq!(lease(), Response::Leased { jobs: vec![] });
        assert_eq!(drain(false), Response::DrainSet { changed: true });
        match lease() {
            Response::Leased { jobs } => assert_eq!(jobs[0].id, JobId(1)),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_retired_node_leases_nothing_and_a_snapshot_keeps_it_retired() {
        let h = Harness::new();
        h.submit(&h.envelope(0));
        let retire = || h.run(Request::Retire { node: NodeId(4) });
        assert_eq!(retire(), Response::Retired { changed: true });
        assert_eq!(retire(), Response::Retired { changed: false });
        let lease = |h: &Harness| {
            h.run(Request::Lease {
                node: NodeId(4),
                max_jobs: 5,
                now_ms: 1,
            })
        };
        assert_eq!(lease(&h), Response::Leased { jobs: vec![] });
        let copy = h.snapshot_copy();
        assert_eq!(copy.view.retired().unwrap(), [4].into());
        assert_eq!(lease(&copy), Response::Leased { jobs: vec![] });
    }
}

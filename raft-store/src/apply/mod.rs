//! Dispatch of one [`Request`] to its transition. Each transition lives in its own
//! file, reads through the [`Txn`] and is pure: time comes from the request.

mod cancel;
mod complete;
mod lease;
mod release;
mod requeue;
mod start;
mod submit;

#[cfg(test)]
mod array_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod test_util;

use crate::command::{Request, Response};
use crate::txn::Txn;
use crate::StoreError;

/// Applies `req`, the entry at `log_index`, into `txn`.
pub fn apply(txn: &mut Txn, log_index: u64, req: &Request) -> Result<Response, StoreError> {
    // Proposers check this too; an entry that got past them (a rogue or buggy
    // leader) is refused here the same way on every node.
    if let Err(reason) = crate::limits::check(req) {
        tracing::warn!(index = log_index, %reason, "entry refused");
        return Ok(Response::Refused { reason });
    }
    match req {
        Request::Submit { envelope, now_ms } => submit::submit(txn, envelope, *now_ms),
        Request::SubmitBatch { envelopes, now_ms } => submit::submit_batch(txn, envelopes, *now_ms),
        Request::Lease {
            node,
            max_jobs,
            now_ms,
        } => lease::lease(txn, log_index, *node, *max_jobs, *now_ms),
        Request::Start { node, starts } => start::start(txn, *node, starts),
        Request::Complete {
            node,
            results,
            now_ms,
        } => complete::complete(txn, *node, results, *now_ms),
        Request::Cancel { ids, now_ms } => cancel::cancel(txn, ids, *now_ms),
        Request::Release { ids } => release::release(txn, ids),
        Request::SetDrain { node, drained } => {
            let changed = if *drained {
                txn.meta.drained.insert(node.0)
            } else {
                txn.meta.drained.remove(&node.0)
            };
            Ok(Response::DrainSet { changed })
        }
        Request::Retire { node } => Ok(Response::Retired {
            changed: txn.meta.retired.insert(node.0),
        }),
        Request::RequeueNode {
            node,
            now_ms,
            leased_up_to,
        } => requeue::requeue_node(txn, *node, *now_ms, *leased_up_to),
    }
}

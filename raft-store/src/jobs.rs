//! Record-level operations on a [`Txn`]: load and save a [`JobRecord`] while keeping
//! the `by_state`, `queue` and `running` indexes and the queued count in step.

use shoal_types::{FencingToken, JobId, JobRecord, JobState, NodeId};

use crate::arrays;
use crate::codec::encode;
use crate::db::{CF_ARRAYS, CF_BY_STATE, CF_JOBS, CF_QUEUE, CF_RUNNING};
use crate::keys;
use crate::txn::Txn;
use crate::StoreError;

pub fn load(txn: &Txn, id: JobId) -> Result<Option<JobRecord>, StoreError> {
    txn.get(CF_JOBS, &keys::job_key(id))?
        .map(|b| arrays::decode_record(&b, |k| txn.get(CF_ARRAYS, k)))
        .transpose()
}

/// Writes `rec`, moving its `by_state` entry if its state changed from `prev`.
pub fn save(txn: &mut Txn, rec: &JobRecord, prev: Option<JobState>) -> Result<(), StoreError> {
    let stored = arrays::stored_form(rec);
    txn.put(
        CF_JOBS,
        &keys::job_key(rec.id),
        encode("job record", &*stored)?,
    );
    if prev != Some(rec.state) {
        if let Some(p) = prev {
            txn.delete(CF_BY_STATE, &keys::by_state_key(p, rec.id));
        }
        txn.put(
            CF_BY_STATE,
            &keys::by_state_key(rec.state, rec.id),
            Vec::new(),
        );
    }
    Ok(())
}

/// The priority a record is queued under. The envelope was parsed at submit, so
/// the fallback only matters for a corrupted record, and it is deterministic.
pub fn priority(rec: &JobRecord) -> i32 {
    rec.spec().map(|s| s.priority).unwrap_or(0)
}

pub fn queue_push(txn: &mut Txn, rec: &JobRecord) {
    queue_push_at(txn, priority(rec), rec.id);
}

/// [`queue_push`] with the priority already known (an array's tasks share one).
pub fn queue_push_at(txn: &mut Txn, priority: i32, id: JobId) {
    let key = keys::queue_key(priority, id);
    if txn.queue_floor.as_deref().is_some_and(|f| key[..] < *f) {
        txn.queue_floor = Some(key.to_vec());
    }
    txn.put(CF_QUEUE, &key, keys::job_key(id).to_vec());
    txn.meta.queued += 1;
}

pub fn queue_remove_key(txn: &mut Txn, key: &[u8]) {
    txn.delete(CF_QUEUE, key);
    txn.meta.queued = txn.meta.queued.saturating_sub(1);
}

pub fn queue_remove(txn: &mut Txn, rec: &JobRecord) {
    queue_remove_key(txn, &keys::queue_key(priority(rec), rec.id));
}

pub fn running_put(txn: &mut Txn, node: NodeId, id: JobId, token: FencingToken) {
    txn.put(
        CF_RUNNING,
        &keys::running_key(node, id),
        keys::token_value(token).to_vec(),
    );
}

pub fn running_remove(txn: &mut Txn, node: NodeId, id: JobId) {
    txn.delete(CF_RUNNING, &keys::running_key(node, id));
}

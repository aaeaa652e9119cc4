//! The state machine's own metadata in the `sm_meta` column family: last applied log
//! id, last membership, next job id, the number of queued jobs, the drained nodes
//! and the retired ones, one key each.

use std::collections::BTreeSet;

use openraft::{BasicNode, LogId, StoredMembership};
use rocksdb::{WriteBatch, DB};

use crate::codec::{decode, encode};
use crate::db::{cf, rocks_err, CF_SM_META};
use crate::StoreError;

pub const KEY_LAST_APPLIED: &[u8] = b"last_applied";
pub const KEY_LAST_MEMBERSHIP: &[u8] = b"last_membership";
pub const KEY_NEXT_JOB_ID: &[u8] = b"next_job_id";
pub const KEY_QUEUED: &[u8] = b"queued_count";
pub const KEY_SNAPSHOT: &[u8] = b"snapshot";
pub const KEY_DRAINED: &[u8] = b"drained";
pub const KEY_RETIRED: &[u8] = b"retired";

/// The metadata fields, loaded at the start of an apply and written with its batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SmMeta {
    pub last_applied: Option<LogId<u64>>,
    pub last_membership: StoredMembership<u64, BasicNode>,
    /// The id the next accepted submission gets (ids start at 1).
    pub next_job_id: u64,
    pub queued: u64,
    /// Nodes that take no new work (`shoal drain`).
    pub drained: BTreeSet<u64>,
    /// Nodes taken out of the cluster for good (`shoal node remove`): never members
    /// again, never given work.
    pub retired: BTreeSet<u64>,
}

impl Default for SmMeta {
    fn default() -> Self {
        SmMeta {
            last_applied: None,
            last_membership: StoredMembership::default(),
            next_job_id: 1,
            queued: 0,
            drained: BTreeSet::new(),
            retired: BTreeSet::new(),
        }
    }
}

/// Reads one metadata value.
pub fn get<T: serde::de::DeserializeOwned>(
    db: &DB,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    let v = db
        .get_cf(cf(db, CF_SM_META)?, key)
        .map_err(|e| rocks_err(db, e))?;
    v.map(|b| decode(what, &b)).transpose()
}

impl SmMeta {
    pub fn load(db: &DB) -> Result<SmMeta, StoreError> {
        let d = SmMeta::default();
        Ok(SmMeta {
            last_applied: get(db, KEY_LAST_APPLIED, "last applied log id")?
                .unwrap_or(d.last_applied),
            last_membership: get(db, KEY_LAST_MEMBERSHIP, "last membership")?
                .unwrap_or(d.last_membership),
            next_job_id: get(db, KEY_NEXT_JOB_ID, "next job id")?.unwrap_or(d.next_job_id),
            queued: get(db, KEY_QUEUED, "queued count")?.unwrap_or(d.queued),
            drained: get(db, KEY_DRAINED, "drained nodes")?.unwrap_or(d.drained),
            retired: get(db, KEY_RETIRED, "retired nodes")?.unwrap_or(d.retired),
        })
    }

    /// Adds every field to `batch`.
    pub fn write(&self, db: &DB, batch: &mut WriteBatch) -> Result<(), StoreError> {
        let h = cf(db, CF_SM_META)?;
        batch.put_cf(
            h,
            KEY_LAST_APPLIED,
            encode("last applied log id", &self.last_applied)?,
        );
        batch.put_cf(
            h,
            KEY_LAST_MEMBERSHIP,
            encode("last membership", &self.last_membership)?,
        );
        batch.put_cf(
            h,
            KEY_NEXT_JOB_ID,
            encode("next job id", &self.next_job_id)?,
        );
        batch.put_cf(h, KEY_QUEUED, encode("queued count", &self.queued)?);
        batch.put_cf(h, KEY_DRAINED, encode("drained nodes", &self.drained)?);
        batch.put_cf(h, KEY_RETIRED, encode("retired nodes", &self.retired)?);
        Ok(())
    }
}

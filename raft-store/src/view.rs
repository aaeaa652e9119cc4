//! [`StoreView`]: cheap, cloneable, read-only queries over the state machine for the
//! API and the scheduler, plus a watch channel that ticks after every apply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, DB};
use shoal_types::{FencingToken, JobId, JobRecord, JobState, NodeId};
use tokio::sync::watch;

use crate::arrays;
use crate::db::{cf, rocks_err, CF_ARRAYS, CF_BY_STATE, CF_JOBS, CF_RUNNING};
use crate::keys;
use crate::sm_meta::SmMeta;
use crate::StoreError;

/// The last applied index, shared by the state machine (writer) and views (readers).
#[derive(Debug)]
pub(crate) struct AppliedSignal {
    /// Index + 1; 0 means nothing applied yet.
    last: AtomicU64,
    tx: watch::Sender<u64>,
}

impl AppliedSignal {
    pub(crate) fn new(last_applied: Option<u64>) -> AppliedSignal {
        let (tx, _) = watch::channel(last_applied.unwrap_or(0));
        AppliedSignal {
            last: AtomicU64::new(last_applied.map_or(0, |i| i + 1)),
            tx,
        }
    }

    pub(crate) fn publish(&self, last_applied: Option<u64>) {
        self.last
            .store(last_applied.map_or(0, |i| i + 1), Ordering::Release);
        self.tx.send_replace(last_applied.unwrap_or(0));
    }

    fn get(&self) -> Option<u64> {
        self.last.load(Ordering::Acquire).checked_sub(1)
    }
}

/// Read-only access to jobs and indexes.
#[derive(Debug, Clone)]
pub struct StoreView {
    db: Arc<DB>,
    applied: Arc<AppliedSignal>,
}

impl StoreView {
    /// The store itself, for tests that look at what is written.
    #[cfg(test)]
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn new(db: Arc<DB>, applied: Arc<AppliedSignal>) -> StoreView {
        StoreView { db, applied }
    }

    /// A stored record, with its array's envelope if it is an array task.
    fn decode_record(&self, bytes: &[u8]) -> Result<JobRecord, StoreError> {
        arrays::decode_record(bytes, |k| {
            let h = cf(&self.db, CF_ARRAYS)?;
            self.db.get_cf(h, k).map_err(|e| rocks_err(&self.db, e))
        })
    }

    pub fn get_job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        let h = cf(&self.db, CF_JOBS)?;
        let v = self
            .db
            .get_cf(h, keys::job_key(id))
            .map_err(|e| rocks_err(&self.db, e))?;
        v.map(|b| self.decode_record(&b)).transpose()
    }

    /// Up to `limit` jobs, newest (highest id) first, optionally only in `state`.
    pub fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut out = Vec::new();
        match state {
            None => {
                let h = cf(&self.db, CF_JOBS)?;
                for item in self.db.iterator_cf(h, IteratorMode::End) {
                    if out.len() >= limit {
                        break;
                    }
                    let (_, v) = item.map_err(|e| rocks_err(&self.db, e))?;
                    out.push(self.decode_record(&v)?);
                }
            }
            Some(s) => {
                let h = cf(&self.db, CF_BY_STATE)?;
                let from = keys::by_state_key(s, JobId(u64::MAX));
                for item in self
                    .db
                    .iterator_cf(h, IteratorMode::From(&from, Direction::Reverse))
                {
                    if out.len() >= limit {
                        break;
                    }
                    let (k, _) = item.map_err(|e| rocks_err(&self.db, e))?;
                    if k.first() != Some(&s.code()) {
                        break;
                    }
                    let id = keys::job_id_suffix("by_state key", &k)?;
                    match self.get_job(id)? {
                        Some(r) => out.push(r),
                        None => tracing::warn!(%id, "by_state entry without a job record"),
                    }
                }
            }
        }
        Ok(out)
    }

    /// How many jobs are Queued.
    pub fn queued_count(&self) -> Result<u64, StoreError> {
        Ok(SmMeta::load(&self.db)?.queued)
    }

    /// The jobs whose current attempt runs on `node`, with their lease tokens.
    pub fn running_on(&self, node: NodeId) -> Result<Vec<(JobId, FencingToken)>, StoreError> {
        let h = cf(&self.db, CF_RUNNING)?;
        let prefix = keys::running_prefix(node);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(h, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| rocks_err(&self.db, e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((
                keys::job_id_suffix("running key", &k)?,
                keys::read_token(&v)?,
            ));
        }
        Ok(out)
    }

    /// Every node that has at least one running attempt (the `running` index is
    /// ordered by node, so this skips from one node's keys to the next).
    pub fn nodes_running(&self) -> Result<Vec<NodeId>, StoreError> {
        let h = cf(&self.db, CF_RUNNING)?;
        let mut out = Vec::new();
        let mut from = [0u8; 8];
        loop {
            let mut it = self
                .db
                .iterator_cf(h, IteratorMode::From(&from, Direction::Forward));
            let Some(item) = it.next() else {
                break;
            };
            let (k, _) = item.map_err(|e| rocks_err(&self.db, e))?;
            let Some(node) = k
                .get(..8)
                .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
            else {
                break;
            };
            out.push(NodeId(node));
            match node.checked_add(1) {
                Some(next) => from = next.to_be_bytes(),
                None => break,
            }
        }
        Ok(out)
    }

    /// Nodes that take no new work.
    pub fn drained(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        Ok(
            crate::sm_meta::get(&self.db, crate::sm_meta::KEY_DRAINED, "drained nodes")?
                .unwrap_or_default(),
        )
    }

    /// Nodes taken out of the cluster for good.
    pub fn retired(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        Ok(
            crate::sm_meta::get(&self.db, crate::sm_meta::KEY_RETIRED, "retired nodes")?
                .unwrap_or_default(),
        )
    }

    /// The index of the last applied log entry, if any.
    pub fn last_applied(&self) -> Option<u64> {
        self.applied.get()
    }

    /// Ticks with the last applied index (0 before anything) after every apply.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.tx.subscribe()
    }
}

//! [`StateMachineStore`]: the job state machine, living in RocksDB. One `apply` call
//! becomes one `WriteBatch` holding every entry's effects and the new last-applied id.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use rocksdb::{WriteOptions, DB};

use crate::command::Response;
use crate::db::rocks_err;
use crate::sm_meta::SmMeta;
use crate::snapshot::{self, SnapshotBuilder};
use crate::txn::Txn;
use crate::view::AppliedSignal;
use crate::{apply, StoreError, TypeConfig};

/// The raft state machine over the shared database.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    db: Arc<DB>,
    applied: Arc<AppliedSignal>,
    /// [`Txn::queue_floor`] carried from one apply call to the next. Only an
    /// optimization: a scan from it finds exactly what a scan from the start would.
    /// Forgotten on restart and on snapshot install.
    queue_floor: Arc<Mutex<Option<Vec<u8>>>>,
}

pub(crate) fn sm_write_err(e: StoreError) -> StorageError<u64> {
    StorageIOError::write_state_machine(&e).into()
}

fn sm_read_err(e: StoreError) -> StorageError<u64> {
    StorageIOError::read_state_machine(&e).into()
}

impl StateMachineStore {
    pub(crate) fn new(db: Arc<DB>, applied: Arc<AppliedSignal>) -> StateMachineStore {
        StateMachineStore {
            db,
            applied,
            queue_floor: Arc::default(),
        }
    }

    fn floor(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        // A poisoned lock only means another apply panicked; the floor is still a
        // valid lower bound or None.
        self.queue_floor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn apply_entries(
        &self,
        entries: impl Iterator<Item = Entry<TypeConfig>>,
    ) -> Result<Vec<Response>, StoreError> {
        let mut txn = Txn::begin(&self.db)?;
        txn.queue_floor = self.floor().clone();
        let mut replies = Vec::new();
        for entry in entries {
            tracing::debug!(log_id = %entry.log_id, "apply");
            txn.meta.last_applied = Some(entry.log_id);
            let reply = match &entry.payload {
                EntryPayload::Blank => Response::None,
                EntryPayload::Normal(req) => apply::apply(&mut txn, entry.log_id.index, req)?,
                EntryPayload::Membership(m) => {
                    txn.meta.last_membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    Response::None
                }
            };
            replies.push(reply);
        }
        let last = txn.meta.last_applied;
        let floor = txn.queue_floor.take();
        let batch = txn.into_batch()?;
        // sync=false is enough: the raft log lives in the same RocksDB, so it shares this
        // WAL, and every entry applied here was fsynced to that WAL before it was committed.
        // A kill -9 loses nothing (the WAL write reached the OS before write() returned);
        // a power loss may drop this batch, but then last_applied rolls back with it and
        // openraft re-applies the lost entries from the fsynced log on restart. Apply is
        // deterministic, so the result is identical.
        let mut opts = WriteOptions::default();
        opts.set_sync(false);
        self.db
            .write_opt(batch, &opts)
            .map_err(|e| rocks_err(&self.db, e))?;
        *self.floor() = floor;
        self.applied.publish(last.map(|l| l.index));
        Ok(replies)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let m = SmMeta::load(&self.db).map_err(sm_read_err)?;
        Ok((m.last_applied, m.last_membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.apply_entries(entries.into_iter())
            .map_err(sm_write_err)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder::new(self.db.clone())
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        *self.floor() = None;
        tracing::info!(size = data.len(), id = %meta.snapshot_id, "installing snapshot");
        snapshot::install(&self.db, meta, data).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        self.applied.publish(meta.last_log_id.map(|l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        snapshot::current(&self.db).map_err(|e| StorageIOError::read_snapshot(None, &e).into())
    }
}

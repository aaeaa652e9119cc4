//! [`LogStore`]: the raft log and vote in RocksDB, with group commit. Appends are
//! readable at once (from an in-memory overlay) and go to one writer thread that
//! drains everything pending into one synced `WriteBatch`, then fires each append's
//! `LogFlushed` callback. Vote, committed, truncate and purge go through the same
//! writer, so every write is applied in the order it was issued.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use tokio::sync::oneshot;

use crate::codec::{decode, encode};
use crate::db::{cf, rocks_err, CF_LOG, CF_RAFT_META};
use crate::{keys, StoreError, TypeConfig};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

type Pending = BTreeMap<u64, Entry<TypeConfig>>;

/// One change to write.
enum Mutation {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Delete(&'static str, Vec<u8>),
    DeleteRange(&'static str, Vec<u8>, Vec<u8>),
}

/// Work for the writer thread.
enum Op {
    Append {
        ids: Vec<LogId<u64>>,
        puts: Vec<Mutation>,
        cb: LogFlushed<TypeConfig>,
    },
    Write {
        muts: Vec<Mutation>,
        /// False for state that may be lost in a crash (the committed index): such a
        /// write alone is not fsynced; it becomes durable with the next synced batch.
        sync: bool,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// Owns the writer thread; dropping the last handle stops and joins it.
struct Writer {
    tx: Option<mpsc::Sender<Op>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("raft log writer thread panicked");
            }
        }
    }
}

/// The raft log store. Clones share the database, overlay and writer.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    pending: Arc<Mutex<Pending>>,
    writer: Arc<Writer>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.db.path())
            .finish()
    }
}

fn write_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_logs(&io::Error::other(e.to_string())).into()
}

fn read_err(e: StoreError) -> StorageError<u64> {
    StorageIOError::read_logs(&e).into()
}

fn vote_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_vote(&io::Error::other(e.to_string())).into()
}

fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // A panic while holding the lock cannot leave the map half-updated in a way that
    // matters (each operation is one insert/remove), so recover from poisoning.
    p.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogStore {
    pub(crate) fn new(db: Arc<DB>) -> Result<LogStore, StoreError> {
        let pending = Arc::new(Mutex::new(Pending::new()));
        // Unbounded on purpose: an append must never block the raft core while the
        // writer is inside an fsync. Every queued op is a write some caller is still
        // waiting for, so the queue is as long as the writes in flight; the writer
        // drains all of it into the next batch.
        let (tx, rx) = mpsc::channel();
        let (wdb, wpending) = (db.clone(), pending.clone());
        let thread = std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer_loop(&wdb, &wpending, rx))
            .map_err(|e| StoreError::Io {
                path: db.path().to_path_buf(),
                detail: e.to_string(),
            })?;
        let writer = Arc::new(Writer {
            tx: Some(tx),
            thread: Some(thread),
        });
        Ok(LogStore {
            db,
            pending,
            writer,
        })
    }

    fn send(&self, op: Op) -> Result<(), String> {
        match &self.writer.tx {
            Some(tx) => tx
                .send(op)
                .map_err(|_| "raft log writer has stopped".to_string()),
            None => Err("raft log writer has stopped".into()),
        }
    }

    /// Sends `muts` through the writer and waits until they are synced.
    async fn write(&self, muts: Vec<Mutation>) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.send(Op::Write {
            muts,
            sync: true,
            done,
        })?;
        rx.await
            .map_err(|_| "raft log writer has stopped".to_string())?
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let v = self
            .db
            .get_cf(cf(&self.db, CF_RAFT_META)?, key)
            .map_err(|e| rocks_err(&self.db, e))?;
        v.map(|b| decode(what, &b)).transpose()
    }

    fn read_range(
        &self,
        range: impl RangeBounds<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let start = match range.start_bound() {
            Bound::Included(&x) => x,
            Bound::Excluded(&x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        // Hold the overlay lock across the DB read: the writer removes an entry from the
        // overlay only after it is in the DB, so each entry is seen in one place or both.
        let pending = lock(&self.pending);
        let mut out: BTreeMap<u64, Entry<TypeConfig>> = BTreeMap::new();
        let h = cf(&self.db, CF_LOG)?;
        let from = keys::log_key(start);
        for item in self
            .db
            .iterator_cf(h, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| rocks_err(&self.db, e))?;
            let index = keys::read_u64("log key", &k, 0)?;
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<TypeConfig> = decode("log entry", &v)?;
            if entry.log_id.index != index {
                return Err(StoreError::codec(
                    "log entry",
                    format!("entry {} stored at index {index}", entry.log_id),
                ));
            }
            out.insert(index, entry);
        }
        for (i, e) in pending
            .range(start..)
            .take_while(|(i, _)| range.contains(*i))
        {
            out.insert(*i, e.clone());
        }
        Ok(out.into_values().collect())
    }

    fn last_in_db(&self) -> Result<Option<LogId<u64>>, StoreError> {
        let h = cf(&self.db, CF_LOG)?;
        match self.db.iterator_cf(h, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item.map_err(|e| rocks_err(&self.db, e))?;
                Ok(Some(decode::<Entry<TypeConfig>>("log entry", &v)?.log_id))
            }
        }
    }
}

fn writer_loop(db: &DB, pending: &Mutex<Pending>, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while let Ok(op) = rx.try_recv() {
            ops.push(op);
        }
        let result = write_ops(db, &ops);
        // How well group commit works: appends (and entries) that shared this fsync.
        tracing::debug!(
            ops = ops.len(),
            entries = ops
                .iter()
                .map(|op| match op {
                    Op::Append { ids, .. } => ids.len(),
                    Op::Write { .. } => 0,
                })
                .sum::<usize>(),
            "log batch written"
        );
        if let Err(e) = &result {
            tracing::error!(error = %e, "raft log write failed");
        }
        for op in ops {
            match op {
                Op::Append { ids, cb, .. } => {
                    if result.is_ok() {
                        let mut p = lock(pending);
                        for id in ids {
                            if p.get(&id.index).map(|e| e.log_id) == Some(id) {
                                p.remove(&id.index);
                            }
                        }
                    }
                    cb.log_io_completed(result.clone().map_err(io::Error::other));
                }
                Op::Write { done, .. } => {
                    // The caller may have given up waiting; nothing to do then.
                    let _ = done.send(result.clone());
                }
            }
        }
    }
    tracing::debug!("raft log writer stopped");
}

/// Writes every op's mutations, in order, as one synced batch.
fn write_ops(db: &DB, ops: &[Op]) -> Result<(), String> {
    let mut batch = WriteBatch::default();
    for op in ops {
        let muts = match op {
            Op::Append { puts, .. } => puts,
            Op::Write { muts, .. } => muts,
        };
        for m in muts {
            match m {
                Mutation::Put(c, k, v) => batch.put_cf(cf(db, c).map_err(|e| e.to_string())?, k, v),
                Mutation::Delete(c, k) => batch.delete_cf(cf(db, c).map_err(|e| e.to_string())?, k),
                Mutation::DeleteRange(c, from, to) => {
                    batch.delete_range_cf(cf(db, c).map_err(|e| e.to_string())?, from, to)
                }
            }
        }
    }
    let sync = ops.iter().any(|op| match op {
        Op::Append { .. } => true,
        Op::Write { sync, .. } => *sync,
    });
    let mut opts = WriteOptions::default();
    opts.set_sync(sync);
    db.write_opt(batch, &opts)
        .map_err(|e| rocks_err(db, e).to_string())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        self.read_range(range).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let last_purged_log_id: Option<LogId<u64>> = self
            .read_meta(KEY_LAST_PURGED, "last purged log id")
            .map_err(read_err)?;
        let pending_last = lock(&self.pending).values().next_back().map(|e| e.log_id);
        let last = match pending_last {
            Some(l) => Some(l),
            None => self.last_in_db().map_err(read_err)?,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let v = encode("vote", vote).map_err(vote_err)?;
        self.write(vec![Mutation::Put(CF_RAFT_META, KEY_VOTE.to_vec(), v)])
            .await
            .map_err(vote_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        self.read_meta(KEY_VOTE, "vote")
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), StorageError<u64>> {
        let m = match committed {
            Some(c) => Mutation::Put(
                CF_RAFT_META,
                KEY_COMMITTED.to_vec(),
                encode("committed", &c).map_err(write_err)?,
            ),
            None => Mutation::Delete(CF_RAFT_META, KEY_COMMITTED.to_vec()),
        };
        // openraft allows the committed index to be lost (it is re-established from
        // the log and the quorum), so the raft core neither waits for this write nor
        // pays an fsync for it: it rides along with the next synced append. Ordering
        // is kept because it still goes through the single writer.
        let (done, _ignored) = oneshot::channel();
        self.send(Op::Write {
            muts: vec![m],
            sync: false,
            done,
        })
        .map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        self.read_meta(KEY_COMMITTED, "committed").map_err(read_err)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ids = Vec::new();
        let mut puts = Vec::new();
        let mut staged = Vec::new();
        for entry in entries {
            let bytes = encode("log entry", &entry).map_err(write_err)?;
            puts.push(Mutation::Put(
                CF_LOG,
                keys::log_key(entry.log_id.index).to_vec(),
                bytes,
            ));
            ids.push(entry.log_id);
            staged.push(entry);
        }
        {
            let mut p = lock(&self.pending);
            for e in staged {
                p.insert(e.log_id.index, e);
            }
        }
        self.send(Op::Append {
            ids,
            puts,
            cb: callback,
        })
        .map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        tracing::debug!(%log_id, "truncate log since");
        lock(&self.pending).retain(|i, _| *i < log_id.index);
        let from = keys::log_key(log_id.index).to_vec();
        let to = keys::log_key(u64::MAX).to_vec();
        self.write(vec![Mutation::DeleteRange(CF_LOG, from, to)])
            .await
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        tracing::debug!(%log_id, "purge log upto");
        lock(&self.pending).retain(|i, _| *i > log_id.index);
        let v = encode("last purged log id", &log_id).map_err(write_err)?;
        let to = keys::log_key(log_id.index.saturating_add(1)).to_vec();
        self.write(vec![
            Mutation::Put(CF_RAFT_META, KEY_LAST_PURGED.to_vec(), v),
            Mutation::DeleteRange(CF_LOG, keys::log_key(0).to_vec(), to),
        ])
        .await
        .map_err(write_err)
    }
}

//! Opening the one RocksDB that holds both the raft log and the state machine, and
//! the names of its column families. Opening never repairs, deletes or moves files.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode,
    Options, DB,
};

use crate::StoreError;

/// Raft log entries: index (u64 BE) -> entry.
pub const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged.
pub const CF_RAFT_META: &str = "raft_meta";
/// State-machine metadata: last applied, membership, next job id, queued count, snapshot.
pub const CF_SM_META: &str = "sm_meta";
/// JobId BE -> JobRecord.
pub const CF_JOBS: &str = "jobs";
/// Priority-desc + JobId -> JobId, for queued jobs only.
pub const CF_QUEUE: &str = "queue";
/// State code + JobId -> empty.
pub const CF_BY_STATE: &str = "by_state";
/// Node + JobId -> fencing token, for attempts still running.
pub const CF_RUNNING: &str = "running";
/// Submitter + nonce -> JobId.
pub const CF_NONCES: &str = "nonces";
/// First task's JobId BE -> the signed envelope shared by a job array's tasks.
pub const CF_ARRAYS: &str = "arrays";

/// Dedup key (UTF-8) -> (JobId, array size), for jobs submitted with one.
pub const CF_DEDUP: &str = "dedup";

/// Column families of the state machine (cleared on snapshot install).
pub const SM_CFS: [&str; 8] = [
    CF_SM_META,
    CF_JOBS,
    CF_QUEUE,
    CF_BY_STATE,
    CF_RUNNING,
    CF_NONCES,
    CF_DEDUP,
    CF_ARRAYS,
];

const ALL_CFS: [&str; 10] = [
    CF_LOG,
    CF_RAFT_META,
    CF_SM_META,
    CF_JOBS,
    CF_QUEUE,
    CF_BY_STATE,
    CF_RUNNING,
    CF_NONCES,
    CF_DEDUP,
    CF_ARRAYS,
];

/// Bytes all memtables together may hold before the largest is flushed.
const MEMTABLE_BUDGET: usize = 32 << 20;

fn options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    // Bloom filters let a lookup of a key that is not there (every new submit's nonce)
    // skip the table files instead of reading an index block of each; without them
    // the submit p50 rose by a quarter with 100,000 queued jobs.
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    o.set_block_based_table_factory(&table);
    o
}

/// Opens (creating if missing) the database at `path`.
pub fn open_db(path: &Path) -> Result<Arc<DB>, StoreError> {
    let mut opts = options();
    // One budget for the memtables of every column family. Without it each of the
    // nine may hold up to 2 x 64 MiB, and a long queue's writes sit in memory until
    // they do: measured 1.5 KiB of RSS per queued job at 100,000 queued jobs.
    opts.set_db_write_buffer_size(MEMTABLE_BUDGET);
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Damage is an error at open, never a shorter log. Every append is fsynced before
    // it is acknowledged, so the one thing a crash can leave is a torn last record: a
    // write whose fsync never returned, acknowledged to nobody, which this mode drops.
    // A checksum mismatch anywhere (a flipped byte) refuses the open, where the default
    // (point in time) would silently stop the replay there and drop acknowledged
    // entries after it. See docs/ARCHITECTURE.md, "Damaged stores".
    opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    // Table files' sizes and the manifest are checked at open; a failed read or
    // write stops the database instead of going on.
    opts.set_paranoid_checks(true);
    let cfs = ALL_CFS
        .iter()
        .map(|n| ColumnFamilyDescriptor::new(*n, options()));
    let db =
        DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StoreError::from_rocks(path, e))?;
    tracing::info!(path = %path.display(), "opened raft store");
    Ok(Arc::new(db))
}

/// The handle of a column family this crate created at open.
pub fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name).ok_or_else(|| StoreError::Io {
        path: db.path().to_path_buf(),
        detail: format!("column family {name} is missing"),
    })
}

/// Maps a RocksDB error from a read or write on an open database.
pub fn rocks_err(db: &DB, e: rocksdb::Error) -> StoreError {
    StoreError::from_rocks(db.path(), e)
}

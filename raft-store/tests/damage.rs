//! A damaged store is an error, never a shorter log (issue 15, S13): a flipped byte in
//! the WAL refuses the open, a flipped byte in a table file fails the read that meets
//! it, and neither changes a file. Only a torn last record (a write whose fsync never
//! returned, so acknowledged to nobody) is dropped at open.

use std::fs;
use std::path::{Path, PathBuf};

use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader};
use shoal_raft_store::{open, Request, StoreError, TypeConfig};
use shoal_testkit::fixtures;

const ENTRIES: u64 = 30;

/// A store whose log holds entries 1..=ENTRIES, each appended (and fsynced) alone,
/// closed again: the entries are in the WAL only (until the next open, which replays
/// them into a table file).
async fn store_with_log(dir: &Path) {
    let (mut log, _sm, _view) = open(dir).unwrap();
    for i in 1..=ENTRIES {
        let e = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(2, 1), i),
            payload: EntryPayload::Normal(Request::Submit {
                envelope: fixtures::envelope(),
                now_ms: i,
            }),
        };
        log.blocking_append([e]).await.unwrap();
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .filter(|p| fs::metadata(p).unwrap().len() > 0)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).unwrap().len()));
    v
}

fn flip(path: &Path, at: usize) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    fs::write(path, &bytes).unwrap();
    bytes
}

async fn log_len(dir: &Path) -> Result<usize, String> {
    let (mut log, _sm, _view) = open(dir).map_err(|e| e.to_string())?;
    log.try_get_log_entries(0..1000)
        .await
        .map(|v| v.len())
        .map_err(|e| e.to_string())
}

fn assert_corrupt_at_open(dir: &Path, wal: &Path, damaged: &[u8]) {
    match open(dir) {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains("left untouched"), "{e}")
        }
        Err(e) => panic!("expected Corrupt, got {e:?}"),
        Ok(_) => panic!("a damaged WAL opened as if it were whole"),
    }
    assert_eq!(fs::read(wal).unwrap(), damaged, "the WAL was changed");
}

#[tokio::test]
async fn a_flipped_byte_in_the_middle_of_the_wal_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    store_with_log(dir.path()).await;
    // (An open replays the WAL into a table file, so the store is not opened here.)
    let wal = files(dir.path(), "log").remove(0);
    let len = fs::metadata(&wal).unwrap().len() as usize;
    let damaged = flip(&wal, len / 2);
    assert_corrupt_at_open(dir.path(), &wal, &damaged);
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_wal_record_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    store_with_log(dir.path()).await;
    let wal = files(dir.path(), "log").remove(0);
    let len = fs::metadata(&wal).unwrap().len() as usize;
    let damaged = flip(&wal, len - 20);
    assert_corrupt_at_open(dir.path(), &wal, &damaged);
}

#[tokio::test]
async fn a_torn_last_record_is_a_write_nobody_was_told_of() {
    let dir = tempfile::tempdir().unwrap();
    store_with_log(dir.path()).await;
    let wal = files(dir.path(), "log").remove(0);
    let len = fs::metadata(&wal).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    assert_eq!(log_len(dir.path()).await.unwrap(), ENTRIES as usize - 1);
}

#[tokio::test]
async fn a_flipped_byte_in_a_table_file_fails_the_read_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    store_with_log(dir.path()).await;
    // Move the log from the WAL into table files, as a long-running node's is.
    {
        let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), &names).unwrap();
        for n in &names {
            db.flush_cf(db.cf_handle(n).unwrap()).unwrap();
        }
    }
    let sst = files(dir.path(), "sst").remove(0);
    let damaged = flip(&sst, 64);
    // Table files are what an open must leave alone (it replaces the WAL and the
    // manifest as part of any open).
    let before = files(dir.path(), "sst");
    assert!(!before.is_empty(), "the flush made no table file");
    let err = log_len(dir.path())
        .await
        .expect_err("a damaged table file was read as if it were whole");
    assert!(err.to_lowercase().contains("corrupt"), "{err}");
    assert_eq!(
        fs::read(&sst).unwrap(),
        damaged,
        "the table file was changed"
    );
    for p in &before {
        assert!(p.exists(), "{} was removed", p.display());
    }
}

//! Durability and open-failure behaviour: reopening sees the same log, vote and jobs;
//! a locked or corrupt database is reported, never repaired or removed.

use std::fs;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};
use shoal_raft_store::{open, Request, Response, StoreError, TypeConfig};
use shoal_testkit::fixtures;
use shoal_types::{JobId, JobState};

fn entry(index: u64, req: Request) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(2, 1), index),
        payload: EntryPayload::Normal(req),
    }
}

#[tokio::test]
async fn reopen_sees_log_vote_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry<TypeConfig>> = (1..=3)
        .map(|i| {
            entry(
                i,
                Request::Submit {
                    envelope: fixtures::envelope(),
                    now_ms: 10 * i,
                },
            )
        })
        .collect();
    {
        let (mut log, mut sm, view) = open(dir.path()).unwrap();
        let mut rx = view.subscribe();
        log.save_vote(&Vote::new(2, 1)).await.unwrap();
        // Concurrent appends from clones: the writer may put them under one fsync.
        let appends = entries.iter().cloned().map(|e| {
            let mut l = log.clone();
            async move { l.blocking_append([e]).await }
        });
        for r in futures::future::join_all(appends).await {
            r.unwrap();
        }
        assert_eq!(log.try_get_log_entries(1..4).await.unwrap().len(), 3);
        let replies = sm.apply(entries.clone()).await.unwrap();
        assert_eq!(replies[2], Response::Submitted { id: JobId(3) });
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 3);
        assert_eq!(view.last_applied(), Some(3));
    }
    let (mut log, mut sm, view) = open(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
    let got = log.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.log_id).collect::<Vec<_>>(),
        entries.iter().map(|e| e.log_id).collect::<Vec<_>>()
    );
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id.map(|l| l.index), Some(3));
    assert_eq!(
        sm.applied_state().await.unwrap().0.map(|l| l.index),
        Some(3)
    );
    assert_eq!(view.last_applied(), Some(3));
    let jobs = view.list_jobs(None, 10).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [JobId(3), JobId(2), JobId(1)]
    );
    assert_eq!(view.list_jobs(Some(JobState::Queued), 2).unwrap().len(), 2);
    assert_eq!(view.queued_count().unwrap(), 3);
    assert_eq!(view.get_job(JobId(2)).unwrap().unwrap().submitted_at_ms, 20);
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).unwrap();
    match open(dir.path()) {
        Err(e @ StoreError::Locked { .. }) => assert!(e.to_string().contains("another shoal node")),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    drop(first);
    assert!(
        open(dir.path()).is_ok(),
        "lock is released when the store is dropped"
    );
}

#[test]
fn garbage_current_is_an_error_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    let current = dir.path().join("CURRENT");
    let manifest = fs::read_to_string(&current).unwrap();
    let manifest_path = dir.path().join(manifest.trim());
    fs::write(&manifest_path, b"this is not a manifest").unwrap();
    let before: Vec<_> = list(dir.path());
    let err = open(dir.path()).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Io { .. }),
        "{err:?}"
    );
    assert!(manifest_path.exists());
    assert_eq!(fs::read(&manifest_path).unwrap(), b"this is not a manifest");
    assert_eq!(list(dir.path()), before);

    fs::write(&current, b"garbage\n").unwrap();
    let err = open(dir.path()).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Io { .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&current).unwrap(), b"garbage\n");
}

fn list(p: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // RocksDB rotates its info log (LOG -> LOG.old.*) on every open attempt.
        .filter(|n| !n.starts_with("LOG"))
        .collect();
    v.sort();
    v
}

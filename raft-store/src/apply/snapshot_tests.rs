//! Snapshots store only their meta; the bytes a follower gets are serialized from
//! the store when asked, as of that moment.

use shoal_types::JobId;

use super::test_util::Harness;
use crate::db::{cf, CF_SM_META};
use crate::sm_meta::KEY_SNAPSHOT;

#[test]
fn a_snapshot_stores_its_meta_only_and_is_served_as_of_now() {
    let h = Harness::new();
    assert!(!h.has_snapshot(), "a snapshot before any was built");
    for _ in 0..200 {
        h.submit(&h.envelope(0));
    }
    let copy = h.snapshot_copy();
    assert_eq!(copy.view.queued_count().unwrap(), 200);
    let stored = h
        .view
        .db()
        .get_cf(cf(h.view.db(), CF_SM_META).unwrap(), KEY_SNAPSHOT)
        .unwrap()
        .expect("the built snapshot's meta is stored");
    assert!(
        stored.len() < 1024,
        "{} bytes stored for a snapshot of 200 jobs: the data, not just the meta",
        stored.len()
    );
    // Nothing applied since the build: the same meta. One more job: a newer
    // snapshot that holds it.
    let (_, same) = h.current_snapshot_copy();
    let built = h.current_snapshot_copy().1;
    assert_eq!(same, built);
    let last = h.submit(&h.envelope(0));
    let (later, meta) = h.current_snapshot_copy();
    assert!(meta.last_log_id > built.last_log_id);
    assert_eq!(later.view.queued_count().unwrap(), 201);
    assert!(later.view.get_job(last).unwrap().is_some());
    assert!(later.view.get_job(JobId(1)).unwrap().is_some());
}

//! Test harness for the transitions: a real temporary store, signed envelopes and a
//! helper that applies requests as log entries through the state machine.

use std::cell::{Cell, RefCell};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use shoal_types::{JobId, JobSpec, SignedEnvelope};

use crate::command::{Request, Response};
use crate::{StateMachineStore, StoreView, TypeConfig};

pub struct Harness {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    sm: RefCell<StateMachineStore>,
    pub view: StoreView,
    next_index: Cell<u64>,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (_log, sm, view) = crate::open(dir.path()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Harness {
            _dir: dir,
            rt,
            sm: RefCell::new(sm),
            view,
            next_index: Cell::new(1),
        }
    }

    /// A signed envelope with a fresh nonce.
    pub fn envelope(&self, priority: i32) -> SignedEnvelope {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.priority = priority;
        self.envelope_of(spec)
    }

    /// Like [`Harness::envelope`], submitted with `hold`.
    pub fn held_envelope(&self, priority: i32) -> SignedEnvelope {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.priority = priority;
        spec.hold = true;
        self.envelope_of(spec)
    }

    /// A job array of `n` tasks at `priority`.
    pub fn array_envelope(&self, n: u32, priority: i32) -> SignedEnvelope {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.priority = priority;
        spec.array = Some(n);
        self.envelope_of(spec)
    }

    /// A held job array of `n` tasks.
    pub fn held_array_envelope(&self, n: u32) -> SignedEnvelope {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.hold = true;
        spec.array = Some(n);
        self.envelope_of(spec)
    }

    /// A fresh store holding a snapshot of this one's state machine (built here,
    /// installed there).
    pub fn snapshot_copy(&self) -> Harness {
        use openraft::RaftSnapshotBuilder;
        let mut sm = self.sm.borrow_mut();
        let snap = self.rt.block_on(async {
            let mut b = sm.get_snapshot_builder().await;
            b.build_snapshot().await.unwrap()
        });
        drop(sm);
        self.installed_copy(snap)
    }

    /// A fresh store holding this one's current snapshot (what a follower would be
    /// sent), and that snapshot's meta.
    pub fn current_snapshot_copy(
        &self,
    ) -> (Harness, openraft::SnapshotMeta<u64, openraft::BasicNode>) {
        let mut sm = self.sm.borrow_mut();
        let snap = self
            .rt
            .block_on(sm.get_current_snapshot())
            .unwrap()
            .expect("no current snapshot");
        drop(sm);
        let meta = snap.meta.clone();
        (self.installed_copy(snap), meta)
    }

    /// A fresh store with `snap` installed, continuing this one's log indexes.
    fn installed_copy(&self, snap: openraft::storage::Snapshot<TypeConfig>) -> Harness {
        let copy = Harness::new();
        let mut other = copy.sm.borrow_mut();
        copy.rt
            .block_on(other.install_snapshot(&snap.meta, snap.snapshot))
            .unwrap();
        drop(other);
        copy.next_index.set(self.next_index.get());
        copy
    }

    /// Whether the store has a current snapshot at all.
    pub fn has_snapshot(&self) -> bool {
        let mut sm = self.sm.borrow_mut();
        self.rt
            .block_on(sm.get_current_snapshot())
            .unwrap()
            .is_some()
    }

    pub fn envelope_of(&self, spec: JobSpec) -> SignedEnvelope {
        shoal_testkit::fixtures::envelope_of(spec)
    }

    /// Applies `reqs` in one apply call; returns the replies.
    pub fn run_batch(&self, reqs: Vec<Request>) -> Vec<Response> {
        let entries: Vec<Entry<TypeConfig>> = reqs
            .into_iter()
            .map(|r| {
                let index = self.next_index.get();
                self.next_index.set(index + 1);
                Entry {
                    log_id: LogId::new(CommittedLeaderId::new(1, 0), index),
                    payload: EntryPayload::Normal(r),
                }
            })
            .collect();
        let mut sm = self.sm.borrow_mut();
        self.rt.block_on(sm.apply(entries)).unwrap()
    }

    /// Applies one request; returns its log index and reply.
    pub fn run_at(&self, req: Request) -> (u64, Response) {
        let index = self.next_index.get();
        (index, self.run_batch(vec![req]).remove(0))
    }

    pub fn run(&self, req: Request) -> Response {
        self.run_at(req).1
    }

    pub fn submit(&self, env: &SignedEnvelope) -> JobId {
        match self.run(Request::Submit {
            envelope: env.clone(),
            now_ms: 100,
        }) {
            Response::Submitted { id } => id,
            r => panic!("not submitted: {r:?}"),
        }
    }

    pub fn state(&self, id: shoal_types::JobId) -> shoal_types::JobState {
        self.view.get_job(id).unwrap().expect("job exists").state
    }
}

//! `shoal-raft-store`: openraft storage for Shoal. One RocksDB per node holds the raft
//! log ([`LogStore`], group-committed) and the job state machine
//! ([`StateMachineStore`]); [`StoreView`] gives read-only access to jobs.
//!
//! This file is only the public surface: the type configuration and [`open`].

mod apply;
mod arrays;
mod codec;
mod command;
mod db;
mod error;
mod jobs;
mod keys;
pub mod limits;
mod log_store;
mod sm_meta;
mod snapshot;
mod state_machine;
mod txn;
mod view;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

pub use command::{Completion, LeasedJob, Request, Response, StartNotice, SubmitRejection};
pub use error::StoreError;
pub use limits::Oversize;
pub use log_store::LogStore;
pub use snapshot::SnapshotBuilder;
pub use state_machine::StateMachineStore;
pub use view::StoreView;

openraft::declare_raft_types!(
    /// Shoal's raft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Opens (or creates) the store at `path`. Fails, without touching any file, if the
/// database is locked, corrupt or unreadable.
pub fn open(path: &Path) -> Result<(LogStore, StateMachineStore, StoreView), StoreError> {
    let db = db::open_db(path)?;
    let meta = sm_meta::SmMeta::load(&db)?;
    let applied = Arc::new(view::AppliedSignal::new(meta.last_applied.map(|l| l.index)));
    let log = LogStore::new(db.clone())?;
    let sm = StateMachineStore::new(db.clone(), applied.clone());
    Ok((log, sm, StoreView::new(db, applied)))
}

//! What every API handler can reach: raft, the store's read view, the identity.

use std::sync::Arc;

use openraft::Raft;
use shoal_raft_store::{StoreView, TypeConfig};
use tokio::sync::watch;

use crate::adverts::AdvertTable;
use crate::net::Net;
use crate::raft::proposer::Proposer;
use crate::raft::submit_batcher::SubmitBatcher;
use crate::status::WorkerStatus;
use shoal_home::Home;
use shoal_home::Identity;

/// Shared, cheaply cloneable handler state. Each field is itself a handle to state
/// owned elsewhere (raft, RocksDB, the worker), never the state.
#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    pub home: Home,
    pub raft: Raft<TypeConfig>,
    pub proposer: Proposer,
    /// Submissions go through here: one raft entry per batch (group commit).
    pub submits: SubmitBatcher,
    /// For reaching other nodes (job output).
    pub net: Net,
    /// The latest advert of every node (for `nodes`).
    pub adverts: AdvertTable,
    pub view: StoreView,
    pub worker: watch::Receiver<WorkerStatus>,
    pub disk: watch::Receiver<crate::disk::DiskStatus>,
    /// How this node contains its jobs (`cgroup-v1`, `cgroup-v2`, `subreaper`).
    pub containment: String,
}

//! What every API handler can reach: raft, the store's read view, the identity.

use std::sync::Arc;

use openraft::Raft;
use shoal_raft_store::{StoreView, TypeConfig};
use tokio::sync::watch;

use crate::home::Home;
use crate::identity::Identity;
use crate::raft::proposer::Proposer;
use crate::worker::WorkerStatus;

/// Shared, cheaply cloneable handler state. Each field is itself a handle to state
/// owned elsewhere (raft, RocksDB, the worker), never the state.
#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    pub home: Home,
    pub raft: Raft<TypeConfig>,
    pub proposer: Proposer,
    pub view: StoreView,
    pub worker: watch::Receiver<WorkerStatus>,
}

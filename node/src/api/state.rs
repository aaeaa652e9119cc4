//! What every API handler can reach: raft, the store's read view, the identity.

use std::sync::Arc;

use openraft::Raft;
use shoal_raft_store::{StoreView, TypeConfig};
use tokio::sync::watch;

use crate::net::adverts::AdvertTable;
use crate::net::peers::PeerBook;
use crate::raft::proposer::Proposer;
use crate::raft::submit_batcher::SubmitBatcher;
use crate::worker::WorkerStatus;
use shoal_home::Home;
use shoal_home::Identity;
use shoal_p2p::P2pHandle;

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
    pub p2p: P2pHandle,
    pub peers: PeerBook,
    /// The latest advert of every node (for `nodes`).
    pub adverts: AdvertTable,
    pub view: StoreView,
    pub worker: watch::Receiver<WorkerStatus>,
}

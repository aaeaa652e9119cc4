//! Creating the raft instance of a node and bootstrapping a genesis cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use shoal_raft_store::{LogStore, StateMachineStore, TypeConfig};
use tracing::info;

use crate::error::FatalError;
use crate::net::raft_network::P2pRaftNetwork;
use shoal_home::past::MemberRecord;
use shoal_home::{Home, NodeConfig};

/// Starts raft on the opened stores. On a genesis home whose store is empty it
/// initializes a one-voter cluster; on existing state it never initializes again. A
/// store with no raft state in a home that remembers being a member (`past`) is
/// refused: raft is shut down again and nothing is written.
pub async fn start(
    node_id: u64,
    config: &NodeConfig,
    home: &Home,
    past: Option<&MemberRecord>,
    network: P2pRaftNetwork,
    log_store: LogStore,
    state_machine: StateMachineStore,
) -> Result<Raft<TypeConfig>, FatalError> {
    let raft_config = Config {
        cluster_name: config.cluster_id.clone(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_timeout_ms,
        election_timeout_max: config.election_timeout_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_after_logs),
        max_in_snapshot_log_to_keep: 1_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| FatalError::Raft(e.to_string()))?;
    if let Some(rec) = past {
        let last = last_index(&log_store).await?;
        if last.is_some_and(|l| l < rec.stored_index_at_least) {
            return Err(FatalError::LogBehind {
                db: home.db(),
                last: last.unwrap_or(0),
                recorded: rec.stored_index_at_least,
            });
        }
    }
    let raft = Raft::new(
        node_id,
        Arc::new(raft_config),
        network,
        log_store,
        state_machine,
    )
    .await
    .map_err(|e| FatalError::Raft(e.to_string()))?;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| FatalError::Raft(e.to_string()))?;
    if let Some(rec) = past.filter(|_| !initialized) {
        let _ = raft.shutdown().await;
        return Err(shoal_home::past::lost_database(home, rec).into());
    }
    if config.genesis && !initialized {
        info!(node = %format!("{node_id:016x}"), "bootstrapping a new one-voter cluster");
        let members = BTreeMap::from([(node_id, BasicNode::default())]);
        raft.initialize(members)
            .await
            .map_err(|e| FatalError::Raft(e.to_string()))?;
    } else {
        info!(initialized, "recovered raft state from disk");
    }
    Ok(raft)
}

/// The last index the log holds (or had, before a purge); `None` for an empty log.
pub async fn last_index(log_store: &LogStore) -> Result<Option<u64>, FatalError> {
    use openraft::storage::RaftLogStorage;
    let mut probe = log_store.clone();
    let state = probe
        .get_log_state()
        .await
        .map_err(|e| FatalError::StoreFailed(e.to_string()))?;
    Ok(state.last_log_id.map(|l| l.index))
}

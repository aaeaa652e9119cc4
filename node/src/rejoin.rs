//! `shoal node --rejoin` on the node's side: judges whether this home's database may
//! be set aside — missing, holding no raft state, or damaged, never a whole one (it
//! may hold the only copy of a cluster's log) — and then has the home take a new
//! identity in its cluster (`shoal_home::rejoin`), keeping the old files.

use shoal_home::Home;
use shoal_raft_store::StoreError;
use tracing::{info, warn};

use crate::error::FatalError;

/// What the home's database is, as far as a rejoin cares.
#[derive(Debug, PartialEq, Eq)]
pub enum DbState {
    Missing,
    /// Opens, but holds no vote and no log (wiped, or never used).
    Empty,
    /// Does not open for a reason a new copy cures (corruption, unreadable files).
    Damaged(String),
    /// Opens and holds raft state up to `last_index`.
    Whole {
        last_index: u64,
    },
}

/// Whether a database in `state` may be set aside by a rejoin.
pub fn may_set_aside(state: &DbState) -> bool {
    !matches!(state, DbState::Whole { .. })
}

/// Judges the database of `home`; a locked one (a node running on this home) is an
/// error.
pub async fn db_state(home: &Home) -> Result<DbState, FatalError> {
    use openraft::storage::RaftLogStorage;
    if !home.db().join("CURRENT").exists() {
        return Ok(DbState::Missing);
    }
    let (mut log, _sm, _view) = match shoal_raft_store::open(&home.db()) {
        Ok(stores) => stores,
        Err(e @ StoreError::Locked { .. }) => return Err(e.into()),
        Err(e) => return Ok(DbState::Damaged(e.to_string())),
    };
    let damaged = |e: openraft::StorageError<u64>| DbState::Damaged(e.to_string());
    let state = match log.get_log_state().await {
        Ok(s) => s,
        Err(e) => return Ok(damaged(e)),
    };
    let vote = match log.read_vote().await {
        Ok(v) => v,
        Err(e) => return Ok(damaged(e)),
    };
    let last_index = state.last_log_id.map(|l| l.index);
    let recorded = shoal_home::past::load(home)?.map_or(0, |r| r.stored_index_at_least);
    Ok(match (last_index, vote) {
        (None, None) => DbState::Empty,
        // Shorter than this node had recorded: the disk lost writes.
        (Some(last), _) if last < recorded => DbState::Damaged(format!(
            "its log ends at {last}, below the {recorded} this node had stored"
        )),
        (last, _) => DbState::Whole {
            last_index: last.unwrap_or(0),
        },
    })
}

/// Sets this home's old identity aside and gives it a new one, unless its database
/// is whole.
pub async fn rejoin(home: &Home) -> Result<(), FatalError> {
    let state = db_state(home).await?;
    if !may_set_aside(&state) {
        let DbState::Whole { last_index } = state else {
            unreachable!("only a whole database is kept")
        };
        return Err(FatalError::RejoinRefused {
            db: home.db(),
            last_index,
        });
    }
    if let DbState::Damaged(why) = &state {
        warn!(%why, "the database is damaged; setting it aside");
    }
    let r = shoal_home::rejoin::rejoin(home)?;
    info!(
        old = %r.old_node.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into()),
        new = %r.new_node,
        kept = %r.kept.display(),
        moved = %r.moved.join(", "),
        "rejoining the cluster as a new member; the old files are kept"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_database_is_kept() {
        assert!(may_set_aside(&DbState::Missing));
        assert!(may_set_aside(&DbState::Empty));
        assert!(may_set_aside(&DbState::Damaged("x".into())));
        assert!(!may_set_aside(&DbState::Whole { last_index: 0 }));
    }
}

//! What a home remembers of its membership (`member.json`): that this node has been a
//! member of its cluster, and a lower bound of the log index it had stored. The node
//! writes it once it is a member and refreshes it every few seconds (an atomic
//! replace, not an fsync per append). A node whose database is empty while its home
//! remembers being a member must not start: an empty log would forget entries this
//! node acknowledged to the leader (so a majority might no longer hold them), and a
//! genesis home would bootstrap a second cluster.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Home, HomeError};

/// The record in `member.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub cluster_id: String,
    /// This node's id, 16 hex digits.
    pub node_id: String,
    /// This node's log held at least this index when the record was written.
    pub stored_index_at_least: u64,
}

impl Home {
    pub fn member_record(&self) -> std::path::PathBuf {
        self.root().join("member.json")
    }
}

/// The record, if this home was ever a member.
pub fn load(home: &Home) -> Result<Option<MemberRecord>, HomeError> {
    let path = home.member_record();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HomeError::HomeIo {
                path,
                detail: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| HomeError::HomeIo {
            path,
            detail: format!("unreadable membership record: {e}"),
        })
}

/// Replaces the record atomically (a temporary file renamed over it, then synced).
pub fn save(home: &Home, rec: &MemberRecord) -> Result<(), HomeError> {
    let path = home.member_record();
    let io = |e: std::io::Error| HomeError::HomeIo {
        path: path.clone(),
        detail: e.to_string(),
    };
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(rec).map_err(|e| io(std::io::Error::other(e)))?;
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&body).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    sync_dir(home.root()).map_err(io)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The refusal for a home that remembers `rec` but whose raft state is empty.
pub fn lost_database(home: &Home, rec: &MemberRecord) -> HomeError {
    HomeError::LostDatabase {
        db: home.db(),
        home: home.root().to_path_buf(),
        cluster: rec.cluster_id.clone(),
        node: rec.node_id.clone(),
        index: rec.stored_index_at_least,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert_eq!(load(&home).unwrap(), None);
        let rec = MemberRecord {
            cluster_id: "c1".into(),
            node_id: "00000000000000ab".into(),
            stored_index_at_least: 42,
        };
        save(&home, &rec).unwrap();
        assert_eq!(load(&home).unwrap(), Some(rec.clone()));
        let newer = MemberRecord {
            stored_index_at_least: 50,
            ..rec
        };
        save(&home, &newer).unwrap();
        assert_eq!(load(&home).unwrap(), Some(newer));
        std::fs::write(home.member_record(), "{garbage").unwrap();
        assert!(load(&home)
            .unwrap_err()
            .to_string()
            .contains("membership record"));
    }
}

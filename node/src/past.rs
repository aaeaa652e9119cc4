//! Keeps the home's membership record (`shoal_home::past`) up to date: once this node
//! is in the committed membership (a voter or a learner), it records that, and every
//! [`EVERY`] the index its log has reached (the applied index: a lower bound of what
//! the log holds). A later start with an empty store is then refused instead of
//! forgetting what this node acknowledged.

use std::time::Duration;

use openraft::Raft;
use shoal_home::past::{self, MemberRecord};
use shoal_home::Home;
use shoal_raft_store::TypeConfig;
use shoal_types::NodeId;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How often the stored index is refreshed.
pub const EVERY: Duration = Duration::from_secs(5);

pub struct Recorder {
    pub raft: Raft<TypeConfig>,
    pub home: Home,
    pub cluster_id: String,
    pub node: NodeId,
    /// The record as last written (or found at start).
    pub last: Option<MemberRecord>,
}

/// The record to write now, if it differs from `last`: `None` while this node is not
/// a member, or when nothing moved.
pub fn next_record(
    last: Option<&MemberRecord>,
    cluster_id: &str,
    node: NodeId,
    member: bool,
    applied: u64,
) -> Option<MemberRecord> {
    if !member && last.is_none() {
        return None;
    }
    let index = applied.max(last.map_or(0, |r| r.stored_index_at_least));
    let rec = MemberRecord {
        cluster_id: cluster_id.to_string(),
        node_id: node.to_string(),
        stored_index_at_least: index,
    };
    (last != Some(&rec)).then_some(rec)
}

impl Recorder {
    pub async fn run(mut self, stop: CancellationToken) {
        let mut metrics = self.raft.metrics();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            let (member, applied) = {
                let m = metrics.borrow_and_update();
                let member = m
                    .membership_config
                    .membership()
                    .get_node(&self.node.0)
                    .is_some();
                (member, m.last_applied.map_or(0, |l| l.index))
            };
            if let Some(rec) = next_record(
                self.last.as_ref(),
                &self.cluster_id,
                self.node,
                member,
                applied,
            ) {
                let home = self.home.clone();
                let write = rec.clone();
                match tokio::task::spawn_blocking(move || past::save(&home, &write)).await {
                    Ok(Ok(())) => self.last = Some(rec),
                    Ok(Err(e)) => warn!(error = %e, "cannot record this node's membership"),
                    Err(e) => warn!(error = %e, "recording this node's membership failed"),
                }
            }
            // The first record at once (membership changes), then the index every
            // few seconds.
            let first = self.last.is_none();
            tokio::select! {
                _ = stop.cancelled() => return,
                r = metrics.changed(), if first => if r.is_err() { return },
                _ = tick.tick(), if !first => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_starts_with_membership_and_only_grows() {
        let n = NodeId(0xab);
        assert_eq!(
            next_record(None, "c", n, false, 9),
            None,
            "not a member yet"
        );
        let first = next_record(None, "c", n, true, 3).unwrap();
        assert_eq!(first.node_id, "00000000000000ab");
        assert_eq!(first.stored_index_at_least, 3);
        assert_eq!(
            next_record(Some(&first), "c", n, true, 3),
            None,
            "unchanged"
        );
        let later = next_record(Some(&first), "c", n, true, 10).unwrap();
        assert_eq!(later.stored_index_at_least, 10);
        // A node removed from the membership still remembers it was one.
        assert_eq!(next_record(Some(&later), "c", n, false, 2), None);
    }
}

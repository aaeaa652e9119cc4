//! Who is who: raft node id ↔ libp2p PeerId (learned from verified certificates and
//! from membership entries), which peers are connected, and when each raft target
//! last answered.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use shoal_p2p::PeerId;

/// How long an unchanged membership entry is not given to the swarm again.
pub const RELEARN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Inner {
    by_node: HashMap<u64, PeerId>,
    by_peer: HashMap<PeerId, u64>,
    connected: HashSet<PeerId>,
    last_ok: HashMap<u64, Instant>,
    /// The membership entry each node was last learned from, and when (so an
    /// unchanged one is not sent to the swarm again every second).
    entries: HashMap<u64, (String, Instant)>,
}

/// Shared and cheap to clone.
#[derive(Clone, Default)]
pub struct PeerBook {
    inner: Arc<RwLock<Inner>>,
}

impl PeerBook {
    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        match self.inner.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        match self.inner.write() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub(super) fn learn(&self, node: u64, peer: PeerId) {
        self.write(|i| {
            i.by_node.insert(node, peer);
            i.by_peer.insert(peer, node);
        });
    }

    /// Records `entry` as `node`'s membership entry at `now`; false if it was that
    /// already, learned less than [`RELEARN`] ago (the swarm keeps a bounded list of
    /// addresses per peer, so an entry is given again now and then in case other
    /// sources pushed it out).
    pub(super) fn note_entry(&self, node: u64, entry: &str, now: Instant) -> bool {
        self.write(|i| match i.entries.get(&node) {
            Some((e, at)) if e == entry && now.duration_since(*at) < RELEARN => false,
            _ => {
                i.entries.insert(node, (entry.to_string(), now));
                true
            }
        })
    }

    pub fn peer_of(&self, node: u64) -> Option<PeerId> {
        self.read(|i| i.by_node.get(&node).copied())
    }

    pub fn node_of(&self, peer: &PeerId) -> Option<u64> {
        self.read(|i| i.by_peer.get(peer).copied())
    }

    pub(super) fn set_connected(&self, peer: PeerId, up: bool) {
        self.write(|i| {
            if up {
                i.connected.insert(peer);
            } else {
                i.connected.remove(&peer);
            }
        });
    }

    pub fn is_connected(&self, node: u64) -> bool {
        self.read(|i| {
            i.by_node
                .get(&node)
                .is_some_and(|p| i.connected.contains(p))
        })
    }

    /// Connected peers' node ids (those whose certificate we have seen).
    pub fn connected_nodes(&self) -> Vec<u64> {
        self.read(|i| {
            i.connected
                .iter()
                .filter_map(|p| i.by_peer.get(p).copied())
                .collect()
        })
    }

    /// A raft RPC to `node` succeeded now.
    pub(super) fn record_ok(&self, node: u64) {
        self.write(|i| {
            i.last_ok.insert(node, Instant::now());
        });
    }

    pub fn last_ok(&self, node: u64) -> Option<Instant> {
        self.read(|i| i.last_ok.get(&node).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_entry_is_given_again_only_after_relearn() {
        let book = PeerBook::default();
        let t0 = Instant::now();
        assert!(book.note_entry(1, "a", t0));
        assert!(!book.note_entry(1, "a", t0 + Duration::from_secs(1)));
        assert!(
            book.note_entry(1, "b", t0 + Duration::from_secs(2)),
            "changed"
        );
        assert!(book.note_entry(2, "b", t0), "another node");
        assert!(!book.note_entry(1, "b", t0 + RELEARN));
        assert!(book.note_entry(1, "b", t0 + Duration::from_secs(2) + RELEARN));
    }
}

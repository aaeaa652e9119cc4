//! Requests waiting for a peer on probation, capped.
//!
//! A request to a peer not yet connected and admitted waits until it is (or until
//! its deadline); a request from a connected peer whose hello has not arrived waits
//! for that hello. Either kind of wait is a place where a slow, silent or hostile
//! peer could make this node hold memory without end, so [`Parking`] caps what
//! waits per peer and in all, in count and in bytes. What does not fit is given back
//! to the caller, who refuses it (see the actor).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

use libp2p::PeerId;

/// How much may wait. A byte cap never refuses an item into an empty queue (per
/// peer) or an empty [`Parking`] (in all): one message as large as the protocol
/// allows can always wait; the count caps bound how many such there can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub per_peer_count: usize,
    pub per_peer_bytes: usize,
    pub total_count: usize,
    pub total_bytes: usize,
}

/// The caps of each of the actor's two parkings (outbound and inbound).
pub(crate) const LIMITS: Limits = Limits {
    per_peer_count: 64,
    per_peer_bytes: 8 << 20,
    total_count: 1024,
    total_bytes: 64 << 20,
};

/// Which cap an item did not fit under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    PeerCount(usize),
    PeerBytes(usize),
    TotalCount(usize),
    TotalBytes(usize),
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::PeerCount(n) => write!(f, "{n} requests already wait for this peer"),
            Full::PeerBytes(n) => write!(f, "{n} bytes of requests already wait for this peer"),
            Full::TotalCount(n) => write!(f, "{n} requests already wait for peers in all"),
            Full::TotalBytes(n) => write!(f, "{n} bytes of requests already wait for peers in all"),
        }
    }
}

struct Parked<T> {
    item: T,
    bytes: usize,
    deadline: Instant,
}

struct Queue<T> {
    items: VecDeque<Parked<T>>,
    bytes: usize,
}

/// Items waiting per peer, in arrival order, each until a deadline.
pub(crate) struct Parking<T> {
    limits: Limits,
    queues: HashMap<PeerId, Queue<T>>,
    count: usize,
    bytes: usize,
}

impl<T> Parking<T> {
    pub fn new(limits: Limits) -> Parking<T> {
        Parking {
            limits,
            queues: HashMap::new(),
            count: 0,
            bytes: 0,
        }
    }

    /// Parks `item` (`bytes` long) for `peer` until `deadline`; if a cap is reached,
    /// gives it back with the cap it hit.
    pub fn park(
        &mut self,
        peer: PeerId,
        item: T,
        bytes: usize,
        deadline: Instant,
    ) -> Result<(), (T, Full)> {
        let l = self.limits;
        if self.count >= l.total_count {
            return Err((item, Full::TotalCount(self.count)));
        }
        if self.count > 0 && self.bytes.saturating_add(bytes) > l.total_bytes {
            return Err((item, Full::TotalBytes(self.bytes)));
        }
        let queue = self.queues.entry(peer).or_insert_with(|| Queue {
            items: VecDeque::new(),
            bytes: 0,
        });
        if queue.items.len() >= l.per_peer_count {
            return Err((item, Full::PeerCount(queue.items.len())));
        }
        if !queue.items.is_empty() && queue.bytes.saturating_add(bytes) > l.per_peer_bytes {
            return Err((item, Full::PeerBytes(queue.bytes)));
        }
        queue.items.push_back(Parked {
            item,
            bytes,
            deadline,
        });
        queue.bytes += bytes;
        self.count += 1;
        self.bytes += bytes;
        Ok(())
    }

    /// Everything waiting for `peer`, oldest first; nothing waits for it after.
    pub fn take(&mut self, peer: &PeerId) -> Vec<T> {
        let Some(queue) = self.queues.remove(peer) else {
            return Vec::new();
        };
        self.count -= queue.items.len();
        self.bytes -= queue.bytes;
        queue.items.into_iter().map(|p| p.item).collect()
    }

    /// Removes and returns every item whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(PeerId, T)> {
        let mut late = Vec::new();
        for (peer, queue) in self.queues.iter_mut() {
            let mut keep = VecDeque::with_capacity(queue.items.len());
            for p in queue.items.drain(..) {
                if p.deadline <= now {
                    queue.bytes -= p.bytes;
                    self.count -= 1;
                    self.bytes -= p.bytes;
                    late.push((*peer, p.item));
                } else {
                    keep.push_back(p);
                }
            }
            queue.items = keep;
        }
        self.queues.retain(|_, q| !q.items.is_empty());
        late
    }

    /// Removes and returns everything, whatever its peer and deadline.
    pub fn drain(&mut self) -> Vec<T> {
        self.count = 0;
        self.bytes = 0;
        self.queues
            .drain()
            .flat_map(|(_, q)| q.items.into_iter().map(|p| p.item))
            .collect()
    }

    /// How many items wait, in all.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    /// How many bytes wait, in all.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(n: u8) -> PeerId {
        crate::peer_id_of([n; 32]).unwrap()
    }

    const SMALL: Limits = Limits {
        per_peer_count: 3,
        per_peer_bytes: 100,
        total_count: 5,
        total_bytes: 250,
    };

    #[test]
    fn caps_per_peer_in_count_and_bytes() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut p = Parking::new(SMALL);
        let (a, b) = (peer(1), peer(2));
        assert!(p.park(a, "a1", 10, t).is_ok());
        assert!(p.park(a, "a2", 10, t).is_ok());
        assert!(p.park(a, "a3", 10, t).is_ok());
        // A fourth for the same peer is over its count; another peer is not.
        assert_eq!(p.park(a, "a4", 1, t), Err(("a4", Full::PeerCount(3))));
        assert!(p.park(b, "b1", 60, t).is_ok());
        // 60 + 50 > 100 bytes for b.
        assert_eq!(p.park(b, "b2", 50, t), Err(("b2", Full::PeerBytes(60))));
        assert!(p.park(b, "b2", 40, t).is_ok());
        assert_eq!((p.len(), p.bytes()), (5, 130));

        // Taking a peer's items frees its share, in arrival order.
        assert_eq!(p.take(&a), vec!["a1", "a2", "a3"]);
        assert!(p.take(&a).is_empty());
        assert_eq!((p.len(), p.bytes()), (2, 100));
        assert!(p.park(a, "a5", 10, t).is_ok());
    }

    #[test]
    fn caps_in_all_in_count_and_bytes() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut p = Parking::new(SMALL);
        for n in 1..=5 {
            assert!(p.park(peer(n), n, 1, t).is_ok());
        }
        assert_eq!(p.park(peer(6), 6, 1, t), Err((6, Full::TotalCount(5))));
        assert_eq!(p.take(&peer(1)), vec![1]);
        assert!(p.park(peer(6), 6, 1, t).is_ok());

        let mut p = Parking::new(SMALL);
        assert!(p.park(peer(1), 1, 100, t).is_ok());
        assert!(p.park(peer(2), 2, 100, t).is_ok());
        // 200 + 51 > 250 bytes in all, though peer 3 has nothing waiting.
        assert_eq!(p.park(peer(3), 3, 51, t), Err((3, Full::TotalBytes(200))));
        assert!(p.park(peer(3), 3, 50, t).is_ok());
    }

    #[test]
    fn one_large_item_may_always_wait_alone() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut p = Parking::new(SMALL);
        // Over both byte caps, but nothing else waits: parked.
        assert!(p.park(peer(1), 1, 1000, t).is_ok());
        // Anything more is over the total.
        assert_eq!(p.park(peer(2), 2, 1, t), Err((2, Full::TotalBytes(1000))));
        assert_eq!(p.take(&peer(1)), vec![1]);
        assert!(p.park(peer(2), 2, 1, t).is_ok());
        // Not alone for this peer any more: over its byte cap.
        assert_eq!(p.park(peer(2), 3, 100, t), Err((3, Full::PeerBytes(1))));
    }

    #[test]
    fn expire_returns_the_late_and_frees_their_share() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Parking::new(SMALL);
        assert!(p.park(peer(1), "early", 40, t0 + s).is_ok());
        assert!(p.park(peer(1), "late", 40, t0 + 3 * s).is_ok());
        assert!(p.park(peer(2), "early2", 40, t0 + 2 * s).is_ok());
        assert!(p.expire(t0).is_empty());
        let mut gone = p.expire(t0 + 2 * s);
        gone.sort_by_key(|(_, item)| *item);
        assert_eq!(gone, vec![(peer(1), "early"), (peer(2), "early2")]);
        assert_eq!((p.len(), p.bytes()), (1, 40));
        // Peer 1 has room for its full 100 bytes minus what still waits.
        assert!(p.park(peer(1), "more", 60, t0 + 3 * s).is_ok());
        assert_eq!(p.take(&peer(1)), vec!["late", "more"]);
        assert!(p.expire(t0 + 10 * s).is_empty());
        assert_eq!((p.len(), p.bytes()), (0, 0));
    }
}

//! `init --expect N` (fleet start), as a pure decision: with no cluster in sight,
//! the node with the lowest id among at least N connected fresh nodes (itself
//! included) creates the cluster with the first five of them as voters.

use std::collections::BTreeSet;

/// What a fresh node sees.
#[derive(Debug, Clone, Default)]
pub struct Sight {
    pub me: u64,
    pub expect: u32,
    /// This node knows a leader or has a membership: a cluster exists.
    pub has_cluster: bool,
    /// Some advert names a leader: a cluster exists elsewhere; join it.
    pub adverts_know_a_leader: bool,
    pub connected: Vec<u64>,
}

/// The voters to create the cluster with, if this node should create it now.
pub fn decide(s: &Sight) -> Option<Vec<u64>> {
    if s.expect == 0 || s.has_cluster || s.adverts_know_a_leader {
        return None;
    }
    let mut seen: BTreeSet<u64> = s.connected.iter().copied().collect();
    seen.insert(s.me);
    if (seen.len() as u32) < s.expect || seen.first() != Some(&s.me) {
        return None;
    }
    // At most 5 voters; anyone beyond joins as a learner afterwards.
    Some(seen.into_iter().take(5).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sight(me: u64, connected: &[u64]) -> Sight {
        Sight {
            me,
            expect: 3,
            connected: connected.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn the_lowest_id_creates_the_cluster_once_enough_nodes_are_in_sight() {
        assert_eq!(decide(&sight(1, &[5])), None, "2 of 3");
        assert_eq!(decide(&sight(1, &[5, 3])), Some(vec![1, 3, 5]));
        assert_eq!(decide(&sight(3, &[5, 1])), None, "1 has the lowest id");
        let many = decide(&sight(1, &[2, 3, 4, 5, 6, 7])).unwrap();
        assert_eq!(many, vec![1, 2, 3, 4, 5], "at most five voters");
    }

    #[test]
    fn never_when_a_cluster_exists_or_expect_is_off() {
        let mut s = sight(1, &[2, 3]);
        s.has_cluster = true;
        assert_eq!(decide(&s), None);
        let mut s = sight(1, &[2, 3]);
        s.adverts_know_a_leader = true;
        assert_eq!(decide(&s), None);
        let mut s = sight(1, &[2, 3]);
        s.expect = 0;
        assert_eq!(decide(&s), None);
    }
}

//! The leader's voter set, as a pure decision: promote caught-up learners until
//! there are 3 voters (5 once 5 or more members are healthy), never to an even
//! count (1 voter with 1–2 healthy members, 3 with 3–4, 5 from 5: two learners are
//! promoted together, in one change), and replace a voter
//! that has not answered for `voter_grace` with a caught-up learner, only after
//! leading for `voter_grace` and only when the new voter set still has a healthy
//! majority, so a change never risks quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A learner within this many entries of the leader's log counts as caught up.
pub const CAUGHT_UP: u64 = 100;
/// A member that answered a raft RPC this recently is healthy.
pub const HEALTHY: Duration = Duration::from_secs(3);

/// What the leader knows of its members.
#[derive(Debug, Clone, Default)]
pub struct Members {
    pub me: u64,
    pub voters: BTreeSet<u64>,
    pub learners: Vec<u64>,
    /// A membership change is in progress.
    pub joint: bool,
    pub last_log: u64,
    /// Each follower's last matched log index.
    pub matched: BTreeMap<u64, u64>,
    /// When each member last answered a raft RPC.
    pub last_ok: BTreeMap<u64, Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Make these learners voters, in one change (one or two: the voter count after
    /// it is odd).
    Promote(BTreeSet<u64>),
    /// Replace the voter `gone` by `fresh`: the new voter set is `voters`.
    Replace {
        gone: u64,
        fresh: u64,
        voters: BTreeSet<u64>,
    },
    /// A voter is unreachable but replacing it would leave no healthy majority.
    Blocked { gone: u64 },
}

impl Members {
    fn healthy(&self, id: u64, now: Instant) -> bool {
        id == self.me
            || self
                .last_ok
                .get(&id)
                .is_some_and(|t| now.saturating_duration_since(*t) < HEALTHY)
    }

    fn caught_up(&self, id: u64, now: Instant) -> bool {
        self.healthy(id, now)
            && self
                .matched
                .get(&id)
                .is_some_and(|i| i + CAUGHT_UP >= self.last_log)
    }
}

/// How many voters `healthy` healthy members (voters and learners) should have:
/// always odd, so no even split can stop every write.
pub fn voter_target(healthy: usize) -> usize {
    match healthy {
        0..=2 => 1,
        3..=4 => 3,
        _ => 5,
    }
}

/// The change to make now, if any. `led_since`: when this node became leader.
pub fn decide(
    m: &Members,
    now: Instant,
    led_since: Instant,
    voter_grace: Duration,
) -> Option<Change> {
    if m.joint {
        return None;
    }
    let healthy_nodes = m
        .voters
        .iter()
        .chain(m.learners.iter())
        .filter(|id| m.healthy(**id, now))
        .count();
    let target = voter_target(healthy_nodes);
    let caught_up: Vec<u64> = m
        .learners
        .iter()
        .copied()
        .filter(|l| m.caught_up(*l, now))
        .collect();
    if m.voters.len() < target {
        // From an odd count take two at once; an even count (left by an older
        // version) gets one, back to odd.
        let step = if m.voters.len() % 2 == 1 { 2 } else { 1 };
        if caught_up.len() >= step {
            return Some(Change::Promote(
                caught_up.iter().copied().take(step).collect(),
            ));
        }
    }
    let fresh = caught_up.first().copied();
    if now.saturating_duration_since(led_since) < voter_grace {
        return None;
    }
    let gone = m.voters.iter().copied().find(|v| {
        *v != m.me
            && m.last_ok
                .get(v)
                .is_none_or(|t| now.saturating_duration_since(*t) >= voter_grace)
    })?;
    let fresh = fresh?;
    let mut next = m.voters.clone();
    next.remove(&gone);
    next.insert(fresh);
    let healthy_in_next = next.iter().filter(|v| m.healthy(**v, now)).count();
    if healthy_in_next * 2 <= next.len() {
        return Some(Change::Blocked { gone });
    }
    Some(Change::Replace {
        gone,
        fresh,
        voters: next,
    })
}

/// Taking retired nodes (`shoal node remove`) out of the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retirement {
    /// The new voter set, without the retired voters `gone` (they leave the
    /// membership with it) and still odd: caught-up learners are promoted to keep it
    /// so, or, with none, one more voter (never this leader) becomes a learner.
    Voters {
        gone: BTreeSet<u64>,
        voters: BTreeSet<u64>,
    },
    /// Retired learners to drop.
    Learners(BTreeSet<u64>),
}

/// The change that takes `retired` members out, if any is still a member.
pub fn retire(m: &Members, retired: &BTreeSet<u64>, now: Instant) -> Option<Retirement> {
    if m.joint {
        return None;
    }
    let gone: BTreeSet<u64> = m.voters.intersection(retired).copied().collect();
    if gone.is_empty() {
        let learners: BTreeSet<u64> = m
            .learners
            .iter()
            .copied()
            .filter(|l| retired.contains(l))
            .collect();
        return (!learners.is_empty()).then_some(Retirement::Learners(learners));
    }
    let mut voters: BTreeSet<u64> = m.voters.difference(retired).copied().collect();
    let healthy = m
        .voters
        .iter()
        .chain(m.learners.iter())
        .filter(|id| !retired.contains(id) && m.healthy(**id, now))
        .count();
    let target = voter_target(healthy);
    let mut fresh = m
        .learners
        .iter()
        .copied()
        .filter(|l| !retired.contains(l) && m.caught_up(*l, now));
    while voters.len() < target || voters.len().is_multiple_of(2) {
        match fresh.next() {
            Some(l) => {
                voters.insert(l);
            }
            None => break,
        }
    }
    if voters.len().is_multiple_of(2) {
        let demoted = voters.iter().rev().copied().find(|v| *v != m.me)?;
        voters.remove(&demoted);
    }
    (!voters.is_empty()).then_some(Retirement::Voters { gone, voters })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const GRACE: Duration = Duration::from_secs(30);

    /// Leader 1, voters 1..=3, learner 4 caught up; everyone answered at `t`.
    fn members(t: Instant) -> Members {
        Members {
            me: 1,
            voters: BTreeSet::from([1, 2, 3]),
            learners: vec![4],
            joint: false,
            last_log: 500,
            matched: BTreeMap::from([(2, 500), (3, 500), (4, 450)]),
            last_ok: BTreeMap::from([(2, t), (3, t), (4, t)]),
        }
    }

    fn promote(ids: &[u64]) -> Option<Change> {
        Some(Change::Promote(ids.iter().copied().collect()))
    }

    #[test]
    fn the_voter_target_is_odd() {
        let targets: Vec<usize> = (0..8).map(voter_target).collect();
        assert_eq!(targets, vec![1, 1, 1, 3, 3, 5, 5, 5]);
    }

    #[test]
    fn two_members_keep_one_voter_three_make_three_at_once() {
        let t = Instant::now();
        let mut m = Members {
            me: 1,
            voters: BTreeSet::from([1]),
            learners: vec![2],
            last_log: 10,
            matched: BTreeMap::from([(2, 10)]),
            last_ok: BTreeMap::from([(2, t)]),
            ..Default::default()
        };
        assert_eq!(decide(&m, t, t, GRACE), None, "2 members: 1 voter");
        m.learners.push(3);
        m.matched.insert(3, 10);
        m.last_ok.insert(3, t);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[2, 3]));
        // Only one of the two caught up: wait rather than make two voters.
        m.matched.insert(3, 10 + CAUGHT_UP + 1);
        m.last_log = 10 + CAUGHT_UP + 1;
        assert_eq!(decide(&m, t, t, GRACE), None);
    }

    #[test]
    fn an_even_voter_set_gets_one_more() {
        let t = Instant::now();
        let mut m = members(t);
        m.voters.remove(&3);
        m.learners = vec![3, 4];
        m.matched.insert(3, 500);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[3]));
    }

    #[test]
    fn losing_members_demotes_no_voter() {
        let t0 = Instant::now();
        let now = t0 + HEALTHY;
        // 3 voters, only the leader healthy: the target is 1 but nothing is removed.
        let mut m = members(t0);
        m.learners.clear();
        assert_eq!(decide(&m, now, now, GRACE), None);
        m.voters = BTreeSet::from([1, 2, 3, 5, 6]);
        assert_eq!(decide(&m, now, now, GRACE), None);
    }

    #[test]
    fn promotes_caught_up_learners_below_three_voters() {
        let t = Instant::now();
        let mut m = members(t);
        m.voters = BTreeSet::from([1]);
        m.learners = vec![2, 3, 4];
        m.matched.insert(2, 500);
        m.matched.insert(3, 500);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[2, 3]));
        // Not caught up (more than CAUGHT_UP behind): not promoted.
        m.matched.insert(3, 399);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[2, 4]));
        m.matched.insert(4, 399);
        assert_eq!(decide(&m, t, t, GRACE), None);
        m.matched.insert(4, 400);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[2, 4]));
        // Unhealthy learners are not caught up, whatever they matched.
        assert_eq!(decide(&m, t + HEALTHY, t, GRACE), None);
        // Nothing during a joint change.
        m.joint = true;
        assert_eq!(decide(&m, t, t, GRACE), None);
    }

    #[test]
    fn five_voters_once_five_members_are_healthy() {
        let t = Instant::now();
        let mut m = members(t);
        assert_eq!(decide(&m, t, t, GRACE), None, "3 voters, 4 healthy: enough");
        m.learners.push(5);
        m.last_ok.insert(5, t);
        assert_eq!(
            decide(&m, t, t, GRACE),
            None,
            "5 healthy but only learner 4 caught up: not to 4 voters"
        );
        m.matched.insert(5, 500);
        assert_eq!(decide(&m, t, t, GRACE), promote(&[4, 5]));
    }

    #[test]
    fn replaces_a_dead_voter_only_after_the_grace_and_while_leading_that_long() {
        let t0 = Instant::now();
        let now = t0 + GRACE;
        let mut m = members(now);
        m.last_ok.insert(3, t0);
        // Led only a moment: wait.
        assert_eq!(decide(&m, now, now - S(1), GRACE), None);
        let want = Change::Replace {
            gone: 3,
            fresh: 4,
            voters: BTreeSet::from([1, 2, 4]),
        };
        assert_eq!(decide(&m, now, t0, GRACE), Some(want));
        // Silent one second less than the grace: not dead yet.
        m.last_ok.insert(3, t0 + S(1));
        assert_eq!(decide(&m, now, t0, GRACE), None);
    }

    #[test]
    fn voter_replacement_only_with_a_healthy_majority() {
        let t0 = Instant::now();
        let now = t0 + GRACE;
        let mut m = members(now);
        // Voters 2 and 3 dead; the next set {1, 3, 4} would have 2 healthy of 3: ok.
        m.last_ok.insert(2, t0);
        m.last_ok.insert(3, t0);
        assert!(matches!(
            decide(&m, now, t0, GRACE),
            Some(Change::Replace { gone: 2, .. })
        ));
        // Five voters, four of them dead: replacing one still leaves three dead in
        // {1, 3, 4, 5, 6}, two healthy of five. Refused.
        let mut m = members(now);
        m.voters = BTreeSet::from([1, 2, 3, 5, 6]);
        for v in [2, 3, 5, 6] {
            m.last_ok.insert(v, t0);
        }
        assert_eq!(
            decide(&m, now, t0, GRACE),
            Some(Change::Blocked { gone: 2 })
        );
    }

    #[test]
    fn a_retired_voter_leaves_and_a_learner_keeps_the_count_odd() {
        let t = Instant::now();
        let m = members(t);
        let r = retire(&m, &BTreeSet::from([3]), t);
        assert_eq!(
            r,
            Some(Retirement::Voters {
                gone: BTreeSet::from([3]),
                voters: BTreeSet::from([1, 2, 4]),
            })
        );
        // No learner to promote: one more voter (not this leader) steps down, never
        // leaving an even set.
        let mut bare = members(t);
        bare.learners.clear();
        let r = retire(&bare, &BTreeSet::from([3]), t);
        assert_eq!(
            r,
            Some(Retirement::Voters {
                gone: BTreeSet::from([3]),
                voters: BTreeSet::from([1]),
            })
        );
        // A retired learner is dropped; nothing retired, nothing to do.
        assert_eq!(
            retire(&m, &BTreeSet::from([4]), t),
            Some(Retirement::Learners(BTreeSet::from([4])))
        );
        assert_eq!(retire(&m, &BTreeSet::from([9]), t), None);
        // Never during a joint change.
        let mut joint = members(t);
        joint.joint = true;
        assert_eq!(retire(&joint, &BTreeSet::from([3]), t), None);
    }
}

//! When a voter that lost every connection to its leader calls an election: a pure
//! function of the voter set, so that a dead leader is replaced in well under the
//! election timeout.
//!
//! Two facts of openraft (0.9) decide the order. A follower refuses every vote
//! request for its *leader lease* (the maximum election timeout) after the leader's
//! last message, so the first follower to stand is refused by the others; and votes
//! of one term are ordered by node id, so a candidate grants a later request of the
//! same term from a higher id. Random delays therefore win only when the later
//! caller happens to have the higher id (half the time with three nodes). Standing
//! in ascending id order, one step apart, makes the later callers the higher ids:
//! with 3 voters the second caller wins, with 5 the third (it has its own vote and
//! those of the two lower candidates).

use std::time::Duration;

/// The first caller's delay after the leader's connections closed (so a
/// reconnecting leader, or a closing that was one connection among several, is
/// seen first).
pub const FIRST: Duration = Duration::from_millis(50);
/// Between two callers: longer than a vote round trip on a LAN.
pub const STEP: Duration = Duration::from_millis(100);

/// How long `me` waits before standing for election after losing `leader`;
/// `None` if it should not stand (not a voter, or the leader itself: the leader is
/// not among the voters who may replace it).
pub fn delay(me: u64, leader: u64, voters: impl IntoIterator<Item = u64>) -> Option<Duration> {
    let mut others: Vec<u64> = voters.into_iter().filter(|v| *v != leader).collect();
    others.sort_unstable();
    others.dedup();
    let rank = others.iter().position(|v| *v == me)?;
    Some(FIRST + STEP * rank as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_stand_in_ascending_id_order_one_step_apart() {
        let voters = [40, 10, 30, 20, 50];
        let leader = 30;
        let d = |me| delay(me, leader, voters).unwrap();
        assert_eq!(d(10), FIRST);
        assert_eq!(d(20), FIRST + STEP);
        assert_eq!(d(40), FIRST + STEP * 2);
        assert_eq!(d(50), FIRST + STEP * 3);
    }

    #[test]
    fn the_leader_and_non_voters_do_not_stand() {
        assert_eq!(delay(30, 30, [10, 30, 50]), None);
        assert_eq!(delay(99, 30, [10, 30, 50]), None);
    }

    #[test]
    fn with_three_voters_the_higher_follower_calls_last() {
        let (a, b) = (7, 3);
        let da = delay(a, 5, [a, b, 5]).unwrap();
        let db = delay(b, 5, [a, b, 5]).unwrap();
        assert!(db < da, "the lower id must stand first");
    }
}

//! Who may send this node raft messages. A member (voter or learner) in this node's
//! latest view of the membership may; a certified node that is not one may not —
//! it could inflate terms, pose as a leader and have followers truncate their logs.
//! But a node's view lags while it catches up (a new learner replays the log from
//! the start, a partitioned one missed the entries that added the current leader),
//! so a sender this node does not know is asked about: if a member this node does
//! know says the sender is a member in its view, the sender is vouched for (and
//! remembered); if none does, it is refused (and not asked about again for a
//! while, so a rogue's stream of messages costs one question per interval).
//!
//! The questions go out through [`Net`]; what to conclude is decided by the pure
//! functions here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_types::NodeId;

use crate::net::{message, Net};

/// How long a sender nobody vouched for is refused without asking again.
pub const REFUSE_FOR: Duration = Duration::from_secs(5);
/// How many known members are asked about one sender, all at once. Generous: a
/// lagging view lists members that have since died or been removed, which never
/// answer.
pub const ASK_AT_MOST: usize = 16;
/// How long each may take to answer.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(800);

#[derive(Default)]
struct Memory {
    vouched: HashSet<u64>,
    refused_until: HashMap<u64, Instant>,
}

/// What this node remembers of the senders it asked about.
#[derive(Clone, Default)]
pub struct Vouchers {
    memory: Arc<Mutex<Memory>>,
}

/// What to do with a raft message from `sender`, before asking anyone.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Refuse,
    /// Ask these members (known to this node) whether `sender` is one.
    Ask(Vec<u64>),
}

/// The decision for `sender` given this node's view: `members` (voters and
/// learners), `me`, what was vouched or refused before, and `now`.
pub fn judge(
    sender: u64,
    me: u64,
    members: &[u64],
    vouched: bool,
    refused_until: Option<Instant>,
    now: Instant,
) -> Verdict {
    // No membership yet (a new node, its log empty): nothing to protect, and the
    // leader's first append is how it learns one.
    if members.is_empty() || members.contains(&sender) || vouched {
        return Verdict::Accept;
    }
    if refused_until.is_some_and(|t| now < t) {
        return Verdict::Refuse;
    }
    let ask: Vec<u64> = members
        .iter()
        .copied()
        .filter(|m| *m != me && *m != sender)
        .take(ASK_AT_MOST)
        .collect();
    if ask.is_empty() {
        Verdict::Refuse
    } else {
        Verdict::Ask(ask)
    }
}

impl Vouchers {
    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        match self.memory.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Whether `sender` may send raft messages to this node (`me`, whose view of
    /// the membership is `members`); asks known members when it must.
    pub async fn admit(
        &self,
        net: &Net,
        sender: u64,
        me: u64,
        members: &[u64],
    ) -> Result<(), String> {
        let now = Instant::now();
        let (vouched, refused_until) = self.with(|m| {
            (
                m.vouched.contains(&sender),
                m.refused_until.get(&sender).copied(),
            )
        });
        let ask = match judge(sender, me, members, vouched, refused_until, now) {
            Verdict::Accept => return Ok(()),
            Verdict::Refuse => return Err(not_member(sender)),
            Verdict::Ask(ask) => ask,
        };
        let questions = ask
            .into_iter()
            .map(|m| net.call(m, message::IsMember { node: sender }, Some(ANSWER_WITHIN)));
        let answers = futures::future::join_all(questions).await;
        if answers.iter().any(|a| matches!(a, Ok(true))) {
            self.with(|m| {
                m.vouched.insert(sender);
                m.refused_until.remove(&sender);
            });
            tracing::info!(node = %NodeId(sender), "a member vouched for a node this one did not know yet");
            return Ok(());
        }
        self.with(|m| {
            m.refused_until.insert(sender, now + REFUSE_FOR);
        });
        Err(not_member(sender))
    }
}

fn not_member(sender: u64) -> String {
    format!("node {} is not a member of this cluster", NodeId(sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_pass_strangers_are_asked_about_then_refused_for_a_while() {
        let t0 = Instant::now();
        let members = [1, 2, 3, 4, 5];
        assert_eq!(judge(2, 1, &members, false, None, t0), Verdict::Accept);
        assert_eq!(
            judge(9, 1, &[], false, None, t0),
            Verdict::Accept,
            "no view yet"
        );
        assert_eq!(
            judge(9, 1, &members, true, None, t0),
            Verdict::Accept,
            "vouched"
        );
        // Asked: known members but this node and the sender.
        assert_eq!(
            judge(9, 1, &members, false, None, t0),
            Verdict::Ask(vec![2, 3, 4, 5])
        );
        let many: Vec<u64> = (1..=40).collect();
        match judge(99, 1, &many, false, None, t0) {
            Verdict::Ask(v) => assert_eq!(v.len(), ASK_AT_MOST),
            other => panic!("{other:?}"),
        }
        let until = t0 + REFUSE_FOR;
        assert_eq!(
            judge(9, 1, &members, false, Some(until), t0),
            Verdict::Refuse
        );
        assert_eq!(
            judge(9, 1, &members, false, Some(until), until),
            Verdict::Ask(vec![2, 3, 4, 5]),
            "asked again once the refusal ran out"
        );
        // Nobody to ask: refused.
        assert_eq!(judge(9, 1, &[1], false, None, t0), Verdict::Refuse);
    }
}

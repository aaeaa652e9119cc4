//! The leader's judgement of silent workers, as a pure decision over the record of
//! signs of life and the time.
//!
//! Rules:
//! - A worker's jobs are re-queued once it has been silent for `lapse` (lease +
//!   margin), counted from the last sign of life (an acknowledged heartbeat or a
//!   lease request) and never from before this node's election: a new leader knows
//!   nothing of earlier heartbeats, so everyone starts fresh.
//! - Fast requeue: a worker whose every connection closed is judged after
//!   `requeue_when_gone`, but only on evidence seen while leading (as a follower this
//!   node may have lost an idle connection long ago, which says nothing about whether
//!   that worker is alive) and only if no sign of life came after the disconnection.
//! - A requeue carries the last applied index read before the record was brought up
//!   to date (`judged_at`): leases granted after the judgement are not taken back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shoal_types::NodeId;

use super::LeaseTiming;

/// Something the leader learned about a worker, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// An acknowledged heartbeat or a lease request.
    Seen(u64),
    /// A connection to the node was admitted.
    Connected(u64),
    /// The node's last connection closed.
    Disconnected(u64),
}

/// Re-queue this node's jobs leased up to `leased_up_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub node: NodeId,
    pub leased_up_to: u64,
    pub silent_for: Duration,
    /// Judged on a closed connection rather than a lapsed lease.
    pub gone: bool,
}

/// The leader's record of when it last heard from each worker.
#[derive(Debug, Default)]
pub struct Lapse {
    leader_since: Option<Instant>,
    last_seen: HashMap<u64, Instant>,
    /// Nodes whose every connection to this one closed, and since when.
    gone: HashMap<u64, Instant>,
}

impl Lapse {
    pub fn record(&mut self, sign: Sign, at: Instant) {
        match sign {
            Sign::Seen(n) => {
                let e = self.last_seen.entry(n).or_insert(at);
                *e = (*e).max(at);
            }
            Sign::Connected(n) => {
                self.gone.remove(&n);
            }
            Sign::Disconnected(n) => {
                self.gone.entry(n).or_insert(at);
            }
        }
    }

    /// Whether this node leads now; forgets the election time when it does not.
    pub fn leading(&mut self, leading: bool, now: Instant) {
        if !leading {
            self.leader_since = None;
        } else if self.leader_since.is_none() {
            self.leader_since = Some(now);
        }
    }

    /// The workers among `running` (nodes the log says run jobs) whose jobs must be
    /// re-queued now. Nothing while not leading.
    pub fn judge(
        &self,
        now: Instant,
        running: &[NodeId],
        judged_at: u64,
        timing: LeaseTiming,
    ) -> Vec<Verdict> {
        let Some(since) = self.leader_since else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for node in running {
            let seen = self.last_seen.get(&node.0).copied();
            let last = seen.map_or(since, |t| t.max(since));
            let gone = self.gone.get(&node.0).copied().filter(|g| {
                *g >= since
                    && now.saturating_duration_since(*g) >= timing.requeue_when_gone()
                    && seen.is_none_or(|s| s < *g)
            });
            let silent_for = now.saturating_duration_since(last);
            if gone.is_none() && silent_for < timing.lapse() {
                continue;
            }
            out.push(Verdict {
                node: *node,
                leased_up_to: judged_at,
                silent_for,
                gone: gone.is_some(),
            });
        }
        out
    }

    /// A requeue of `node` committed: do not propose it again every tick while it
    /// stays silent.
    pub fn requeued(&mut self, node: NodeId, now: Instant) {
        self.record(Sign::Seen(node.0), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: fn(u64) -> Duration = Duration::from_millis;
    const W: NodeId = NodeId(7);

    fn timing() -> LeaseTiming {
        // lease 6 s, margin 2 s: lapse 8 s, cut-off 1 s, gone 1.5 s.
        LeaseTiming::from_lease_ms(6_000)
    }

    fn leader_at(t0: Instant) -> Lapse {
        let mut l = Lapse::default();
        l.leading(true, t0);
        l
    }

    #[test]
    fn lapse_at_lease_plus_margin_counted_from_the_election() {
        let t0 = Instant::now();
        let mut l = Lapse::default();
        // Heard long before this node led: counts from the election, not from then.
        l.record(Sign::Seen(W.0), t0);
        l.leading(true, t0 + T(20_000));
        let at = |ms| l.judge(t0 + T(20_000) + T(ms), &[W], 5, timing());
        assert!(at(7_999).is_empty(), "silent 7.999 s < lapse");
        let v = at(8_000);
        assert_eq!(v.len(), 1, "re-queued at lapse = lease + margin");
        assert_eq!(v[0].silent_for, T(8_000));
        assert!(!v[0].gone);
    }

    #[test]
    fn not_leading_judges_nobody_and_forgets_the_election() {
        let t0 = Instant::now();
        let mut l = leader_at(t0);
        l.leading(false, t0 + T(1_000));
        assert!(l.judge(t0 + T(60_000), &[W], 5, timing()).is_empty());
        l.leading(true, t0 + T(60_000));
        assert!(l.judge(t0 + T(67_000), &[W], 5, timing()).is_empty());
        assert_eq!(l.judge(t0 + T(68_000), &[W], 5, timing()).len(), 1);
    }

    #[test]
    fn a_lease_request_is_a_sign_of_life() {
        let t0 = Instant::now();
        let mut l = leader_at(t0);
        l.record(Sign::Seen(W.0), t0 + T(5_000));
        assert!(l.judge(t0 + T(12_999), &[W], 5, timing()).is_empty());
        assert_eq!(l.judge(t0 + T(13_000), &[W], 5, timing()).len(), 1);
        // A sign of life stamped earlier (delivered late) does not move it back.
        l.record(Sign::Seen(W.0), t0 + T(1_000));
        assert!(l.judge(t0 + T(12_999), &[W], 5, timing()).is_empty());
    }

    #[test]
    fn a_requeue_leaves_leases_granted_after_its_judgement() {
        let t0 = Instant::now();
        let l = leader_at(t0);
        let v = l.judge(t0 + T(9_000), &[W], 42, timing());
        assert_eq!(v[0].leased_up_to, 42);
    }

    #[test]
    fn a_committed_requeue_is_not_proposed_again_at_once() {
        let t0 = Instant::now();
        let mut l = leader_at(t0);
        assert_eq!(l.judge(t0 + T(8_000), &[W], 5, timing()).len(), 1);
        l.requeued(W, t0 + T(8_000));
        assert!(l.judge(t0 + T(8_250), &[W], 5, timing()).is_empty());
    }

    #[test]
    fn fast_requeue_only_on_a_disconnection_seen_while_leading() {
        let t0 = Instant::now();
        let mut l = Lapse::default();
        l.record(Sign::Disconnected(W.0), t0);
        l.leading(true, t0 + T(1_000));
        // Gone before the election: waits for the full lapse.
        assert!(l.judge(t0 + T(5_000), &[W], 5, timing()).is_empty());

        let mut l = leader_at(t0);
        l.record(Sign::Disconnected(W.0), t0 + T(1_000));
        assert!(l.judge(t0 + T(2_499), &[W], 5, timing()).is_empty());
        let v = l.judge(t0 + T(2_500), &[W], 5, timing());
        assert_eq!(v.len(), 1, "gone for requeue_when_gone (1.5 s)");
        assert!(v[0].gone);
    }

    #[test]
    fn fast_requeue_is_off_after_a_sign_of_life_or_a_reconnection() {
        let t0 = Instant::now();
        let mut l = leader_at(t0);
        l.record(Sign::Disconnected(W.0), t0 + T(1_000));
        l.record(Sign::Seen(W.0), t0 + T(1_200));
        assert!(l.judge(t0 + T(3_000), &[W], 5, timing()).is_empty());

        let mut l = leader_at(t0);
        l.record(Sign::Disconnected(W.0), t0 + T(1_000));
        l.record(Sign::Connected(W.0), t0 + T(1_100));
        assert!(l.judge(t0 + T(3_000), &[W], 5, timing()).is_empty());
        // The first disconnection time is kept while it stays gone.
        l.record(Sign::Disconnected(W.0), t0 + T(4_000));
        l.record(Sign::Disconnected(W.0), t0 + T(5_000));
        assert_eq!(l.judge(t0 + T(5_500), &[W], 5, timing()).len(), 1);
    }
}

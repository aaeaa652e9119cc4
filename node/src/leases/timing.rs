//! The lease timing of a cluster, from `lease_ms` in shoal.toml: every lease rule's
//! duration is derived here, from `lease` and `margin = lease / 3`.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub lease: Duration,
    pub margin: Duration,
}

impl LeaseTiming {
    pub fn from_lease_ms(lease_ms: u64) -> LeaseTiming {
        LeaseTiming {
            lease: Duration::from_millis(lease_ms),
            margin: Duration::from_millis(lease_ms / 3),
        }
    }
    /// A supervisor kills its job this long after its last renewal.
    pub fn self_fence(&self) -> Duration {
        self.lease - self.margin
    }
    /// The leader re-queues a silent worker's jobs after this long.
    pub fn lapse(&self) -> Duration {
        self.lease + self.margin
    }
    /// A worker whose connection to the leader is gone fences its jobs this long
    /// after its last acknowledged heartbeat.
    pub fn fence_when_cut_off(&self) -> Duration {
        Duration::from_secs(1).min(self.margin)
    }
    /// The leader re-queues the jobs of a worker whose connections all closed this
    /// long ago (a crashed node closes its sockets at once; its supervisors kill
    /// their jobs as soon as it dies, and a live node cut off fences them sooner).
    pub fn requeue_when_gone(&self) -> Duration {
        self.fence_when_cut_off() + Duration::from_millis(500)
    }
    /// How often workers heartbeat.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 6).max(Duration::from_millis(100))
    }
    /// A leader vouches for workers only if a quorum answered it this recently.
    pub fn quorum_fresh(&self) -> Duration {
        self.margin / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn self_fence_comes_two_margins_before_the_lapse() {
        let t = LeaseTiming::from_lease_ms(6_000);
        assert_eq!(t.margin, MS(2_000));
        assert_eq!(t.self_fence(), MS(4_000), "self-fence at lease − margin");
        assert_eq!(t.lapse(), MS(8_000), "lapse at lease + margin");
        assert_eq!(t.lapse() - t.self_fence(), 2 * t.margin);
    }

    #[test]
    fn cut_off_fencing_waits_one_second_or_the_margin_if_shorter() {
        assert_eq!(
            LeaseTiming::from_lease_ms(6_000).fence_when_cut_off(),
            MS(1_000)
        );
        assert_eq!(
            LeaseTiming::from_lease_ms(1_500).fence_when_cut_off(),
            MS(500)
        );
        // A node gone is judged half a second after it would have fenced itself.
        assert_eq!(
            LeaseTiming::from_lease_ms(6_000).requeue_when_gone(),
            MS(1_500)
        );
    }

    #[test]
    fn heartbeats_six_per_lease_never_faster_than_ten_a_second() {
        assert_eq!(
            LeaseTiming::from_lease_ms(6_000).heartbeat_every(),
            MS(1_000)
        );
        assert_eq!(LeaseTiming::from_lease_ms(300).heartbeat_every(), MS(100));
        assert_eq!(LeaseTiming::from_lease_ms(6_000).quorum_fresh(), MS(1_000));
    }
}

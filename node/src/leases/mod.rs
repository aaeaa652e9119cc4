//! Leases of running jobs, both sides: the timing every rule is derived from
//! ([`timing`]), a worker's heartbeats to the leader ([`heartbeat`]), and on the
//! leader the record of workers' signs of life and the re-queueing of silent ones
//! ([`lapse`] decides, [`keeper`] owns the record and acts).
//!
//! Every worker heartbeats the leader about once a second. Only when the leader
//! acknowledges (and the leader itself heard from a quorum recently, so a deposed
//! leader cannot vouch for anyone) does the worker renew its jobs' supervisors, which
//! kill their job `lease − margin` after the last renewal. The leader re-queues the
//! jobs of a node it has not heard from for `lease + margin`, counted from its own
//! election at the earliest. The gap between the two (2 × margin) is what keeps two
//! attempts of one job from overlapping; a completion from the old attempt carries a
//! stale fencing token and is refused.

pub mod heartbeat;
pub mod keeper;
pub mod lapse;
pub mod timing;

pub use heartbeat::{leads_with_quorum, LeaderLink};
pub use keeper::{LeaseKeeper, LivenessHandle};
pub use timing::LeaseTiming;

//! The `freeze` scenario (CHAOS.md S5b): a worker's node, its supervisors and its
//! jobs frozen together through the cgroup freezer — a VM that stops being
//! scheduled — for twice a lease, then thawed. Its jobs must have moved on; the
//! frozen attempt may show life only briefly after the thaw (the checker reports how
//! long, bound [`super::check::THAW_OVERLAP_MS`]) and its late completion must be
//! refused.
//!
//! Each node is started inside a cgroup of its own, made under this process's
//! (v1 `freezer`, `pids` where mounted; v2 where that is the hierarchy); its
//! supervisors make theirs inside it, so freezing it freezes everything it started.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use shoal_supervisor::cgroup::{AttemptCgroup, Layout};

use super::history::{now_ns, Event, Recorder};
use super::probe::{probe_on, Probe};
use super::world::World;
use super::Ctx;

/// How long a node stays frozen: two leases (6 s each).
const FROZEN_FOR: Duration = Duration::from_secs(12);

/// A node's own cgroup.
pub struct NodeCgroup {
    cg: AttemptCgroup,
    /// The same directories as a layout, to sweep the supervisors' cgroups left in
    /// them.
    inside: Layout,
}

impl NodeCgroup {
    /// Makes the cgroup of node `i` of this run.
    pub fn create(i: usize) -> anyhow::Result<NodeCgroup> {
        let layout = Layout::probe().context(
            "the freeze scenario needs a cgroup freezer it can write (run as root on a \
             host with cgroup v2, or v1 with a freezer hierarchy)",
        )?;
        let name = format!("shoal-testnet-{}-n{i}", std::process::id());
        let cg = AttemptCgroup::create(&layout, &name, None)
            .with_context(|| format!("making cgroup {name} ({})", layout.name()))?;
        let inside = match &layout {
            Layout::V2 { dir } => Layout::V2 {
                dir: dir.join(&name),
            },
            Layout::V1 { freezer, pids } => Layout::V1 {
                freezer: freezer.join(&name),
                pids: pids.as_ref().map(|p: &PathBuf| p.join(&name)),
            },
        };
        Ok(NodeCgroup { cg, inside })
    }

    /// What the node's process writes itself into before exec.
    pub fn join_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.cg.join_fds()
    }

    pub fn freeze(&self, frozen: bool) {
        self.cg.freeze(frozen);
    }
}

impl Drop for NodeCgroup {
    fn drop(&mut self) {
        // Thawed, so nothing left in it waits forever; then the supervisors'
        // empty cgroups, then its own (AttemptCgroup's drop).
        self.cg.freeze(false);
        self.inside.sweep();
    }
}

/// One round: a probe job on a follower, the follower's cgroup frozen for
/// [`FROZEN_FOR`], thawed.
pub async fn inject(
    w: &mut World,
    clients: &Recorder,
    ctx: &Ctx,
    round: u64,
    leader: usize,
    follower: usize,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let probe = Probe::new("freeze", round, FROZEN_FOR.as_millis() as u64 + 2_000);
    let id = probe_on(w, leader, follower, clients, ctx, &probe).await?;
    let node_id = w.nodes[follower].status().await?.node_id;
    let cg = w
        .cgroups
        .get(follower)
        .context("the freeze scenario's world has no node cgroups")?;
    let from = now_ns();
    cg.freeze(true);
    note(format!(
        "freeze node {follower} and everything it started (job {id} there)"
    ));
    tokio::time::sleep(FROZEN_FOR).await;
    cg.freeze(false);
    clients.record(&Event::Thawed {
        t: now_ns(),
        from,
        node: node_id,
    });
    note(format!("thaw node {follower}"));
    Ok(())
}

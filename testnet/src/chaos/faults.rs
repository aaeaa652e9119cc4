//! The faults of each scenario, one round at a time, on the seeded schedule; every
//! fault and its healing is written to the history.

use std::time::Duration;

use anyhow::bail;

use super::history::{now_ns, Event, Recorder};
use super::probe::{probe_on, Probe};
use super::world::World;
use super::{Ctx, Rng};
use crate::net::proxy::Link;

/// Sleeps between `min` and `min + spread` ms.
pub(super) async fn pause(rng: &mut Rng, min: u64, spread: u64) {
    tokio::time::sleep(Duration::from_millis(min + rng.below(spread))).await;
}

/// `k` distinct nodes out of `n`, seeded.
pub(super) fn pick(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

pub(super) fn rest(n: usize, of: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !of.contains(i)).collect()
}

/// One round of scenario `name`'s fault and its healing.
pub async fn inject(
    name: &str,
    w: &mut World,
    rng: &mut Rng,
    clients: &Recorder,
    ctx: &Ctx,
    round: u64,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let n = w.nodes.len();
    let li = w.leader_index().await?;
    let follower = {
        let others = rest(n, &[li]);
        others[rng.below(others.len() as u64) as usize]
    };
    match name {
        "leader-kill" | "worker-kill" => {
            let victim = if name == "leader-kill" { li } else { follower };
            note(format!("kill -9 node {victim}"));
            w.nodes[victim].kill9();
            pause(rng, 1500, 1500).await;
            w.nodes[victim].restart()?;
            note(format!("restart node {victim}"));
        }
        "worker-stop" => {
            // Make sure a job that outlives the stop runs there: drain the others,
            // submit a 14 s probe, wait for it to start, undrain.
            let probe = Probe::new("probe", round, 14_000);
            probe_on(w, li, follower, clients, ctx, &probe).await?;
            // Longer than lease + margin (8 s): its jobs must move, never overlap.
            note(format!("SIGSTOP node {follower}"));
            w.nodes[follower].signal(libc::SIGSTOP);
            pause(rng, 9000, 2000).await;
            w.nodes[follower].signal(libc::SIGCONT);
            note(format!("SIGCONT node {follower}"));
        }
        "leader-pause" => {
            // Past the election timeout: the others elect a new leader; resumed, the
            // old one must step down without committing or acknowledging anything
            // alone (every acknowledgement is judged by the lost check).
            note(format!("SIGSTOP the leader, node {li}"));
            w.nodes[li].signal(libc::SIGSTOP);
            pause(rng, 3000, 2000).await;
            w.nodes[li].signal(libc::SIGCONT);
            note(format!("SIGCONT node {li}"));
        }
        "wiped-disk" | "corrupt-follower" => {
            super::store::inject(name, w, rng, clients, round, li).await?;
        }
        "membership-churn" => {
            super::churn::inject(w, clients, round, li, follower).await?;
        }
        "escape" => {
            super::escape::inject(w, rng, clients, ctx, round, li, follower).await?;
        }
        "freeze" => {
            super::freeze::inject(w, clients, ctx, round, li, follower).await?;
        }
        "poison" => {
            let taken =
                super::rogue::attack_from(w, ctx, round, super::rogue::Rogue::Poisoner).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Restarted as systemd would, so the run goes on; the death is the finding.
            let dead = w.revive()?;
            if !dead.is_empty() {
                clients.record(&Event::Violation {
                    t: now_ns(),
                    what: format!("nodes {dead:?} exited after the poison round"),
                });
            }
            note(format!(
                "poison: {taken} oversized requests accepted, nodes exited: {dead:?}"
            ));
        }
        "restart-all" => {
            note("kill -9 every node".into());
            for node in w.nodes.iter_mut() {
                node.kill9();
            }
            pause(rng, 500, 1500).await;
            for node in w.nodes.iter_mut() {
                node.restart()?;
            }
            note("restart every node".into());
        }
        "rolling-restart" => {
            for (i, node) in w.nodes.iter_mut().enumerate() {
                note(format!("stop node {i}"));
                node.terminate();
                node.restart()?;
                note(format!("restart node {i}"));
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        }
        "partition-minority" => {
            let m = 1 + rng.below(((n - 1) / 2) as u64) as usize;
            let minority = pick(rng, n, m);
            note(format!(
                "partition {minority:?} from {:?} (leader {li})",
                rest(n, &minority)
            ));
            w.partition(&minority, &rest(n, &minority))?;
            pause(rng, 4000, 4000).await;
            w.net.heal()?;
            note("heal".into());
        }
        "partition-leader" => {
            note(format!("isolate the leader, node {li}"));
            w.partition(&[li], &rest(n, &[li]))?;
            pause(rng, 4000, 4000).await;
            w.net.heal()?;
            note("heal".into());
        }
        "flapping-partition" => {
            for _ in 0..4 + rng.below(4) {
                if rng.below(3) == 0 {
                    // Asymmetric: one node stops hearing another, not the reverse.
                    let pair = pick(rng, n, 2);
                    let (from, to) = if rng.below(2) == 0 {
                        (pair[0], pair[1])
                    } else {
                        (pair[1], pair[0])
                    };
                    note(format!("one-way cut: node {to} stops hearing node {from}"));
                    w.cut(from, to)?;
                } else {
                    let m = 1 + rng.below(((n - 1) / 2) as u64) as usize;
                    let minority = pick(rng, n, m);
                    note(format!("partition {minority:?}"));
                    w.partition(&minority, &rest(n, &minority))?;
                }
                pause(rng, 500, 1500).await;
                w.net.heal()?;
                note("heal".into());
                pause(rng, 300, 1000).await;
            }
        }
        "slow-network" => {
            let link = Link {
                delay_ms: 20 + rng.below(80),
                jitter_ms: rng.below(50),
                loss_pct: 5 + rng.below(15),
                reset_permille: rng.below(3),
            };
            if rng.below(2) == 0 {
                note(format!("every link slow and lossy: {link:?}"));
                w.net.set_links(link);
            } else {
                note(format!(
                    "links into node {follower} slow and lossy: {link:?}"
                ));
                w.set_link(follower, link);
            }
            pause(rng, 5000, 5000).await;
            w.net.set_links(Link::default());
            note("links healed".into());
        }
        "disk-full" => {
            let victim = if rng.below(2) == 0 { li } else { follower };
            let Some(disks) = &w.disks else {
                bail!("disk-full without its disks")
            };
            let filled = disks.fill(victim)?;
            note(format!(
                "disk of node {victim} full ({} MiB of ballast)",
                filled >> 20
            ));
            pause(rng, 4000, 4000).await;
            disks.free(victim)?;
            let revived = w.revive()?;
            note(format!(
                "disk of node {victim} freed; restarted exited nodes {revived:?}"
            ));
        }
        "clock-skew" => {
            let victim = rng.below(n as u64) as usize;
            let Some(clocks) = &w.clocks else {
                bail!("clock-skew without its clocks")
            };
            if rng.below(3) == 0 {
                note(format!("clock of node {victim} strobes ±3 s"));
                for k in 0..6 {
                    clocks.set(victim, if k % 2 == 0 { 3 } else { -3 })?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            } else {
                let secs = (5 + rng.below(115)) as i64 * if rng.below(2) == 0 { 1 } else { -1 };
                note(format!("clock of node {victim} moved {secs:+} s"));
                clocks.set(victim, secs)?;
                pause(rng, 5000, 3000).await;
            }
            clocks.set(victim, 0)?;
            note(format!("clock of node {victim} back"));
        }
        "bad-peer" => {
            let accepted =
                super::rogue::attack_from(w, ctx, round, super::rogue::Rogue::Forger).await?;
            note(format!(
                "bad peers: {accepted} forged submissions or admissions accepted"
            ));
        }
        other => bail!("scenario {other} has no fault"),
    }
    Ok(())
}

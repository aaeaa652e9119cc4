//! The `membership-churn` scenario: while a follower is down (`kill -9`) or cut off
//! (a partition), a new node joins at the spare place and the old one is removed
//! (`shoal node remove`, `--force` while it is only cut off, as it still looks
//! alive to some), then stopped for good and the partition healed. The new node
//! takes the old one's index, so the workload and the checks go on with the same
//! number of nodes; the old one's place becomes the spare.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::history::{now_ns, Event, Recorder};
use super::world::World;
use crate::cluster::{start_node, NodeSpec};

/// One round of churn; `victim` is a follower.
pub async fn inject(
    w: &mut World,
    clients: &Recorder,
    round: u64,
    leader: usize,
    victim: usize,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let spare = w.spare.context("membership-churn without a spare place")?;
    let old_id = w.nodes[victim].status().await?.node_id;
    let at = w.place_of[victim];
    // Partitions need root (nftables); without it every round kills.
    let cut = round.is_multiple_of(2) && crate::net::is_root();
    if cut {
        let others: Vec<usize> = (0..w.net.places.len()).filter(|p| *p != at).collect();
        w.net.partition(&[at], &others)?;
        note(format!("cut node {victim} off from everyone"));
    } else {
        w.nodes[victim].kill9();
        note(format!("kill -9 node {victim}"));
    }

    // A new node joins meanwhile, through the leader.
    // What the old node had, the new one gets: its disk (a new home on it), its
    // clock, its cgroup.
    let dir = w.dir.join(format!("n{victim}-round{round}"));
    let home = match &w.disks {
        Some(_) => w.nodes[victim]
            .home
            .with_file_name(format!("home-round{round}")),
        None => dir.join("home"),
    };
    let spec = NodeSpec {
        home,
        dir,
        place: w.net.places[spare].clone(),
        env: w.clocks.as_ref().map(|c| c.env(victim)).unwrap_or_default(),
        cgroup_procs: w
            .cgroups
            .get(victim)
            .map(|c| c.join_fds())
            .unwrap_or_default(),
    };
    let via = w.reachable(leader);
    let shoal = w.nodes[leader].shoal.clone();
    let new = start_node(&shoal, spec, 2, Some((&w.bundle, &via)))?;
    wait_member(&new, Duration::from_secs(30)).await?;
    note(format!(
        "node {} joined at place {spare} to replace node {victim}",
        new.status().await?.node_id
    ));
    let api = w.nodes[leader].client();
    super::admin::remove_node(&api, &old_id, cut, Duration::from_secs(30)).await?;
    note(format!(
        "removed node {victim} ({old_id}){}",
        if cut { " with --force" } else { "" }
    ));

    // The old one goes for good; the new one takes its index.
    let old = std::mem::replace(&mut w.nodes[victim], new);
    old.stop();
    if cut {
        w.net.heal()?;
        note("heal".into());
    }
    if let Ok(mut s) = w.sockets.write() {
        s[victim] = w.nodes[victim].home.join("shoal.sock");
    }
    w.place_of[victim] = spare;
    w.spare = Some(at);
    Ok(())
}

/// Waits until a new node answers and knows a leader.
async fn wait_member(n: &crate::cluster::LocalNode, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(c) = n.status().await {
            if c.leader.is_some() {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the new node at {} did not join within {} s",
            n.home.display(),
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

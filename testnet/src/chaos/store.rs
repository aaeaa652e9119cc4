//! The store faults (CHAOS.md S12, S13): a node loses its `db/` (`wiped-disk`, a
//! follower one round and the genesis node the next), or a byte of a stopped
//! follower's WAL or table file is flipped (`corrupt-follower`). The node must then
//! refuse to start, naming `shoal node --rejoin`, rather than serve a shorter log or
//! bootstrap a cluster of its own; the fault then does what an operator would:
//! `--rejoin` from the others, and `shoal node remove` of the old identity.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::history::{now_ns, Event, Recorder};
use super::world::World;
use super::Rng;

/// How long a node on a damaged store has to refuse.
const REFUSE_WITHIN: Duration = Duration::from_secs(20);

/// What is done to the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Damage {
    /// `db/` removed while the node is down.
    Wipe,
    /// A byte in the middle of the largest WAL file flipped after a `kill -9`.
    FlipWal,
    /// A byte near the end of the largest table file (its meta blocks, read at open)
    /// flipped after a clean stop.
    FlipSst,
}

/// One round of `wiped-disk` or `corrupt-follower`.
pub async fn inject(
    name: &str,
    w: &mut World,
    rng: &mut Rng,
    clients: &Recorder,
    round: u64,
    leader: usize,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let violation = |what: String| {
        eprintln!("{name}: violation: {what}");
        clients.record(&Event::Violation { t: now_ns(), what })
    };
    let n = w.nodes.len();
    let followers: Vec<usize> = (0..n).filter(|i| *i != leader).collect();
    let follower = followers[rng.below(followers.len() as u64) as usize];
    let (victim, damage) = match name {
        // Odd rounds a follower, even rounds the genesis node (leader or not).
        "wiped-disk" if round.is_multiple_of(2) => (0, Damage::Wipe),
        "wiped-disk" => (follower, Damage::Wipe),
        _ if !round.is_multiple_of(2) => (follower, Damage::FlipWal),
        _ => (follower, Damage::FlipSst),
    };
    let old_id = w.nodes[victim].status().await?.node_id;
    let db = w.nodes[victim].home.join("db");
    let damage = match damage {
        Damage::Wipe => {
            w.nodes[victim].kill9();
            std::fs::remove_dir_all(&db).with_context(|| format!("removing {}", db.display()))?;
            note(format!("kill -9 node {victim} and remove its db/"));
            Damage::Wipe
        }
        Damage::FlipWal => {
            w.nodes[victim].kill9();
            let wal = largest(&db, "log")?.context("no WAL file to damage")?;
            let at = flip(&wal, |len| len / 2)?;
            note(format!(
                "kill -9 node {victim}, flip a byte at {at} of {}",
                wal.display()
            ));
            Damage::FlipWal
        }
        Damage::FlipSst => {
            // A start replays the WAL into table files: after one more stop the
            // node's log is in them.
            w.nodes[victim].terminate();
            w.nodes[victim].restart()?;
            wait_api(w, victim, Duration::from_secs(20)).await?;
            w.nodes[victim].terminate();
            match largest(&db, "sst")? {
                Some(sst) => {
                    let at = flip(&sst, |len| len.saturating_sub(64))?;
                    note(format!(
                        "stop node {victim}, flip a byte at {at} of {}",
                        sst.display()
                    ));
                    Damage::FlipSst
                }
                None => {
                    let wal = largest(&db, "log")?.context("neither table nor WAL file")?;
                    let at = flip(&wal, |len| len / 2)?;
                    note(format!(
                        "stop node {victim} (no table file yet), flip a byte at {at} of {}",
                        wal.display()
                    ));
                    Damage::FlipWal
                }
            }
        }
    };

    match w.nodes[victim].expect_refusal(REFUSE_WITHIN)? {
        Some((status, stderr)) if !status.success() && stderr.contains("--rejoin") => {
            note(format!(
                "node {victim} refused to start on its {damage:?} store ({status})"
            ));
        }
        Some((status, stderr)) => {
            violation(format!(
                "node {victim} on a {damage:?} store exited ({status}) without naming \
                 --rejoin: {}",
                stderr.trim()
            ));
        }
        None => {
            violation(format!(
                "node {victim} ran for {} s on a {damage:?} store",
                REFUSE_WITHIN.as_secs()
            ));
        }
    }

    // The operator's recovery: a new identity from the others, the old one removed.
    let via = w.reachable((victim + 1) % n);
    w.nodes[victim].restart_with(&["--rejoin".into(), "--bootstrap".into(), via])?;
    note(format!("node {victim} started with --rejoin"));
    wait_api(w, victim, Duration::from_secs(30)).await?;
    let other = w.nodes[(victim + 1) % n].client();
    super::admin::remove_node(&other, &old_id, false, Duration::from_secs(30)).await?;
    note(format!("removed node {victim}'s old identity {old_id}"));
    Ok(())
}

/// Waits until node `i` answers on its socket.
async fn wait_api(w: &mut World, i: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = w.nodes[i].exited() {
            anyhow::bail!(
                "node {i} exited ({status}); see {}",
                w.nodes[i].home.display()
            );
        }
        if w.nodes[i].status().await.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "node {i} did not answer within {} s",
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The largest non-empty file in `dir` ending in `.ext`.
fn largest(dir: &Path, ext: &str) -> anyhow::Result<Option<PathBuf>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == ext) {
            let len = std::fs::metadata(&p)?.len();
            if len > 0 && best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, p));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Flips one bit of the byte at `at(len)`; the offset.
fn flip(path: &Path, at: impl Fn(usize) -> usize) -> anyhow::Result<usize> {
    let mut bytes = std::fs::read(path)?;
    let i = at(bytes.len()).min(bytes.len().saturating_sub(1));
    bytes[i] ^= 0x20;
    std::fs::write(path, &bytes)?;
    Ok(i)
}

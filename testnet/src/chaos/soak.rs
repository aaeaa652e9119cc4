//! `shoal-testnet soak`: one cluster for a long time under every fault the chaos
//! scenarios have, drawn one per round on a seeded schedule, with the workload
//! running throughout. Besides the checker's findings over the whole history it
//! samples each node's resident memory, open files and home directory size every
//! [`SAMPLE_EVERY`] and reports how they grew after the warm-up: a leak shows as
//! growth, a purge that never runs as disk that only goes up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::world::World;
use crate::net::Mode;

/// How often each node is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(30);

/// The faults that need root (nftables, loop mounts, the cgroup freezer).
const NEED_ROOT: &[&str] = &[
    "partition-minority",
    "partition-leader",
    "flapping-partition",
    "disk-full",
    "freeze",
];

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long the faults and the workload run (e.g. 30m, 2h)
    #[arg(long, default_value = "30m", value_parser = shoal_types::duration::parse_secs)]
    pub duration: u64,
    /// Nodes in the cluster
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Seed of the workload and the fault schedule
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Samples before this are the warm-up, not counted as growth (e.g. 5m)
    #[arg(long, default_value = "5m", value_parser = shoal_types::duration::parse_secs)]
    pub warm_up: u64,
    /// Only these scenarios' faults (comma-separated) [default: every one this
    /// user can run]
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Keep the cluster's homes, logs, history and samples here [default: a temp
    /// dir, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Nodes on 127.0.0.x addresses [default when not root]
    #[arg(long, conflicts_with = "netns")]
    pub loopback: bool,
    /// Each node in its own network namespace (root) [default as root]
    #[arg(long)]
    pub netns: bool,
    /// Also print the report as one JSON object as the last line
    #[arg(long)]
    pub json: bool,
}

/// One node's figures at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the run began.
    pub s: f64,
    pub node: usize,
    pub pid: i32,
    pub rss_kib: u64,
    pub fds: u64,
    pub disk_bytes: u64,
}

/// How one node's figures moved from the end of the warm-up to the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Growth {
    pub node: usize,
    pub rss_kib_after_warm_up: u64,
    pub rss_kib_end: u64,
    pub rss_kib_max: u64,
    pub fds_after_warm_up: u64,
    pub fds_end: u64,
    pub disk_bytes_after_warm_up: u64,
    pub disk_bytes_end: u64,
}

impl Growth {
    pub fn rss_growth_kib(&self) -> i64 {
        self.rss_kib_end as i64 - self.rss_kib_after_warm_up as i64
    }
}

/// Per node, the first sample at or after `warm_up_s` against the last one (nodes
/// with no sample after the warm-up are left out).
pub fn growth(samples: &[Sample], warm_up_s: f64) -> Vec<Growth> {
    let mut nodes: Vec<usize> = samples.iter().map(|s| s.node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .into_iter()
        .filter_map(|node| {
            let after: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.node == node && s.s >= warm_up_s)
                .collect();
            let (first, last) = (after.first()?, after.last()?);
            Some(Growth {
                node,
                rss_kib_after_warm_up: first.rss_kib,
                rss_kib_end: last.rss_kib,
                rss_kib_max: after.iter().map(|s| s.rss_kib).max().unwrap_or(0),
                fds_after_warm_up: first.fds,
                fds_end: last.fds,
                disk_bytes_after_warm_up: first.disk_bytes,
                disk_bytes_end: last.disk_bytes,
            })
        })
        .collect()
}

/// Resident memory (KiB) and open descriptors of process `pid`.
fn proc_figures(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

/// Bytes of the files under `dir` (sockets and the like count 0).
fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Samples every running node of `w`.
fn sample(w: &World, at: Duration) -> Vec<Sample> {
    w.nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let pid = n.pid()?;
            let (rss_kib, fds) = proc_figures(pid)?;
            Some(Sample {
                s: at.as_secs_f64(),
                node: i,
                pid,
                rss_kib,
                fds,
                disk_bytes: du(&n.home),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct Report {
    seed: u64,
    nodes: usize,
    mode: &'static str,
    duration_s: u64,
    warm_up_s: u64,
    faults: Vec<String>,
    findings: super::check::Findings,
    growth: Vec<Growth>,
    max_rss_growth_mib: f64,
}

pub async fn run(a: SoakArgs) -> anyhow::Result<bool> {
    let all: Vec<&str> = crate::scenarios::SCENARIOS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let root = crate::net::is_root();
    let names: Vec<String> = if a.faults.is_empty() {
        all.iter()
            .filter(|n| root || !NEED_ROOT.contains(n))
            .map(|s| s.to_string())
            .collect()
    } else {
        for f in &a.faults {
            anyhow::ensure!(
                all.contains(&f.as_str()),
                "no scenario {f:?}; see `shoal-testnet scenarios`"
            );
        }
        a.faults.clone()
    };
    anyhow::ensure!(
        a.nodes >= 3,
        "soak needs at least 3 nodes (a majority must survive a fault)"
    );
    let mode = Mode::pick(a.netns, a.loopback);
    let shoal = crate::lab::sibling_shoal()?;
    let temp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(dir.join("history"))?;
    eprintln!(
        "soak: {} nodes ({}), seed {}, {} s, faults {}",
        a.nodes,
        mode.name(),
        a.seed,
        a.duration,
        names.join(",")
    );
    let plan = super::Plan {
        names: names.clone(),
        nodes: a.nodes,
        seed: a.seed,
        duration: Duration::from_secs(a.duration),
        mode,
    };
    let mut file = std::fs::File::create(dir.join("samples.jsonl"))?;
    let mut samples = Vec::new();
    let mut last: Option<Instant> = None;
    let findings = super::drive(&shoal, &dir, &plan, |w, at| {
        if last.is_some_and(|l| l.elapsed() < SAMPLE_EVERY) {
            return;
        }
        last = Some(Instant::now());
        for s in sample(w, at) {
            if let Ok(line) = serde_json::to_string(&s) {
                let _ = writeln!(file, "{line}");
            }
            samples.push(s);
        }
    })
    .await?;
    let grown = growth(&samples, a.warm_up as f64);
    let max_rss_growth_mib = grown
        .iter()
        .map(|g| g.rss_growth_kib() as f64 / 1024.0)
        .fold(0.0, f64::max);
    println!(
        "{:<4} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>11} {:>11}",
        "NODE",
        "RSS_MIB@WU",
        "RSS_MIB",
        "GROWTH",
        "MAX_MIB",
        "FDS@WU",
        "FDS",
        "DISK_MB@WU",
        "DISK_MB"
    );
    for g in &grown {
        println!(
            "{:<4} {:>10.1} {:>10.1} {:>+10.1} {:>10.1} {:>8} {:>8} {:>11.1} {:>11.1}",
            g.node,
            g.rss_kib_after_warm_up as f64 / 1024.0,
            g.rss_kib_end as f64 / 1024.0,
            g.rss_growth_kib() as f64 / 1024.0,
            g.rss_kib_max as f64 / 1024.0,
            g.fds_after_warm_up,
            g.fds_end,
            g.disk_bytes_after_warm_up as f64 / 1e6,
            g.disk_bytes_end as f64 / 1e6,
        );
    }
    let f = &findings;
    println!(
        "acked {} lost {} double {} unsigned {} duplicates {} unfinished {} violations {} \
         converge {} s; ok {}",
        f.acked,
        f.lost,
        f.double_runs,
        f.unsigned_ran,
        f.duplicate_jobs,
        f.unfinished_after_heal,
        f.fault_violations,
        f.converge_s.map_or("-".into(), |s| format!("{s:.2}")),
        f.ok
    );
    let ok = findings.ok;
    if a.json {
        let r = Report {
            seed: a.seed,
            nodes: a.nodes,
            mode: mode.name(),
            duration_s: a.duration,
            warm_up_s: a.warm_up,
            faults: names,
            findings,
            growth: grown,
            max_rss_growth_mib,
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, node: usize, rss: u64) -> Sample {
        Sample {
            s: t,
            node,
            pid: 1,
            rss_kib: rss,
            fds: 10,
            disk_bytes: 100,
        }
    }

    #[test]
    fn growth_counts_from_the_end_of_the_warm_up() {
        let samples = [
            s(0.0, 0, 5_000),
            s(30.0, 0, 40_000),
            s(60.0, 0, 41_000),
            s(90.0, 0, 45_000),
            s(0.0, 1, 9_000),
        ];
        let g = growth(&samples, 30.0);
        assert_eq!(g.len(), 1, "node 1 has nothing after the warm-up: {g:?}");
        assert_eq!(g[0].rss_kib_after_warm_up, 40_000);
        assert_eq!(g[0].rss_kib_end, 45_000);
        assert_eq!(g[0].rss_kib_max, 45_000);
        assert_eq!(g[0].rss_growth_kib(), 5_000);
    }

    #[test]
    fn this_process_has_figures() {
        let (rss, fds) = proc_figures(std::process::id() as i32).unwrap();
        assert!(rss > 0 && fds > 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b"), [0u8; 50]).unwrap();
        assert_eq!(du(dir.path()), 150);
    }
}

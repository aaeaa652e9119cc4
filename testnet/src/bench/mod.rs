//! `shoal-testnet bench`: starts a one-node and a three-node cluster in a temp dir,
//! measures them, and prints each figure beside a reference measured on this
//! machine in the same run.

pub mod latency;
mod metric;
mod procfs;
mod queue;
pub mod reference;
mod submit;
mod three;
mod throughput;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cluster::{local_cluster, LocalNode};
pub use metric::Metric;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Shorter runs (fewer samples and trials, 100,000 instead of 1,000,000 queued
    /// jobs); finishes in under ten minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object {"machine": {...}, "metrics": [...]} instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The shoal binary to benchmark [default: `shoal` next to this executable]
    #[arg(long, value_name = "PATH")]
    pub shoal: Option<PathBuf>,
    /// Where to put the temporary homes [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Measure only metrics whose name contains one of these (repeatable), e.g.
    /// `--only api_submits`; references are always measured.
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub only: Vec<String>,
}

impl BenchArgs {
    /// True if a metric named `name` was asked for.
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
}

/// Jobs in the trivial-job runs (one array).
const TRIVIAL_JOBS: u32 = 10_000;

/// Trivial jobs per second, against 35 % of the `Command` spawn floor.
fn trivial_metric(name: &str, per_s: f64, spawn_per_s: f64) -> Metric {
    Metric::new(name, per_s, "1/s")
        .reference("spawn_true_per_s", spawn_per_s)
        .at_least(0.35 * spawn_per_s)
}

fn sibling_shoal() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name("shoal");
    anyhow::ensure!(
        p.exists(),
        "no shoal binary at {}; build it or pass --shoal",
        p.display()
    );
    Ok(p)
}

/// Trivial-job throughput of one node with cgroup containment over the same with
/// the subreaper alone (`SHOAL_CONTAINMENT=subreaper`), in alternating runs on
/// fresh nodes: what containment costs, measured against itself in one run.
struct CgroupCost {
    ratio: f64,
    subreaper_per_s: f64,
}

async fn cgroup_cost(
    shoal: &std::path::Path,
    base: &std::path::Path,
    cpus: usize,
) -> anyhow::Result<CgroupCost> {
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // Alternating A B B A ..., so a drift of the machine weighs on both sides.
    for round in 0..8 {
        let subreaper = matches!(round % 4, 1 | 2);
        let dir = base.join(format!("containment-{round}"));
        std::fs::create_dir_all(&dir)?;
        let env = if subreaper {
            vec![("SHOAL_CONTAINMENT".to_string(), "subreaper".to_string())]
        } else {
            Vec::new()
        };
        eprintln!(
            "{TRIVIAL_JOBS} trivial jobs, {} ...",
            if subreaper {
                "subreaper only"
            } else {
                "cgroups"
            }
        );
        let node = LocalNode::start_with_env(shoal, &dir, cpus as u32, env).await?;
        let t = throughput::trivial_jobs(&node, None, TRIVIAL_JOBS).await?;
        node.stop();
        eprintln!("  {:.0} jobs/s", t.jobs_per_s);
        if subreaper {
            without.push(t.jobs_per_s);
        } else {
            with.push(t.jobs_per_s);
        }
    }
    // Medians: one run disturbed by the machine does not decide it.
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
    };
    let (with, without) = (median(&mut with), median(&mut without));
    Ok(CgroupCost {
        ratio: with / without,
        subreaper_per_s: without,
    })
}

/// Measures what `args` asks for and prints it. A failure part-way (a trial that
/// cannot finish) still prints every figure measured before it, then is reported.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut metrics = Vec::new();
    let measured = measure(&args, cpus, &mut metrics).await;
    let machine = serde_json::json!({
        "cpus": cpus,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "quick": args.quick,
        "complete": measured.is_ok(),
    });
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "machine": machine, "metrics": metrics })
        );
    } else {
        print!("{}", metric::table(&metrics));
    }
    measured.map_err(|e| {
        e.context(format!(
            "the benchmark stopped early; the {} figures printed were measured before that",
            metrics.len()
        ))
    })
}

/// Every measurement, each figure pushed onto `metrics` as soon as it is known.
async fn measure(args: &BenchArgs, cpus: usize, metrics: &mut Vec<Metric>) -> anyhow::Result<()> {
    let shoal = match &args.shoal {
        Some(p) => p.clone(),
        None => sibling_shoal()?,
    };
    let base = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let secs = if args.quick { 2.0 } else { 5.0 };
    let samples = if args.quick { 100 } else { 300 };

    eprintln!("measuring references (fdatasync, spawn) ...");
    let sync = reference::fdatasync(base.path(), secs)?;
    let spawn = reference::spawn_true(cpus, secs)?;
    let xargs = reference::xargs_true(cpus, TRIVIAL_JOBS)?;
    metrics.push(
        Metric::new("spawn_true_per_s", spawn.per_s, "1/s").reference("threads", cpus as f64),
    );
    metrics.push(Metric::new("xargs_true_per_s", xargs, "1/s").reference("threads", cpus as f64));
    metrics.push(Metric::new("fdatasync_per_s", sync.per_s, "1/s"));

    eprintln!("starting a one-node cluster ...");
    let node_dir = base.path().join("n1");
    std::fs::create_dir_all(&node_dir)?;
    let node = LocalNode::start(&shoal, &node_dir, cpus as u32)
        .await
        .context("starting the node")?;

    if args.wants("submit_to_start_p50_ms_1node") || args.wants("submit_to_start_p99_ms_1node") {
        eprintln!("submit-to-start latency ({samples} samples) ...");
        let lat = latency::submit_to_start(&node, base.path(), samples).await?;
        metrics.push(
            Metric::new("submit_to_start_p50_ms_1node", lat.p50_ms, "ms")
                .reference(
                    "fdatasync_p50_ms + spawn_p50_ms",
                    sync.p50_ms + spawn.p50_ms,
                )
                .at_most(10.0),
        );
        metrics.push(
            Metric::new("submit_to_start_p99_ms_1node", lat.p99_ms, "ms")
                .reference("fdatasync_p99_ms", sync.p99_ms)
                .at_most(30.0),
        );
    }
    if args.wants("commit_latency_p50_ms_1node") {
        eprintln!("commit latency, one client ...");
        let p50 = submit::commit_latency_p50_ms(&node, samples * 3).await?;
        metrics.push(
            Metric::new("commit_latency_p50_ms_1node", p50, "ms")
                .reference("fdatasync_p50_ms", sync.p50_ms)
                .at_most(sync.p50_ms + 0.5),
        );
    }
    if [
        "trivial_jobs_per_s_1node",
        "array_10k_ack_ms_1node",
        "leader_cpu_ms_per_job",
    ]
    .iter()
    .any(|m| args.wants(m))
    {
        eprintln!("{TRIVIAL_JOBS} trivial jobs, one array ...");
        let t = throughput::trivial_jobs(&node, node.pid(), TRIVIAL_JOBS).await?;
        metrics.push(trivial_metric(
            "trivial_jobs_per_s_1node",
            t.jobs_per_s,
            spawn.per_s,
        ));
        metrics.push(Metric::new("array_10k_ack_ms_1node", t.ack_ms, "ms").at_most(100.0));
        if let Some(cpu) = t.leader_cpu_ms_per_job {
            metrics.push(
                Metric::new("leader_cpu_ms_per_job", cpu, "ms")
                    .reference("spawn_cpu_ms_per_job", spawn.cpu_ms_each)
                    .at_most(0.1),
            );
        }
    }
    if args.wants("cgroup_cost_ratio_1node") {
        let ratio = cgroup_cost(&shoal, base.path(), cpus).await?;
        metrics.push(
            Metric::new("cgroup_cost_ratio_1node", ratio.ratio, "x")
                .reference("trivial_jobs_per_s_1node_subreaper", ratio.subreaper_per_s)
                .at_least(0.9),
        );
    }
    if args.wants("cli_submits_per_s_1node") {
        eprintln!("CLI submits ...");
        let cli = submit::cli_rate(&node, secs).await?;
        metrics.push(
            Metric::new("cli_submits_per_s_1node", cli, "1/s")
                .reference("fdatasync_per_s", sync.per_s)
                .at_least(150.0),
        );
    }
    if args.wants("api_submits_per_s_64clients_1node") {
        eprintln!("API submits from 64 clients ...");
        let api = submit::api_rate(&node, 64, secs).await?;
        metrics.push(
            Metric::new("api_submits_per_s_64clients_1node", api, "1/s")
                .reference("fdatasync_per_s", sync.per_s)
                .at_least(5000.0),
        );
    }
    node.stop();

    if [
        "rss_bytes_per_queued_job",
        "disk_bytes_per_queued_job",
        "submit_p50_ratio_full_vs_empty",
    ]
    .iter()
    .any(|m| args.wants(m))
    {
        let jobs = if args.quick { 100_000 } else { 1_000_000 };
        eprintln!("the cost of {jobs} queued jobs ...");
        let dirq = base.path().join("queue");
        std::fs::create_dir_all(&dirq)?;
        let q = queue::queued_jobs(&shoal, &dirq, jobs, samples * 3).await?;
        let kib = 1024.0;
        metrics.push(
            Metric::new("rss_bytes_per_queued_job", q.rss_bytes_per_job, "B")
                .reference("queued_jobs", jobs as f64)
                .at_most(kib),
        );
        metrics.push(
            Metric::new(
                "rss_bytes_per_queued_job_restarted",
                q.rss_bytes_per_job_restarted,
                "B",
            )
            .reference("queued_jobs", jobs as f64),
        );
        metrics.push(
            Metric::new("disk_bytes_per_queued_job", q.disk_bytes_per_job, "B")
                .reference("queued_jobs", jobs as f64)
                .at_most(kib),
        );
        metrics.push(
            Metric::new(
                "submit_p50_ratio_full_vs_empty",
                q.submit_p50_full_ms / q.submit_p50_empty_ms,
                "x",
            )
            .reference("submit_p50_ms_empty_queue", q.submit_p50_empty_ms)
            .at_most(1.2),
        );
        metrics.push(
            Metric::new("submit_p50_ms_full_queue", q.submit_p50_full_ms, "ms")
                .reference("submit_p50_ms_empty_queue", q.submit_p50_empty_ms),
        );
        metrics.push(
            Metric::new("queue_load_submits_per_s_64clients", q.load_per_s, "1/s")
                .reference("fdatasync_per_s", sync.per_s),
        );
    }

    let three_node = [
        "submit_to_start_p50_ms_3node",
        "submit_to_start_p99_ms_3node",
        "api_submits_per_s_64clients_3node",
        "trivial_jobs_per_s_3node",
        "failover_p50_s_3node",
        "failover_p99_s_3node",
        "requeue_after_kill_p99_s_3node",
        "requeue_after_stop_p99_s_3node",
    ];
    if three_node.iter().any(|m| args.wants(m)) {
        eprintln!("starting a three-node cluster ...");
        let dir3 = base.path().join("three");
        std::fs::create_dir_all(&dir3)?;
        let mut nodes = local_cluster(&shoal, &dir3, 3, 2)
            .await
            .context("starting the three-node cluster")?;
        // Submit at a follower: the realistic case, one forwarding hop included.
        let entry = 1;
        if args.wants("submit_to_start_p50_ms_3node") || args.wants("submit_to_start_p99_ms_3node")
        {
            eprintln!("submit-to-start latency, 3 nodes ({samples} samples) ...");
            let lat = latency::submit_to_start(&nodes[entry], &dir3, samples).await?;
            metrics.push(
                Metric::new("submit_to_start_p50_ms_3node", lat.p50_ms, "ms")
                    .reference(
                        "fdatasync_p50_ms + spawn_p50_ms",
                        sync.p50_ms + spawn.p50_ms,
                    )
                    .at_most(15.0),
            );
            metrics.push(
                Metric::new("submit_to_start_p99_ms_3node", lat.p99_ms, "ms")
                    .reference("fdatasync_p99_ms", sync.p99_ms)
                    .at_most(40.0),
            );
        }
        if args.wants("api_submits_per_s_64clients_3node") {
            eprintln!("API submits from 64 clients, 3 nodes ...");
            let api = submit::api_rate(&nodes[entry], 64, secs).await?;
            metrics.push(
                Metric::new("api_submits_per_s_64clients_3node", api, "1/s")
                    .reference("fdatasync_per_s", sync.per_s)
                    .at_least(5000.0),
            );
        }
        if args.wants("trivial_jobs_per_s_3node") {
            eprintln!("{TRIVIAL_JOBS} trivial jobs, one array, 3 nodes ...");
            let t = throughput::trivial_jobs(&nodes[entry], None, TRIVIAL_JOBS).await?;
            metrics.push(trivial_metric(
                "trivial_jobs_per_s_3node",
                t.jobs_per_s,
                spawn.per_s,
            ));
        }
        if args.wants("failover_p50_s_3node") || args.wants("failover_p99_s_3node") {
            let trials = if args.quick { 5 } else { 20 };
            eprintln!("leader failover under submits ({trials} trials) ...");
            let f = three::failover(&mut nodes, trials).await?;
            metrics.push(
                Metric::new("failover_p50_s_3node", f.p50_s, "s")
                    .reference("election_timeout_min_s", 0.5)
                    .at_most(1.0),
            );
            metrics.push(
                Metric::new("failover_p99_s_3node", f.p99_s, "s")
                    .reference("election_timeout_min_s", 0.5)
                    .at_most(2.0),
            );
            metrics
                .push(Metric::new("failover_acked_lost_3node", f.lost as f64, "jobs").at_most(0.0));
        }
        let trials = if args.quick { 2 } else { 5 };
        let mut overlaps = 0;
        if args.wants("requeue_after_kill_p99_s_3node") {
            eprintln!("kill -9 of a worker ({trials} trials) ...");
            let r = three::requeue(&mut nodes, three::Fault::Kill, trials, &dir3).await?;
            overlaps += r.overlaps;
            metrics.push(
                Metric::new("requeue_after_kill_p99_s_3node", r.p99_s, "s")
                    .reference("lease_s", 6.0)
                    .at_most(2.0),
            );
        }
        if args.wants("requeue_after_stop_p99_s_3node") {
            eprintln!("SIGSTOP of a worker ({trials} trials) ...");
            let r = three::requeue(&mut nodes, three::Fault::Stop, trials, &dir3).await?;
            overlaps += r.overlaps;
            metrics.push(
                Metric::new("requeue_after_stop_p99_s_3node", r.p99_s, "s")
                    .reference("lease_s", 6.0)
                    .at_most(10.0),
            );
        }
        if args.wants("requeue_after_kill_p99_s_3node")
            || args.wants("requeue_after_stop_p99_s_3node")
        {
            metrics
                .push(Metric::new("requeue_overlaps_3node", overlaps as f64, "runs").at_most(0.0));
        }
        for n in nodes {
            n.stop();
        }
    }
    Ok(())
}

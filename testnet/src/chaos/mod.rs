//! `shoal-testnet chaos` and `check`: a seeded workload against a cluster of real
//! node processes while faults are injected on a seeded schedule, a history of
//! everything that happened, and a checker over it.

pub mod admin;
pub mod check;
pub mod churn;
pub mod clock;
pub mod disk;
pub mod escape;
pub mod faults;
pub mod freeze;
pub mod history;
pub mod job;
pub mod poison;
pub mod probe;
pub mod rogue;
pub mod soak;
pub mod store;
pub mod workload;
pub mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use shoal_types::api::JobStatus;

use crate::cluster::wait_converged;
use crate::net::Mode;
use history::{Event, Recorder};
use world::World;

/// Every acknowledged job must be finished this many seconds after healing.
const FINISH_WITHIN: u64 = 120;

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Nodes in the cluster
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// A scenario from `shoal-testnet scenarios`, or `all`
    #[arg(long)]
    pub scenario: String,
    /// Seed of the workload and the fault schedule (same seed, same schedule)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long faults and the workload run (e.g. 30s, 2min)
    #[arg(long, default_value = "30s", value_parser = shoal_types::duration::parse_secs)]
    pub duration: u64,
    /// Also print one JSON object per scenario as the last lines
    #[arg(long)]
    pub json: bool,
    /// Keep the cluster's homes, logs and history here [default: a temp dir, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Nodes on 127.0.0.x addresses, faults on the host's loopback [default when
    /// not root]
    #[arg(long, conflicts_with = "netns")]
    pub loopback: bool,
    /// Each node in its own network namespace on a bridge (root) [default as root]
    #[arg(long)]
    pub netns: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A history directory written by `chaos --dir` (its `history/`)
    pub history: PathBuf,
}

/// A small seeded generator (xorshift64*): the same seed gives the same schedule.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(serde::Serialize)]
struct Report {
    scenario: String,
    seed: u64,
    nodes: usize,
    mode: &'static str,
    #[serde(flatten)]
    findings: check::Findings,
    /// Why the scenario could not run to the end (then `ok` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What a fault may need besides the world.
pub struct Ctx {
    pub jobs_file: PathBuf,
    pub clients_file: PathBuf,
    pub exe: String,
}

pub async fn run(a: ChaosArgs) -> anyhow::Result<bool> {
    let all: Vec<&str> = crate::scenarios::SCENARIOS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let names: Vec<String> = if a.scenario == "all" {
        all.iter().map(|s| s.to_string()).collect()
    } else if all.contains(&a.scenario.as_str()) {
        vec![a.scenario.clone()]
    } else {
        bail!(
            "no scenario {:?}; see `shoal-testnet scenarios`",
            a.scenario
        );
    };
    anyhow::ensure!(
        a.nodes >= 3,
        "chaos needs at least 3 nodes (a majority must survive a fault)"
    );
    let mode = Mode::pick(a.netns, a.loopback);
    let shoal = crate::lab::sibling_shoal()?;
    let temp = tempfile::tempdir()?;
    let base = a.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut reports = Vec::new();
    for name in &names {
        let dir = base.join(name);
        std::fs::create_dir_all(dir.join("history"))?;
        eprintln!(
            "{name}: {} nodes ({}), seed {}, {} s ...",
            a.nodes,
            mode.name(),
            a.seed,
            a.duration
        );
        let (findings, error) = match scenario(&shoal, &dir, name, &a, mode).await {
            Ok(f) => (f, None),
            Err(e) => {
                let e = format!("{e:#} (files in {})", dir.display());
                eprintln!("{name}: {e}");
                (check::Findings::default(), Some(e))
            }
        };
        reports.push(Report {
            scenario: name.clone(),
            seed: a.seed,
            nodes: a.nodes,
            mode: mode.name(),
            findings,
            error,
        });
    }
    println!(
        "{:<19} {:>5} {:>6} {:>5} {:>6} {:>8} {:>7} {:>10} {:>5} {:>10} {:>3}",
        "SCENARIO",
        "SEED",
        "ACKED",
        "LOST",
        "DOUBLE",
        "UNSIGNED",
        "DUPLIC",
        "UNFINISHED",
        "VIOL",
        "CONVERGE_S",
        "OK"
    );
    for r in &reports {
        let f = &r.findings;
        println!(
            "{:<19} {:>5} {:>6} {:>5} {:>6} {:>8} {:>7} {:>10} {:>5} {:>10} {:>3}",
            r.scenario,
            r.seed,
            f.acked,
            f.lost,
            f.double_runs,
            f.unsigned_ran,
            f.duplicate_jobs,
            f.unfinished_after_heal,
            f.fault_violations,
            f.converge_s.map_or("-".into(), |s| format!("{s:.2}")),
            if r.error.is_some() {
                "ERR"
            } else if f.ok {
                "yes"
            } else {
                "NO"
            }
        );
    }
    if a.json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    }
    if let Some(r) = reports.iter().find(|r| r.error.is_some()) {
        bail!(
            "scenario {} did not run to the end: {}",
            r.scenario,
            r.error.as_deref().unwrap_or_default()
        );
    }
    Ok(reports.iter().all(|r| r.findings.ok))
}

async fn scenario(
    shoal: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    a: &ChaosArgs,
    mode: Mode,
) -> anyhow::Result<check::Findings> {
    let plan = Plan {
        names: vec![name.to_string()],
        nodes: a.nodes,
        seed: a.seed,
        duration: Duration::from_secs(a.duration),
        mode,
    };
    drive(shoal, dir, &plan, |_, _| {}).await
}

/// What [`drive`] runs: faults drawn from `names` (seeded), on `nodes` nodes.
pub struct Plan {
    pub names: Vec<String>,
    pub nodes: usize,
    pub seed: u64,
    pub duration: Duration,
    pub mode: Mode,
}

/// One cluster, the workload, and one fault per round (from the plan's names, on
/// the seeded schedule) until the plan's duration is up; then healing, every
/// acknowledged job's final state, and the checker's findings over the history.
/// `between` sees the world between rounds and every second of the rests (the
/// soak samples the nodes there).
pub async fn drive(
    shoal: &std::path::Path,
    dir: &std::path::Path,
    plan: &Plan,
    mut between: impl FnMut(&World, Duration),
) -> anyhow::Result<check::Findings> {
    let names: Vec<&str> = plan.names.iter().map(|s| s.as_str()).collect();
    let mut w = World::start(shoal, dir, world::Needs::all(&names), plan.nodes, plan.mode).await?;
    let hist = dir.join("history");
    let ctx = Ctx {
        jobs_file: hist.join("jobs.jsonl"),
        clients_file: hist.join("clients.jsonl"),
        exe: std::env::current_exe()?.to_string_lossy().into_owned(),
    };
    let clients = Arc::new(Recorder::open(&ctx.clients_file)?);
    let stop = Arc::new(AtomicBool::new(false));
    let workload = tokio::spawn(
        workload::Workload {
            sockets: w.sockets.clone(),
            exe: ctx.exe.clone(),
            jobs_file: ctx.jobs_file.clone(),
            seed: plan.seed,
            escape: names == ["escape"],
        }
        .run(clients.clone(), stop.clone()),
    );

    // The faults, on the seeded schedule.
    let mut rng = Rng::new(plan.seed ^ 0xFA17);
    let began = Instant::now();
    let end = began + plan.duration;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut round = 0;
    let mut failure = None;
    while Instant::now() + Duration::from_secs(3) < end {
        round += 1;
        // (A single scenario draws nothing here: its schedule stays what it was.)
        let name = match names.len() {
            1 => names[0],
            k => names[rng.below(k as u64) as usize],
        };
        if names.len() > 1 {
            clients.record(&Event::Fault {
                t: history::now_ns(),
                what: format!("round {round}: {name}"),
            });
        }
        if let Err(e) = faults::inject(name, &mut w, &mut rng, &clients, &ctx, round).await {
            failure = Some(e.context(format!("round {round} ({name})")));
            break;
        }
        between(&w, began.elapsed());
        let rest = Instant::now() + Duration::from_millis(2000 + rng.below(3000));
        while Instant::now() < rest {
            tokio::time::sleep(Duration::from_secs(1).min(rest - Instant::now())).await;
            between(&w, began.elapsed());
        }
    }
    if failure.is_none() {
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now())).await;
            between(&w, began.elapsed());
        }
    }

    // Heal everything, then the workload's last submits get their answers.
    let revived = w.heal()?;
    clients.record(&Event::Fault {
        t: history::now_ns(),
        what: format!("heal all; restarted exited nodes {revived:?}"),
    });
    let healed = Instant::now();
    stop.store(true, Ordering::Relaxed);
    if let Some(e) = failure {
        return Err(e.context("injecting a fault"));
    }
    let label = names.join(",");
    match wait_converged(&w.nodes, crate::cluster::expected_voters(w.nodes.len())).await {
        Ok(_) => clients.record(&Event::Converged {
            s: healed.elapsed().as_secs_f64(),
        }),
        Err(e) => eprintln!("{label}: {e}"),
    }
    let _ = workload.await;

    let finals = read_finals(&w, &history::read(&hist)?).await?;
    for f in &finals {
        clients.record(f);
    }
    if names.contains(&"escape") {
        let left = escape::sweep(&hist, &clients)?;
        if left > 0 {
            eprintln!("{label}: {left} escaped children outlived the run");
        }
    }
    between(&w, began.elapsed());
    for n in w.nodes.drain(..) {
        n.stop();
    }
    Ok(check::check(&history::read(&hist)?))
}

/// Every acknowledged job's state once it is terminal (or when [`FINISH_WITHIN`]
/// runs out), read through the leader with consistent reads.
async fn read_finals(w: &World, events: &[Event]) -> anyhow::Result<Vec<Event>> {
    let mut acked: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ack { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    acked.sort_unstable();
    acked.dedup();
    let reader = w.nodes[w.leader_index().await?].client();
    let deadline = Instant::now() + Duration::from_secs(FINISH_WITHIN);
    let mut finals = Vec::new();
    for id in acked {
        let (state, attempts) = loop {
            let s = reader
                .get::<JobStatus>(&format!("/v1/jobs/{id}?consistent=true"))
                .await;
            match s {
                Ok(st) if st.state.is_terminal() || Instant::now() > deadline => {
                    break (st.state.to_string(), attempt_summary(&st))
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(shoal_client::ClientError::Api {
                    code: shoal_types::api::ErrorCode::NotFound,
                    ..
                }) => break ("not_found".to_string(), Vec::new()),
                Err(_) if Instant::now() > deadline => break ("unknown".to_string(), Vec::new()),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        finals.push(Event::Final {
            id,
            state,
            attempts,
        });
    }
    Ok(finals)
}

/// Each recorded attempt as the checker reads it: `running`, `lost`, or `ended`.
fn attempt_summary(s: &JobStatus) -> Vec<String> {
    s.attempts
        .iter()
        .map(|a| match (&a.ended_at, a.fail_reason.as_deref()) {
            (None, _) => "running".to_string(),
            // Handed back by an orderly stop: re-run like a lost attempt.
            (Some(_), Some("lost" | "node stopped")) => "lost".to_string(),
            (Some(_), _) => "ended".to_string(),
        })
        .collect()
}

/// `shoal-testnet check DIR`: the checker over a saved history.
pub fn check_dir(a: CheckArgs) -> anyhow::Result<bool> {
    let dir = if a.history.join("history").is_dir() {
        a.history.join("history")
    } else {
        a.history.clone()
    };
    let f =
        check::check(&history::read(&dir).with_context(|| format!("reading {}", dir.display()))?);
    println!("{}", serde_json::to_string_pretty(&f)?);
    Ok(f.ok)
}

//! `shoal-testnet chaos` and `check`: a seeded workload against a local cluster while
//! faults are injected on a seeded schedule, a history of everything that happened,
//! and a checker over it.
//!
//! Built so far: loopback mode; the scenarios in [`BUILT`]. The others are listed by
//! `scenarios` and refused here with a clear message.

pub mod check;
pub mod history;
pub mod job;
pub mod rogue;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use shoal_types::api::{JobStatus, SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use crate::cluster::{local_cluster, wait_converged, LocalNode};
use history::{now_ns, Event, Recorder};

/// Every acknowledged job must be finished this many seconds after healing.
const FINISH_WITHIN: u64 = 120;

/// Scenarios `chaos` can run today.
pub const BUILT: &[&str] = &[
    "leader-kill",
    "worker-kill",
    "worker-stop",
    "restart-all",
    "rolling-restart",
    "bad-peer",
];

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Nodes in the cluster
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// A scenario from `shoal-testnet scenarios`, or `all` (every built one)
    #[arg(long)]
    pub scenario: String,
    /// Seed of the workload and the fault schedule (same seed, same schedule)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long faults and the workload run, in seconds
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Also print one JSON object per scenario as the last lines
    #[arg(long)]
    pub json: bool,
    /// Keep the cluster's homes, logs and history here [default: a temp dir, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Nodes on 127.0.0.1 (the only mode built so far)
    #[arg(long)]
    pub loopback: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A history directory written by `chaos --dir` (its `history/`)
    pub history: PathBuf,
}

/// A small seeded generator (xorshift64*): the same seed gives the same schedule.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(serde::Serialize)]
struct Report {
    scenario: String,
    seed: u64,
    nodes: usize,
    #[serde(flatten)]
    findings: check::Findings,
}

pub async fn run(a: ChaosArgs) -> anyhow::Result<bool> {
    let names: Vec<String> = if a.scenario == "all" {
        BUILT.iter().map(|s| s.to_string()).collect()
    } else if BUILT.contains(&a.scenario.as_str()) {
        vec![a.scenario.clone()]
    } else if crate::scenarios::SCENARIOS
        .iter()
        .any(|(n, _)| *n == a.scenario)
    {
        bail!(
            "scenario {} is not built yet (built: {})",
            a.scenario,
            BUILT.join(", ")
        );
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
    let shoal = crate::lab::sibling_shoal()?;
    let temp = tempfile::tempdir()?;
    let base = a.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut reports = Vec::new();
    for name in &names {
        let dir = base.join(name);
        std::fs::create_dir_all(dir.join("history"))?;
        eprintln!(
            "{name}: {} nodes, seed {}, {} s ...",
            a.nodes, a.seed, a.duration
        );
        let findings = scenario(&shoal, &dir, name, &a).await?;
        reports.push(Report {
            scenario: name.clone(),
            seed: a.seed,
            nodes: a.nodes,
            findings,
        });
    }
    println!(
        "{:<14} {:>5} {:>6} {:>5} {:>6} {:>8} {:>7} {:>10} {:>10} {:>3}",
        "SCENARIO",
        "SEED",
        "ACKED",
        "LOST",
        "DOUBLE",
        "UNSIGNED",
        "DUPLIC",
        "UNFINISHED",
        "CONVERGE_S",
        "OK"
    );
    for r in &reports {
        let f = &r.findings;
        println!(
            "{:<14} {:>5} {:>6} {:>5} {:>6} {:>8} {:>7} {:>10} {:>10} {:>3}",
            r.scenario,
            r.seed,
            f.acked,
            f.lost,
            f.double_runs,
            f.unsigned_ran,
            f.duplicate_jobs,
            f.unfinished_after_heal,
            f.converge_s.map_or("-".into(), |s| format!("{s:.2}")),
            if f.ok { "yes" } else { "NO" }
        );
    }
    if a.json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    }
    Ok(reports.iter().all(|r| r.findings.ok))
}

async fn leader_index(nodes: &[LocalNode]) -> anyhow::Result<usize> {
    let leader = wait_converged(nodes, nodes.len().min(5)).await?;
    for (i, n) in nodes.iter().enumerate() {
        if n.status()
            .await
            .map(|c| c.node_id == leader)
            .unwrap_or(false)
        {
            return Ok(i);
        }
    }
    bail!("no node is the leader")
}

async fn scenario(
    shoal: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    a: &ChaosArgs,
) -> anyhow::Result<check::Findings> {
    let mut nodes = local_cluster(shoal, dir, a.nodes, 2)
        .await
        .context("starting the cluster")?;
    let hist = dir.join("history");
    let clients = Arc::new(Recorder::open(&hist.join("clients.jsonl"))?);
    let jobs_file = hist.join("jobs.jsonl");
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));

    // The workload: every 100 ms a submit at a node picked by the seeded generator.
    let sockets: Vec<PathBuf> = nodes.iter().map(|n| n.home.join("shoal.sock")).collect();
    let workload = {
        let (stop, clients, counter) = (stop.clone(), clients.clone(), counter.clone());
        let (exe, jobs_file) = (exe.clone(), jobs_file.clone());
        let mut rng = Rng::new(a.seed);
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let node = rng.below(sockets.len() as u64) as usize;
                // Mostly short jobs; one in forty outlives a lease, so faults catch
                // jobs mid-run and fencing has something to do.
                let millis = if rng.below(40) == 0 {
                    8_000 + rng.below(4_000)
                } else {
                    100 + rng.below(600)
                };
                let key = format!("k{n}");
                let spec = JobSpec::argv(
                    vec![
                        exe.clone(),
                        "__job".into(),
                        jobs_file.to_string_lossy().into_owned(),
                        key.clone(),
                        millis.to_string(),
                    ],
                    "/",
                );
                let client = shoal_client::Client::new(&sockets[node]);
                let clients = clients.clone();
                clients.record(&Event::Submit {
                    t: now_ns(),
                    key: key.clone(),
                    node,
                });
                tasks.push(tokio::spawn(async move {
                    match client
                        .post::<_, SubmitResponse>("/v1/jobs", &SubmitRequest { spec })
                        .await
                    {
                        Ok(r) => clients.record(&Event::Ack {
                            t: now_ns(),
                            key,
                            id: r.id.0,
                        }),
                        Err(e) => clients.record(&Event::Error {
                            t: now_ns(),
                            key,
                            error: e.to_string(),
                        }),
                    }
                }));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    };

    // The faults, on the seeded schedule.
    let mut rng = Rng::new(a.seed ^ 0xFA17);
    let end = Instant::now() + Duration::from_secs(a.duration);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ctx = Ctx {
        bundle: nodes[0].home.join("cluster.bundle"),
        jobs_file: jobs_file.clone(),
        exe: exe.clone(),
    };
    let mut round = 0;
    while Instant::now() + Duration::from_secs(3) < end {
        round += 1;
        inject(name, &mut nodes, &mut rng, &clients, &ctx, round).await?;
        tokio::time::sleep(Duration::from_millis(2000 + rng.below(3000))).await;
    }
    let remaining = end.saturating_duration_since(Instant::now());
    tokio::time::sleep(remaining).await;
    stop.store(true, Ordering::Relaxed);
    let _ = workload.await;

    // Heal (everything runs again) and measure convergence.
    let healed = Instant::now();
    wait_converged(&nodes, nodes.len().min(5)).await?;
    clients.record(&Event::Converged {
        s: healed.elapsed().as_secs_f64(),
    });

    // Every acknowledged job must finish within T of healing.
    let events = history::read(&hist)?;
    let acked: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ack { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let reader = nodes[0].client();
    let deadline = Instant::now() + Duration::from_secs(FINISH_WITHIN);
    let mut finals = Vec::new();
    for id in &acked {
        let state = loop {
            let s = reader
                .get::<JobStatus>(&format!("/v1/jobs/{id}?consistent=true"))
                .await
                .map(|s| s.state);
            match s {
                Ok(st) if st.is_terminal() || Instant::now() > deadline => break st.to_string(),
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(shoal_client::ClientError::Api {
                    code: shoal_types::api::ErrorCode::NotFound,
                    ..
                }) => break "not_found".to_string(),
                Err(_) if Instant::now() > deadline => break "unknown".to_string(),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        finals.push(Event::Final { id: *id, state });
    }
    for f in &finals {
        clients.record(f);
    }
    for n in nodes {
        n.stop();
    }
    Ok(check::check(&history::read(&hist)?))
}

/// One fault of `name` and its healing.
/// What a fault may need besides the nodes.
struct Ctx {
    bundle: PathBuf,
    jobs_file: PathBuf,
    exe: String,
}

async fn inject(
    name: &str,
    nodes: &mut [LocalNode],
    rng: &mut Rng,
    clients: &Recorder,
    ctx: &Ctx,
    round: u64,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let li = leader_index(nodes).await?;
    let follower = {
        let others: Vec<usize> = (0..nodes.len()).filter(|i| *i != li).collect();
        others[rng.below(others.len() as u64) as usize]
    };
    match name {
        "leader-kill" | "worker-kill" => {
            let victim = if name == "leader-kill" { li } else { follower };
            note(format!("kill -9 node {victim}"));
            nodes[victim].kill9();
            tokio::time::sleep(Duration::from_millis(1500 + rng.below(1500))).await;
            nodes[victim].restart()?;
            note(format!("restart node {victim}"));
        }
        "worker-stop" => {
            // Make sure a job that outlives the stop runs there: drain the others,
            // submit a 14 s probe, wait for it to start, undrain.
            probe_on(nodes, li, follower, clients, ctx, round).await?;
            // Longer than lease + margin (8 s): its jobs must move, never overlap.
            note(format!("SIGSTOP node {follower}"));
            nodes[follower].signal(libc::SIGSTOP);
            tokio::time::sleep(Duration::from_millis(9000 + rng.below(2000))).await;
            nodes[follower].signal(libc::SIGCONT);
            note(format!("SIGCONT node {follower}"));
        }
        "restart-all" => {
            note("kill -9 every node".into());
            for n in nodes.iter_mut() {
                n.kill9();
            }
            tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
            for n in nodes.iter_mut() {
                n.restart()?;
            }
            note("restart every node".into());
        }
        "rolling-restart" => {
            for (i, n) in nodes.iter_mut().enumerate() {
                note(format!("stop node {i}"));
                n.terminate();
                n.restart()?;
                note(format!("restart node {i}"));
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        }
        "bad-peer" => {
            let bootstrap = nodes
                .iter()
                .filter_map(|n| n.listen_addr())
                .filter_map(|a| a.parse().ok())
                .collect();
            let accepted = rogue::attack(
                &ctx.bundle,
                bootstrap,
                &ctx.jobs_file,
                &ctx.exe,
                clients,
                round,
            )
            .await?;
            note(format!(
                "bad peers: {accepted} forged submissions or admissions accepted"
            ));
        }
        other => bail!("scenario {other} has no fault"),
    }
    Ok(())
}

/// Places a long probe job on node `target` (recorded like any workload submit).
async fn probe_on(
    nodes: &[LocalNode],
    leader: usize,
    target: usize,
    clients: &Recorder,
    ctx: &Ctx,
    round: u64,
) -> anyhow::Result<()> {
    use shoal_types::api::{DrainRequest, DrainResponse};
    let api = nodes[leader].client();
    let drain = |node: String, drained: bool| {
        let api = api.clone();
        async move {
            api.post::<_, DrainResponse>(
                "/v1/drain",
                &DrainRequest {
                    node: Some(node),
                    drained,
                },
            )
            .await
        }
    };
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for n in nodes {
            v.push(n.status().await?.node_id);
        }
        v
    };
    for (i, id) in ids.iter().enumerate() {
        if i != target {
            drain(id.clone(), true).await?;
        }
    }
    let key = format!("probe-{round}");
    let spec = JobSpec::argv(
        vec![
            ctx.exe.clone(),
            "__job".into(),
            ctx.jobs_file.to_string_lossy().into_owned(),
            key.clone(),
            "14000".into(),
        ],
        "/",
    );
    clients.record(&Event::Submit {
        t: now_ns(),
        key: key.clone(),
        node: leader,
    });
    let r: SubmitResponse = api.post("/v1/jobs", &SubmitRequest { spec }).await?;
    clients.record(&Event::Ack {
        t: now_ns(),
        key,
        id: r.id.0,
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s: JobStatus = api.get(&format!("/v1/jobs/{}", r.id)).await?;
        if s.state == shoal_types::JobState::Running {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the probe job did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (i, id) in ids.iter().enumerate() {
        if i != target {
            drain(id.clone(), false).await?;
        }
    }
    Ok(())
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

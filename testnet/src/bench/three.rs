//! Three-node figures: leader failover under steady submits, and how fast a killed
//! or stopped worker's job runs elsewhere — with the checks that make the figures
//! honest (no acknowledged job lost, never two copies of one job at once).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use shoal_types::api::{
    CancelRequest, CancelResponse, DrainRequest, DrainResponse, JobStatus, SubmitRequest,
    SubmitResponse,
};
use shoal_types::{JobId, JobSpec};

use crate::cluster::{wait_converged, LocalNode};
use crate::stats::percentile;

/// Index of the leader and of one follower.
async fn roles(nodes: &[LocalNode]) -> anyhow::Result<(usize, usize)> {
    let leader = wait_converged(nodes, crate::cluster::expected_voters(nodes.len())).await?;
    let mut li = None;
    for (i, n) in nodes.iter().enumerate() {
        if n.status().await?.node_id == leader {
            li = Some(i);
        }
    }
    let li = li.context("no node is the leader")?;
    Ok((li, (li + 1) % nodes.len()))
}

pub struct Failover {
    pub p50_s: f64,
    pub p99_s: f64,
    pub lost: usize,
}

/// `trials` times: one client submits (held jobs) every 20 ms at a follower, the
/// leader is killed with SIGKILL, and the gap is the time from the kill to the first
/// acknowledgement of a submit sent after it. The killed node is restarted between
/// trials. At the end every acknowledged job must exist.
pub async fn failover(nodes: &mut [LocalNode], trials: usize) -> anyhow::Result<Failover> {
    let mut gaps = Vec::new();
    let mut acked_all: Vec<JobId> = Vec::new();
    for _ in 0..trials {
        let (li, fi) = roles(nodes).await?;
        let client = nodes[fi].client();
        let acks: Arc<Mutex<Vec<(Instant, Instant, JobId)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (acks, stop) = (acks.clone(), stop.clone());
            tokio::spawn(async move {
                let mut spec = JobSpec::argv(vec!["true".into()], "/");
                spec.hold = true;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    if let Ok(r) = client
                        .post::<_, SubmitResponse>(
                            "/v1/jobs",
                            &SubmitRequest { spec: spec.clone() },
                        )
                        .await
                    {
                        if let Ok(mut a) = acks.lock() {
                            a.push((sent, Instant::now(), r.id));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let killed = Instant::now();
        nodes[li].kill9();
        let deadline = killed + Duration::from_secs(30);
        let gap = loop {
            let first = acks.lock().ok().and_then(|a| {
                a.iter()
                    .filter(|(sent, _, _)| *sent > killed)
                    .map(|(_, acked, _)| *acked)
                    .min()
            });
            if let Some(t) = first {
                break t.duration_since(killed);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no acknowledgement within 30 s of the kill"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        gaps.push(gap.as_secs_f64());
        stop.store(true, Ordering::Relaxed);
        let _ = task.await;
        acked_all.extend(
            acks.lock()
                .map(|a| a.iter().map(|x| x.2).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        nodes[li].restart()?;
    }
    wait_converged(nodes, crate::cluster::expected_voters(nodes.len())).await?;
    let reader = nodes[0].client();
    let mut lost = 0;
    for id in &acked_all {
        let found = reader
            .get::<JobStatus>(&format!("/v1/jobs/{id}?consistent=true"))
            .await
            .is_ok();
        if !found {
            lost += 1;
        }
    }
    Ok(Failover {
        p50_s: percentile(&gaps, 50.0),
        p99_s: percentile(&gaps, 99.0),
        lost,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Kill,
    Stop,
}

pub struct Requeue {
    pub p99_s: f64,
    pub overlaps: usize,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn marker_processes(marker: &str) -> usize {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

async fn drain(node: &LocalNode, target: &LocalNode, drained: bool) -> anyhow::Result<()> {
    let id = target.status().await?.node_id;
    let _: DrainResponse = node
        .client()
        .post(
            "/v1/drain",
            &DrainRequest {
                node: Some(id),
                drained,
            },
        )
        .await?;
    Ok(())
}

/// `trials` times: a long job runs on a follower (the other nodes drained while it is
/// placed), the follower is killed (or stopped), and the figure is the time from the
/// fault to the start of the job's second attempt, as the job itself stamps it. An
/// overlap is counted when the first attempt's process is still alive then.
pub async fn requeue(
    nodes: &mut [LocalNode],
    fault: Fault,
    trials: usize,
    dir: &Path,
) -> anyhow::Result<Requeue> {
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let mut times = Vec::new();
    let mut overlaps = 0;
    for t in 0..trials {
        let (li, vi) = roles(nodes).await?;
        let kind = if fault == Fault::Kill { "kill" } else { "stop" };
        let marker = format!("shoal-bench-requeue-{}-{kind}-{t}", std::process::id());
        let stamp = dir.join(&marker);
        let others: Vec<usize> = (0..nodes.len()).filter(|i| *i != vi).collect();
        for &o in &others {
            drain(&nodes[li], &nodes[o], true).await?;
        }
        let cmd = format!(
            "{exe} __stamp {}.$SHOAL_ATTEMPT; sleep 120; : {marker}",
            stamp.display()
        );
        let spec = JobSpec {
            command: shoal_types::JobCommand::Shell(cmd),
            ..JobSpec::argv(vec![], "/")
        };
        let leader = nodes[li].client();
        let r: SubmitResponse = leader.post("/v1/jobs", &SubmitRequest { spec }).await?;
        let first = stamp.with_extension("1");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !first.exists() {
            anyhow::ensure!(Instant::now() < deadline, "the job never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for &o in &others {
            drain(&nodes[li], &nodes[o], false).await?;
        }
        let t0 = now_ns();
        match fault {
            Fault::Kill => nodes[vi].kill9(),
            Fault::Stop => nodes[vi].signal(libc::SIGSTOP),
        }
        let second = stamp.with_extension("2");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !second.exists() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the job did not run elsewhere within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started: u128 = std::fs::read_to_string(&second)?.trim().parse()?;
        times.push(started.saturating_sub(t0) as f64 / 1e9);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if marker_processes(&marker) > 1 {
            overlaps += 1;
        }
        let _: CancelResponse = leader
            .post(
                "/v1/cancel",
                &CancelRequest {
                    ids: vec![r.id],
                    whole_arrays: false,
                },
            )
            .await?;
        match fault {
            Fault::Kill => nodes[vi].restart()?,
            Fault::Stop => nodes[vi].signal(libc::SIGCONT),
        }
        wait_converged(nodes, crate::cluster::expected_voters(nodes.len())).await?;
    }
    Ok(Requeue {
        p99_s: percentile(&times, 99.0),
        overlaps,
    })
}

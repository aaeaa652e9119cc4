//! Trivial-job throughput: one job array of `true` tasks submitted in one call and run
//! to the end, with the time until that submit was acknowledged and the leader's CPU
//! time per job. Completion is seen through the API (the last task known, then no job
//! queued or running), as a user would see it, and every task is checked to have
//! succeeded; every task's output is captured by its supervisor as usual.

use std::time::{Duration, Instant};

use shoal_client::Client;
use shoal_types::api::{JobStatus, SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use super::procfs;
use crate::cluster::LocalNode;

pub struct Throughput {
    pub jobs_per_s: f64,
    /// From sending the array submit to its acknowledgement.
    pub ack_ms: f64,
    /// Leader CPU (utime + stime) from the submit to the last job's end, per job;
    /// `None` when no leader pid was given.
    pub leader_cpu_ms_per_job: Option<f64>,
}

/// How often the end of the run is checked.
const POLL: Duration = Duration::from_millis(20);

async fn none_in(client: &Client, state: &str) -> anyhow::Result<bool> {
    let jobs: Vec<JobStatus> = client
        .get(&format!("/v1/jobs?state={state}&limit=1"))
        .await?;
    Ok(jobs.is_empty())
}

/// Submits an array of `n` `true` tasks at `entry`, waits until nothing is queued or
/// running, and checks that none of the tasks failed. The node must have no other
/// queued or running work.
pub async fn trivial_jobs(
    entry: &LocalNode,
    leader_pid: Option<i32>,
    n: u32,
) -> anyhow::Result<Throughput> {
    let client = entry.client();
    let mut spec = JobSpec::argv(vec!["true".into()], "/");
    spec.array = Some(n);
    let cpu0 = leader_pid.map(procfs::cpu_ms).transpose()?;
    let t0 = Instant::now();
    let r: SubmitResponse = client.post("/v1/jobs", &SubmitRequest { spec }).await?;
    let ack_ms = t0.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        r.count == Some(n),
        "the array submit answered {:?} tasks, not {n}",
        r.count
    );
    let deadline = t0 + Duration::from_secs(600);
    let last = r.id.0 + u64::from(n) - 1;
    // The entry node may not have applied the array yet (a follower): until it knows
    // the last task, "nothing queued" means nothing.
    let mut known = false;
    loop {
        tokio::time::sleep(POLL).await;
        if !known {
            known = client
                .get::<JobStatus>(&format!("/v1/jobs/{last}"))
                .await
                .is_ok();
        }
        // Leased: handed to a node ahead of its start (prefetch), not finished.
        if known
            && none_in(&client, "queued").await?
            && none_in(&client, "leased").await?
            && none_in(&client, "running").await?
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{n} trivial jobs took over 600 s"
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = leader_pid.map(procfs::cpu_ms).transpose()?;
    let range = r.id.0..r.id.0 + u64::from(n);
    for state in ["failed", "cancelled"] {
        let bad: Vec<JobStatus> = client
            .get(&format!("/v1/jobs?state={state}&limit=100000"))
            .await?;
        if let Some(j) = bad.iter().find(|j| range.contains(&j.id.0)) {
            anyhow::bail!(
                "trivial job {} ended {state}: {:?}",
                j.id,
                j.attempts.last()
            );
        }
    }
    let ok: Vec<JobStatus> = client
        .get(&format!("/v1/jobs?state=succeeded&limit={}", 10 * n))
        .await?;
    let succeeded = ok.iter().filter(|j| range.contains(&j.id.0)).count();
    anyhow::ensure!(
        succeeded == n as usize,
        "only {succeeded} of {n} trivial jobs succeeded"
    );
    Ok(Throughput {
        jobs_per_s: f64::from(n) / secs,
        ack_ms,
        leader_cpu_ms_per_job: cpu0.zip(cpu1).map(|(a, b)| (b - a) / f64::from(n)),
    })
}

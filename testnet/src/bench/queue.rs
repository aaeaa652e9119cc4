//! The cost of a long queue: a fresh one-node cluster is drained (it takes no work, so
//! submitted jobs stay queued), then loaded with `jobs` individually submitted and
//! signed `true` jobs from 64 API clients. Measured before and after loading: the
//! node's RSS (VmRSS, while running), the disk its database takes after a flush (a
//! clean restart: RocksDB flushes the write-ahead log into tables when it reopens),
//! and then the p50 of one client's held submits (both p50s after such a restart
//! and a settling pause, so neither competes with the flush and compactions that
//! follow loading).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use shoal_types::api::{ClusterStatus, DrainRequest, DrainResponse, SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use super::{procfs, submit};
use crate::cluster::LocalNode;

pub struct QueueCost {
    pub rss_bytes_per_job: f64,
    /// RSS per job measured again after the flushing restart (nothing in memtables).
    pub rss_bytes_per_job_restarted: f64,
    pub disk_bytes_per_job: f64,
    pub submit_p50_empty_ms: f64,
    pub submit_p50_full_ms: f64,
    pub load_per_s: f64,
}

struct Sample {
    rss: u64,
    rss_restarted: u64,
    disk: u64,
}

/// Submitting clients while loading.
const CLIENTS: u64 = 64;

pub async fn queued_jobs(
    shoal: &Path,
    dir: &Path,
    jobs: u64,
    samples: usize,
) -> anyhow::Result<QueueCost> {
    let mut node = LocalNode::start(shoal, dir, 2)
        .await
        .context("starting the queue node")?;
    let _: DrainResponse = node
        .client()
        .post(
            "/v1/drain",
            &DrainRequest {
                node: None,
                drained: true,
            },
        )
        .await?;
    let empty = sample(&mut node).await?;
    let submit_p50_empty_ms = submit::commit_latency_p50_ms(&node, samples).await?;
    eprintln!("  loading {jobs} queued jobs ...");
    let t = Instant::now();
    load(&node, jobs).await?;
    let load_per_s = jobs as f64 / t.elapsed().as_secs_f64();
    let full = sample(&mut node).await?;
    let submit_p50_full_ms = submit::commit_latency_p50_ms(&node, samples).await?;
    node.stop();
    let per_job = |a: u64, b: u64| (b as f64 - a as f64) / jobs as f64;
    Ok(QueueCost {
        rss_bytes_per_job: per_job(empty.rss, full.rss),
        rss_bytes_per_job_restarted: per_job(empty.rss_restarted, full.rss_restarted),
        disk_bytes_per_job: per_job(empty.disk, full.disk),
        submit_p50_empty_ms,
        submit_p50_full_ms,
        load_per_s,
    })
}

/// RSS now; then a clean restart (which flushes), the database's disk use and the RSS
/// of the restarted node.
async fn sample(node: &mut LocalNode) -> anyhow::Result<Sample> {
    let pid = node.pid().context("the queue node is not running")?;
    let rss = procfs::rss_bytes(pid)?;
    node.terminate();
    node.restart()?;
    wait_leading(node).await?;
    let disk = procfs::disk_bytes(&node.home.join("db"))?;
    // Let start-up work (compactions after the flush) settle before reading RSS.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = node.pid().context("the queue node is not running")?;
    Ok(Sample {
        rss,
        rss_restarted: procfs::rss_bytes(pid)?,
        disk,
    })
}

async fn wait_leading(node: &LocalNode) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(c) = node.client().get::<ClusterStatus>("/v1/cluster").await {
            if c.leader.as_deref() == Some(c.node_id.as_str()) {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the restarted queue node did not lead within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `jobs` acknowledged submits of individual (separately signed) `true` jobs.
async fn load(node: &LocalNode, jobs: u64) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = node.client();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let spec = JobSpec::argv(vec!["true".into()], "/");
            while next.fetch_add(1, Ordering::Relaxed) < jobs {
                let _: SubmitResponse = client
                    .post("/v1/jobs", &SubmitRequest { spec: spec.clone() })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

//! Submit throughput: separate `shoal submit` processes one after another, and
//! concurrent API clients, counting only acknowledged (committed) submits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_types::api::{SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use crate::cluster::LocalNode;
use crate::stats::percentile;

/// Sequential CLI submits for `secs` seconds.
pub async fn cli_rate(node: &LocalNode, secs: f64) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let out = tokio::process::Command::new(&node.shoal)
            .args(["submit", "--home"])
            .arg(&node.home)
            .args(["--", "true"])
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "shoal submit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// `clients` concurrent API clients submitting `true` for `secs` seconds. The jobs
/// are submitted held, so this measures the submit path (sign, verify, raft append
/// with fsync, apply) without the node's own worker spawning thousands of processes
/// on the same cores; executing jobs is what the `trivial_jobs_per_s` figures measure.
pub async fn api_rate(node: &LocalNode, clients: usize, secs: f64) -> anyhow::Result<f64> {
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = node.client();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut spec = JobSpec::argv(vec!["true".into()], "/");
            spec.hold = true;
            while Instant::now() < deadline {
                let _: SubmitResponse = client
                    .post("/v1/jobs", &SubmitRequest { spec: spec.clone() })
                    .await?;
                acked.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(acked.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// One client, one acknowledged submit at a time (held jobs, one kept-alive
/// connection): the p50 of the round trip, in milliseconds.
pub async fn commit_latency_p50_ms(node: &LocalNode, samples: usize) -> anyhow::Result<f64> {
    let client = node.client();
    let mut spec = JobSpec::argv(vec!["true".into()], "/");
    spec.hold = true;
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let _: SubmitResponse = client
            .post("/v1/jobs", &SubmitRequest { spec: spec.clone() })
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(percentile(&ms, 50.0))
}

//! Submit-to-start latency: the job is this binary's `__stamp FILE`, which writes the
//! wall-clock time at its start; latency is that minus the time before the submit call.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use shoal_types::api::{JobStatus, SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use crate::cluster::LocalNode;
use crate::stats::percentile;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The job side: record the start time.
pub fn stamp(file: &Path) -> std::io::Result<()> {
    let t = now_ns();
    // Written beside and renamed into place, so a reader never sees the file empty
    // or half-written (it polls for the name, then parses the contents).
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, t.to_string())?;
    std::fs::rename(&tmp, file)
}

pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `samples` jobs one after another on an otherwise idle node.
pub async fn submit_to_start(
    node: &LocalNode,
    dir: &Path,
    samples: usize,
) -> anyhow::Result<Latency> {
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let client = node.client();
    let stamps = dir.join("stamps");
    std::fs::create_dir_all(&stamps)?;
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let file = stamps.join(i.to_string());
        let spec = JobSpec::argv(
            vec![
                exe.clone(),
                "__stamp".into(),
                file.to_string_lossy().into_owned(),
            ],
            "/",
        );
        let t0 = now_ns();
        let r: SubmitResponse = client.post("/v1/jobs", &SubmitRequest { spec }).await?;
        let s: JobStatus = client
            .get(&format!("/v1/jobs/{}/wait?timeout_ms=30000", r.id))
            .await?;
        anyhow::ensure!(
            s.state == shoal_types::JobState::Succeeded,
            "stamp job {} ended {}",
            r.id,
            s.state
        );
        let t1: u128 = std::fs::read_to_string(&file)
            .with_context(|| format!("job {} wrote no stamp", r.id))?
            .trim()
            .parse()?;
        lat.push(t1.saturating_sub(t0) as f64 / 1e6);
    }
    Ok(Latency {
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
    })
}

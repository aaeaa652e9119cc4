//! Reference figures of this machine: fdatasync on the benchmark's disk, spawning
//! `true` with Rust's `Command` on every CPU, and `xargs -P` running `true`.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procfs;
use crate::stats::percentile;

pub struct Rate {
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of this (the spawning) process per operation, in ms.
    pub cpu_ms_each: f64,
}

/// 4 KiB write + fdatasync in a loop for `secs` seconds in `dir`.
pub fn fdatasync(dir: &Path, secs: f64) -> std::io::Result<Rate> {
    let path = dir.join("fdatasync.probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    f.write_all(&[0u8; 4096])?;
    f.sync_all()?;
    let block = [1u8; 4096];
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut off = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let t = Instant::now();
        f.write_all_at(&block, off)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        off = (off + 4096) % (64 << 20);
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(Rate {
        per_s: rate,
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
        cpu_ms_each: 0.0,
    })
}

/// `true` spawned and waited for on `threads` threads for `secs` seconds.
/// `cpu_ms_each` is this process's CPU time (the parent's side of fork, exec and
/// wait) per spawn.
pub fn spawn_true(threads: usize, secs: f64) -> anyhow::Result<Rate> {
    let me = std::process::id() as i32;
    let cpu0 = procfs::cpu_ms(me)?;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || -> std::io::Result<Vec<f64>> {
                let mut lat = Vec::new();
                while start.elapsed() < Duration::from_secs_f64(secs) {
                    let t = Instant::now();
                    Command::new("true")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .status()?;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| std::io::Error::other("spawn thread panicked"))??,
        );
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    let cpu = procfs::cpu_ms(me)? - cpu0;
    Ok(Rate {
        per_s: rate,
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        cpu_ms_each: cpu / all.len().max(1) as f64,
    })
}

/// `seq N | xargs -P threads -n 1 true`: runs of `true` per second.
pub fn xargs_true(threads: usize, n: u32) -> anyhow::Result<f64> {
    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("seq {n} | xargs -P {threads} -n 1 true"))
        .stdin(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "xargs -P {threads} true failed: {status}");
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

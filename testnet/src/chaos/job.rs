//! The workload's job (`shoal-testnet __job EVENTS KEY MILLIS`): records its start
//! with the identity Shoal gave it, says it is alive every 100 ms, records its end.
//! A killed attempt leaves its last "alive" as a lower bound of when it died.
//!
//! With `--escape` it first starts a child that leaves its process group and session
//! (`setsid`, as daemonizing tools do): the escapee (`__escapee`) records its pid and
//! says it is alive, on the job's behalf, until something kills it. Nothing but the
//! end of its attempt should.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::history::{now_ns, Event, Recorder};

/// How long an escapee lives if nothing kills it.
const ESCAPEE_LIFE: Duration = Duration::from_secs(600);

pub fn run(events: &Path, key: &str, millis: u64, escape: bool) -> std::io::Result<()> {
    let rec = Recorder::open(events)?;
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let job: u64 = var("SHOAL_JOB_ID").parse().unwrap_or(0);
    let attempt: u32 = var("SHOAL_ATTEMPT").parse().unwrap_or(0);
    rec.record(&Event::Start {
        t: now_ns(),
        job,
        attempt,
        node: var("SHOAL_NODE_ID"),
        token: var("SHOAL_FENCING_TOKEN").parse().unwrap_or(0),
        key: key.to_string(),
    });
    if escape {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("__escapee")
            .arg(events)
            .args([job.to_string(), attempt.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid(2) is async-signal-safe; nothing else runs between fork
        // and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        // Never waited for: it outlives this process unless it is killed.
        cmd.spawn()?;
    }
    alive_until(
        &rec,
        job,
        attempt,
        Instant::now() + Duration::from_millis(millis),
    );
    rec.record(&Event::End {
        t: now_ns(),
        job,
        attempt,
    });
    Ok(())
}

/// The escaped child of attempt `attempt` of `job`.
pub fn escapee(events: &Path, job: u64, attempt: u32) -> std::io::Result<()> {
    let rec = Recorder::open(events)?;
    rec.record(&Event::Escapee {
        t: now_ns(),
        pid: std::process::id() as i32,
        job,
        attempt,
    });
    alive_until(&rec, job, attempt, Instant::now() + ESCAPEE_LIFE);
    Ok(())
}

fn alive_until(rec: &Recorder, job: u64, attempt: u32, until: Instant) {
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        rec.record(&Event::Alive {
            t: now_ns(),
            job,
            attempt,
        });
    }
}

/// Whether process `pid` is an escapee still running (not a zombie, not a pid
/// reused by something else).
pub fn escapee_alive(pid: i32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is_escapee = cmdline.split(|b| *b == 0).any(|a| a == b"__escapee");
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    let zombie = state
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    is_escapee && !zombie
}

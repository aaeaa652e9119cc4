//! The per-job supervisor: a small process (`shoal-supervisor`) that owns one job's
//! process group.
//!
//! It reads a [`LaunchSpec`] line from stdin, starts the job in a new process group
//! with its output piped into files (see [`crate::output`]), and then watches three
//! things: the job exiting, the per-attempt timeout, and the node. A timeout or a
//! cancel gets SIGTERM, a grace period, then SIGKILL. The node renews a deadline over
//! the pipe; if the pipe closes (node died), renewals stop for `lease_ms` (node hung,
//! stopped or cut off from the leader), or the node sends `fence`, the supervisor
//! SIGKILLs the whole group at once, so a job never outlives its node's claim on it.
//! It reports the outcome (exit code or signal, wall and CPU time, peak RSS, output
//! summaries, whether it was fenced) as one JSON line on stdout.
//!
//! Synchronous by design: no async runtime in a process that runs once per job.

use std::io::{BufRead, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shoal_types::{AttemptOutcome, FailReason};

use crate::output::{Pump, Sink};
use crate::protocol::{LaunchSpec, Report, FENCE, KILL, RENEW};

/// How long output may keep arriving after the job's group is gone (only a process
/// that escaped the group can still hold the pipes).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

enum Event {
    Exited {
        status: i32,
        cpu_ms: u64,
        max_rss_kb: u64,
    },
    Renew,
    Kill,
    Fence,
    NodeGone,
}

/// Entry point of `shoal-supervisor` (and `shoal __supervise`); returns the exit code.
pub fn main() -> i32 {
    let stdin = std::io::stdin();
    let mut first = String::new();
    if stdin.lock().read_line(&mut first).unwrap_or(0) == 0 {
        return 2;
    }
    let spec: LaunchSpec = match serde_json::from_str(&first) {
        Ok(s) => s,
        Err(e) => {
            report(&Report::Finished {
                outcome: failed(format!("bad launch spec: {e}")),
                lease_lapsed: false,
            });
            return 2;
        }
    };
    let outcome = run(&spec);
    report(&outcome);
    0
}

fn failed(why: String) -> AttemptOutcome {
    AttemptOutcome {
        error: Some(FailReason::SpawnFailed(why)),
        ..Default::default()
    }
}

fn report(r: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, r);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn run(spec: &LaunchSpec) -> Report {
    let finished = |outcome| Report::Finished {
        outcome,
        lease_lapsed: false,
    };
    let lease = Duration::from_millis(spec.lease_ms);
    // The first lease period runs from the node's decision (see `decided_at_ns`).
    let since_decision = spec.decided_at_ns.map_or(Duration::ZERO, |d| {
        Duration::from_nanos(crate::protocol::monotonic_ns().saturating_sub(d))
    });
    if since_decision >= lease {
        return Report::Finished {
            outcome: AttemptOutcome {
                error: Some(FailReason::Lost),
                ..Default::default()
            },
            lease_lapsed: true,
        };
    }
    let Some((program, args)) = spec.argv.split_first() else {
        return finished(failed("empty command".into()));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure touches no locks or allocations.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return finished(failed(format!(
                "cannot start {program:?} in {}: {e}",
                spec.cwd
            )))
        }
    };
    let pid = child.id() as i32;
    let pipes = child
        .stdout
        .take()
        .map(OwnedFd::from)
        .zip(child.stderr.take().map(OwnedFd::from));
    // We reap with wait4 ourselves (to get rusage), so std's handle is not used again.
    drop(child);
    let pump = pipes
        .ok_or_else(|| std::io::Error::other("no output pipes"))
        .and_then(|(out, err)| {
            Pump::start(vec![
                (out, Sink::new(&spec.stdout_path)),
                (err, Sink::new(&spec.stderr_path)),
            ])
        });
    let pump = match pump {
        Ok(p) => p,
        Err(e) => {
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            reap(pid);
            return finished(failed(format!("cannot collect the job's output: {e}")));
        }
    };
    report(&Report::Started { pid });

    let (tx, rx) = mpsc::channel();
    let waiter = tx.clone();
    std::thread::spawn(move || waiter.send(reap(pid)));
    std::thread::spawn(move || watch_node(tx));

    let grace = Duration::from_millis(spec.kill_grace_ms);
    let timeout_at = spec
        .timeout_ms
        .map(|ms| started + Duration::from_millis(ms));
    let mut lease_deadline = Instant::now() + lease.saturating_sub(since_decision);
    let mut timed_out = false;
    let mut lease_lapsed = false;
    let mut kill_at: Option<Instant> = None; // SIGKILL time once SIGTERM was sent
    let mut node_gone = false;
    loop {
        // Once SIGTERM went out only the SIGKILL time matters; before, the lease and
        // the timeout.
        let next = match (kill_at, timeout_at) {
            (Some(k), _) => k,
            (None, Some(t)) => lease_deadline.min(t),
            (None, None) => lease_deadline,
        };
        let event = match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(ev) => Some(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Event::NodeGone),
        };
        match event {
            Some(Event::Exited {
                status,
                cpu_ms,
                max_rss_kb,
            }) => {
                // Leftovers in the group (background children) go with the job.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let summaries = pump.finish(OUTPUT_DRAIN);
                if summaries.is_none() {
                    eprintln!("shoal-supervisor: a process outside the job's group holds its output open; later output is dropped");
                }
                let mut summaries = summaries.unwrap_or_default().into_iter();
                let (exit_code, signal) = decode_status(status);
                let outcome = AttemptOutcome {
                    exit_code,
                    signal,
                    timed_out,
                    error: None,
                    wall_ms: started.elapsed().as_millis() as u64,
                    cpu_ms,
                    max_rss_kb,
                    stdout: summaries.next(),
                    stderr: summaries.next(),
                };
                return Report::Finished {
                    outcome,
                    lease_lapsed,
                };
            }
            Some(Event::Renew) if kill_at.is_none() => lease_deadline = Instant::now() + lease,
            Some(Event::Renew) => {}
            Some(Event::Kill) => start_kill(pid, &mut kill_at, grace),
            // Fencing kills at once: the job's slot may be given away within seconds,
            // and a grace period could let two attempts overlap.
            Some(Event::Fence) => {
                lease_lapsed = true;
                fence(pid, &mut kill_at);
            }
            Some(Event::NodeGone) if !node_gone => {
                // Nobody will read the result; the job will be re-queued.
                node_gone = true;
                lease_lapsed = true;
                fence(pid, &mut kill_at);
            }
            Some(Event::NodeGone) => {}
            None => {
                let now = Instant::now();
                if let Some(k) = kill_at {
                    if now >= k {
                        unsafe { libc::kill(-pid, libc::SIGKILL) };
                        // Nothing left to escalate to; wait for the reaper.
                        kill_at = Some(now + Duration::from_secs(3600));
                    }
                } else if timeout_at.is_some_and(|t| now >= t) {
                    timed_out = true;
                    start_kill(pid, &mut kill_at, grace);
                } else if now >= lease_deadline {
                    if cfg!(feature = "unsafe-disable-fencing") {
                        // A deliberately broken build, for showing that the chaos
                        // checker catches the double runs this causes. Never ship it.
                        lease_deadline = now + Duration::from_secs(3600);
                    } else {
                        lease_lapsed = true;
                        fence(pid, &mut kill_at);
                    }
                }
            }
        }
    }
}

/// SIGKILL to the whole group now; nothing left to escalate to.
fn fence(pid: i32, kill_at: &mut Option<Instant>) {
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    *kill_at = Some(Instant::now() + Duration::from_secs(3600));
}

/// SIGTERM to the whole group now, SIGKILL after `grace` (once).
fn start_kill(pid: i32, kill_at: &mut Option<Instant>, grace: Duration) {
    if kill_at.is_none() {
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        *kill_at = Some(Instant::now() + grace);
    }
}

/// Blocks until the job's main process exits; returns its status and resource use.
fn reap(pid: i32) -> Event {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let tv_ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    Event::Exited {
        status,
        cpu_ms: tv_ms(usage.ru_utime) + tv_ms(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss as u64,
    }
}

fn decode_status(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

/// Reads control lines until the node closes the pipe.
fn watch_node(tx: mpsc::Sender<Event>) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let ev = match line {
            Ok(l) if l.trim() == RENEW => Event::Renew,
            Ok(l) if l.trim() == KILL => Event::Kill,
            Ok(l) if l.trim() == FENCE => Event::Fence,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(ev).is_err() {
            return;
        }
    }
    let _ = tx.send(Event::NodeGone);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_arriving_after_its_first_lease_period_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let spec = |decided_at_ns| LaunchSpec {
            argv: vec!["touch".into(), marker.to_string_lossy().into_owned()],
            cwd: "/".into(),
            env: Vec::new(),
            stdout_path: dir.path().join("out").to_string_lossy().into_owned(),
            stderr_path: dir.path().join("err").to_string_lossy().into_owned(),
            timeout_ms: None,
            lease_ms: 4_000,
            kill_grace_ms: 100,
            decided_at_ns,
        };
        let late = crate::protocol::monotonic_ns() - 5_000_000_000;
        match run(&spec(Some(late))) {
            Report::Finished {
                outcome,
                lease_lapsed,
            } => {
                assert!(lease_lapsed);
                assert_eq!(outcome.error, Some(FailReason::Lost));
            }
            other => panic!("{other:?}"),
        }
        assert!(!marker.exists(), "the job ran");
    }

    #[test]
    fn decodes_exit_and_signal_statuses() {
        assert_eq!(decode_status(3 << 8), (Some(3), None));
        assert_eq!(decode_status(9), (None, Some(9)));
    }
}

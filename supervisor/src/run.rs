//! The supervisor: a small process (`shoal-supervisor`) that owns the process group of
//! one job at a time, and runs the jobs of one slot one after another.
//!
//! It reads a [`LaunchSpec`] line from stdin, starts the job in a new process group
//! with its output piped into files (see [`crate::output`]), and then watches three
//! things: the job exiting, the per-attempt timeout, and the node. A timeout or a
//! cancel gets SIGTERM, a grace period, then SIGKILL. The node renews a deadline over
//! the pipe; if the pipe closes (node died), renewals stop for `lease_ms` (node hung,
//! stopped or cut off from the leader), or the node sends `fence`, the supervisor
//! SIGKILLs the whole group at once, so a job never outlives its node's claim on it.
//! It reports the outcome (exit code or signal, wall and CPU time, peak RSS, output
//! summaries, whether it was fenced) as one JSON line on stdout, then waits for the
//! next spec; it exits when the node closes the pipe. Control lines that arrive while
//! no job runs belong to the job that just ended and are ignored: the node writes a
//! job's controls before the next job's spec, on the same pipe.
//!
//! Reusing the process saves a process start (exec, dynamic loading, page faults) per
//! job, which on 2 cores was half of the CPU a trivial job cost.
//!
//! Synchronous by design: no async runtime in a process this small.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use shoal_types::{AttemptOutcome, FailReason};

use crate::cgroup::{AttemptCgroup, Layout};
use crate::output::{Pump, Sink};
use crate::protocol::{LaunchSpec, Report, FENCE, KILL, RENEW};
use crate::spawner::Spawner;
use crate::threads::Threads;

/// How long output may keep arriving after the job's group is gone (only a process
/// that escaped the group can still hold the pipes).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// What the supervisor's loop waits for: lines from the node, the node closing the
/// pipe, and a job's main process exiting.
enum Event {
    Line(String),
    NodeGone,
    Exited {
        pid: i32,
        status: i32,
        cpu_ms: u64,
        max_rss_kb: u64,
    },
}

/// Entry point of `shoal-supervisor` (and `shoal __supervise`); returns the exit code.
pub fn main() -> i32 {
    if !crate::tree::become_subreaper() {
        eprintln!("shoal-supervisor: cannot become a subreaper; a job's processes that leave its group may outlive it");
    }
    let (tx, rx) = mpsc::channel();
    let reader = tx.clone();
    std::thread::spawn(move || read_node(reader));
    serve(&rx, &tx, &mut report);
    0
}

/// Runs specs one after another until the node is gone; `emit` prints each report.
fn serve(rx: &mpsc::Receiver<Event>, tx: &mpsc::Sender<Event>, emit: &mut dyn FnMut(&Report)) {
    let threads = Threads::new();
    // One cgroup for this supervisor's attempts, one after another: made with the
    // first, emptied at the end of each, removed when the supervisor ends. (A cgroup
    // made and removed per attempt cost a quarter of trivial-job throughput.)
    let mut slot: Option<Option<AttemptCgroup>> = None;
    // Declared after `slot`, so it ends (and leaves the cgroup) before the cgroup
    // is removed.
    let mut spawner: Option<Spawner> = None;
    loop {
        let line = match rx.recv() {
            Ok(Event::Line(l)) => l,
            Ok(Event::NodeGone) | Err(_) => return,
            Ok(Event::Exited { .. }) => continue,
        };
        if is_control(&line) || line.trim().is_empty() {
            // For the job that just ended (see the module comment).
            continue;
        }
        let spec: LaunchSpec = match serde_json::from_str(&line) {
            Ok(s) => s,
            Err(e) => {
                emit(&Report::Finished {
                    outcome: failed(format!("bad launch spec: {e}")),
                    lease_lapsed: false,
                });
                continue;
            }
        };
        let cgroup = slot.get_or_insert_with(|| slot_cgroup(spec.pids_max));
        if let Some(cg) = cgroup.as_mut() {
            if spawner.is_none() {
                match Spawner::start(cg.thread_files()) {
                    Ok(s) => {
                        cg.set_resident(u64::from(s.inside()));
                        spawner = Some(s);
                    }
                    Err(e) => eprintln!(
                        "shoal-supervisor: cannot start the spawner thread ({e}); each job joins its cgroup itself"
                    ),
                }
            }
            cg.set_pids_max(spec.pids_max);
        }
        let (outcome, node_gone) = run(
            &spec,
            cgroup.as_ref(),
            spawner.as_ref(),
            &threads,
            rx,
            tx,
            emit,
        );
        emit(&outcome);
        if node_gone {
            return;
        }
    }
}

fn is_control(line: &str) -> bool {
    matches!(line.trim(), RENEW | KILL | FENCE)
}

/// What one attempt's loop acts on.
enum Control {
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

/// Runs one attempt to its end; returns its report and whether the node is gone
/// (the pipe closed), after which no further spec can arrive.
fn run(
    spec: &LaunchSpec,
    cgroup: Option<&AttemptCgroup>,
    spawner: Option<&Spawner>,
    threads: &Threads,
    rx: &mpsc::Receiver<Event>,
    tx: &mpsc::Sender<Event>,
    emit: &mut dyn FnMut(&Report),
) -> (Report, bool) {
    let finished = |outcome| {
        (
            Report::Finished {
                outcome,
                lease_lapsed: false,
            },
            false,
        )
    };
    let lease = Duration::from_millis(spec.lease_ms);
    // The first lease period runs from the node's decision (see `decided_at_ns`).
    let since_decision = spec.decided_at_ns.map_or(Duration::ZERO, |d| {
        Duration::from_nanos(crate::protocol::monotonic_ns().saturating_sub(d))
    });
    if since_decision >= lease {
        let lost = Report::Finished {
            outcome: AttemptOutcome {
                error: Some(FailReason::Lost),
                ..Default::default()
            },
            lease_lapsed: true,
        };
        return (lost, false);
    }
    let started = Instant::now();
    let started_at_ms = shoal_types::time::now_ms();
    let join = cgroup.map(AttemptCgroup::join_fds).unwrap_or_default();
    let spawned = match spawner {
        Some(s) => s.spawn(&spec.argv, &spec.cwd, &spec.env, &join),
        None => crate::spawn::spawn(&spec.argv, &spec.cwd, &spec.env, &join),
    };
    let job = match spawned {
        Ok(j) => j,
        Err(e) => {
            let program = spec.argv.first().map(String::as_str).unwrap_or("");
            return finished(failed(format!(
                "cannot start {program:?} in {}: {e}",
                spec.cwd
            )));
        }
    };
    let pid = job.pid;
    let group = Group { pid, cgroup };
    let cap = spec.output_cap.unwrap_or(u64::MAX);
    let pump = Pump::start(
        threads,
        vec![
            (job.stdout, Sink::capped(&spec.stdout_path, cap)),
            (job.stderr, Sink::capped(&spec.stderr_path, cap)),
        ],
    );
    let pump = match pump {
        Ok(p) => p,
        Err(e) => {
            signal_group(&group, Signal::SIGKILL);
            reap(pid);
            return finished(failed(format!("cannot collect the job's output: {e}")));
        }
    };
    emit(&Report::Started {
        pid,
        at_ms: started_at_ms,
    });

    let waiter = tx.clone();
    let reaper = threads.spawn("reaper", move || {
        let _ = waiter.send(reap(pid));
    });
    if let Err(e) = reaper {
        signal_group(&group, Signal::SIGKILL);
        reap(pid);
        return finished(failed(format!("cannot wait for the job: {e}")));
    }

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
            Ok(Event::Line(l)) => match l.trim() {
                RENEW => Some(Control::Renew),
                KILL => Some(Control::Kill),
                FENCE => Some(Control::Fence),
                _ => continue, // not a control line: ignored
            },
            Ok(Event::NodeGone) => Some(Control::NodeGone),
            Ok(Event::Exited {
                pid: exited,
                status,
                cpu_ms,
                max_rss_kb,
            }) if exited == pid => Some(Control::Exited {
                status,
                cpu_ms,
                max_rss_kb,
            }),
            Ok(Event::Exited { .. }) => continue,
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Control::NodeGone),
        };
        match event {
            Some(Control::Exited {
                status,
                cpu_ms,
                max_rss_kb,
            }) => {
                // Leftovers (background children, in the group or escaped from it)
                // go with the job, before their pipes could keep the output open.
                // The group by one system call; the rest of the tree only when a
                // child is left (`kill_all` checks first): walking `/proc` after every
                // job would cost more than the job.
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                // The cgroup is read only when something was left in the tree: a
                // process cannot leave both, and on cgroup v1 each read of
                // `cgroup.procs` costs the kernel a pid list.
                let left = crate::tree::kill_all();
                if let (true, Some(cg)) = (left || !crate::tree::containing(), group.cgroup) {
                    if !cg.members().is_empty() {
                        cg.kill_all();
                    }
                }
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
                    started_at_ms: Some(started_at_ms),
                };
                let report = Report::Finished {
                    outcome,
                    lease_lapsed,
                };
                return (report, node_gone);
            }
            Some(Control::Renew) if kill_at.is_none() => lease_deadline = Instant::now() + lease,
            Some(Control::Renew) => {}
            Some(Control::Kill) => start_kill(&group, &mut kill_at, grace),
            // Fencing kills at once: the job's slot may be given away within seconds,
            // and a grace period could let two attempts overlap.
            Some(Control::Fence) => {
                lease_lapsed = true;
                fence(&group, &mut kill_at);
            }
            Some(Control::NodeGone) if !node_gone => {
                // Nobody will read the result; the job will be re-queued.
                node_gone = true;
                lease_lapsed = true;
                fence(&group, &mut kill_at);
            }
            Some(Control::NodeGone) => {}
            None => {
                let now = Instant::now();
                if let Some(k) = kill_at {
                    if now >= k {
                        signal_group(&group, Signal::SIGKILL);
                        // Nothing left to escalate to; wait for the reaper.
                        kill_at = Some(now + Duration::from_secs(3600));
                    }
                } else if timeout_at.is_some_and(|t| now >= t) {
                    timed_out = true;
                    start_kill(&group, &mut kill_at, grace);
                } else if now >= lease_deadline {
                    if cfg!(feature = "unsafe-disable-fencing") {
                        // A deliberately broken build, for showing that the chaos
                        // checker catches the double runs this causes. Never ship it.
                        lease_deadline = now + Duration::from_secs(3600);
                    } else {
                        lease_lapsed = true;
                        fence(&group, &mut kill_at);
                    }
                }
            }
        }
    }
}

/// `signal` to every process in the job's group (the job leads it, so its pid is the
/// group id), and to every other process the job started (see `tree`). A group that is
/// gone already (ESRCH) has nothing left to signal.
fn signal_group(group: &Group, signal: Signal) {
    let _ = killpg(Pid::from_raw(group.pid), signal);
    crate::tree::signal_all(signal);
    if signal == Signal::SIGKILL {
        if let Some(cg) = group.cgroup {
            cg.kill_all();
        }
    }
}

/// The job's process group (its pid) and, where one could be made, its cgroup.
struct Group<'a> {
    pid: i32,
    cgroup: Option<&'a AttemptCgroup>,
}

/// SIGKILL to the whole group now; nothing left to escalate to.
fn fence(group: &Group, kill_at: &mut Option<Instant>) {
    signal_group(group, Signal::SIGKILL);
    *kill_at = Some(Instant::now() + Duration::from_secs(3600));
}

/// SIGTERM to the whole group now, SIGKILL after `grace` (once).
fn start_kill(group: &Group, kill_at: &mut Option<Instant>, grace: Duration) {
    if kill_at.is_none() {
        signal_group(group, Signal::SIGTERM);
        *kill_at = Some(Instant::now() + grace);
    }
}

/// Blocks until the job's main process exits; returns its status and resource use.
fn reap(pid: i32) -> Event {
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes for the whole call; wait4
        // touches nothing else. (nix has no wait4 that returns the rusage.)
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
        pid,
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

/// Forwards the node's lines until it closes the pipe.
fn read_node(tx: mpsc::Sender<Event>) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if tx.send(Event::Line(line)).is_err() {
            return;
        }
    }
    let _ = tx.send(Event::NodeGone);
}

/// This supervisor's cgroup layout, detected once (`None`: the subreaper alone).
fn layout() -> Option<&'static Layout> {
    static LAYOUT: std::sync::OnceLock<Option<Layout>> = std::sync::OnceLock::new();
    LAYOUT
        .get_or_init(|| {
            if crate::cgroup::disabled_by_env() {
                return None;
            }
            let me = crate::cgroup::parse_self(&std::fs::read_to_string("/proc/self/cgroup").ok()?);
            Layout::detect(std::path::Path::new("/sys/fs/cgroup"), &me)
        })
        .as_ref()
}

/// The cgroup this supervisor's attempts run in, where the machine lets it make one;
/// else `None` (said on stderr) and the subreaper contains the jobs.
fn slot_cgroup(pids_max: Option<u64>) -> Option<AttemptCgroup> {
    let layout = layout()?;
    let name = format!("{}{}", crate::cgroup::PREFIX, std::process::id());
    match AttemptCgroup::create(layout, &name, pids_max) {
        Ok(cg) => Some(cg),
        Err(e) => {
            eprintln!(
                "shoal-supervisor: cannot make a {} for its jobs ({e}); containing them with the subreaper only",
                layout.name()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_spec(dir: &std::path::Path, marker: &std::path::Path) -> LaunchSpec {
        LaunchSpec {
            argv: vec!["touch".into(), marker.to_string_lossy().into_owned()],
            cwd: "/".into(),
            env: Vec::new(),
            stdout_path: dir.join("out").to_string_lossy().into_owned(),
            stderr_path: dir.join("err").to_string_lossy().into_owned(),
            timeout_ms: None,
            lease_ms: 4_000,
            kill_grace_ms: 100,
            output_cap: None,
            pids_max: None,
            decided_at_ns: Some(crate::protocol::monotonic_ns()),
        }
    }

    #[test]
    fn one_supervisor_runs_jobs_one_after_another_and_ignores_stale_controls() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        let line = |spec: &LaunchSpec| Event::Line(serde_json::to_string(spec).unwrap());
        let (tx, rx) = mpsc::channel();
        tx.send(line(&touch_spec(dir.path(), &first))).unwrap();
        let mut reports = Vec::new();
        let feed = tx.clone();
        serve(&rx, &tx, &mut |r: &Report| {
            if let Report::Finished { .. } = r {
                reports.push(format!("{r:?}"));
                if reports.len() == 1 {
                    // Controls meant for the first job, after it ended, then the next
                    // job: they must not touch it.
                    for c in [KILL, FENCE, RENEW] {
                        feed.send(Event::Line(c.into())).unwrap();
                    }
                    feed.send(line(&touch_spec(dir.path(), &second))).unwrap();
                    feed.send(Event::Line("not json".into())).unwrap();
                } else {
                    feed.send(Event::NodeGone).unwrap();
                }
            }
        });
        assert!(first.exists() && second.exists());
        assert_eq!(reports.len(), 2, "{reports:?}");
        for r in &reports {
            assert!(
                r.contains("exit_code: Some(0)") && r.contains("lease_lapsed: false"),
                "{r}"
            );
        }
    }

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
            output_cap: None,
            pids_max: None,
            decided_at_ns,
        };
        let late = crate::protocol::monotonic_ns() - 5_000_000_000;
        let (tx, rx) = mpsc::channel();
        match run(
            &spec(Some(late)),
            None,
            None,
            &Threads::new(),
            &rx,
            &tx,
            &mut |_| {},
        )
        .0
        {
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

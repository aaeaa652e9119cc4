//! The `escape` scenario's faults: every job of the workload starts a child that
//! leaves its process group and session (`setsid`), and rounds end such jobs the
//! three ways Shoal ends an attempt early — `shoal cancel`, `--timeout`, and fencing
//! (its worker's node stopped for longer than a lease, so the job runs again
//! elsewhere). The escaped child must die with its attempt: alive seconds later it
//! is a violation; alive beside the next attempt, the checker counts an overlap.

use std::path::Path;
use std::time::Duration;

use shoal_types::JobState;

use super::history::{now_ns, Event, Recorder};
use super::job::escapee_alive;
use super::probe::{probe_on, Probe};
use super::world::World;
use super::{Ctx, Rng};

/// How long after its attempt ended an escaped child may still be seen.
const DIE_WITHIN: Duration = Duration::from_secs(3);

/// One round: cancel, timeout or fencing, in turn.
pub async fn inject(
    w: &mut World,
    rng: &mut Rng,
    clients: &Recorder,
    ctx: &Ctx,
    round: u64,
    leader: usize,
    follower: usize,
) -> anyhow::Result<()> {
    let note = |what: String| clients.record(&Event::Fault { t: now_ns(), what });
    let api = w.nodes[leader].client();
    let history = ctx.jobs_file.parent().unwrap_or(Path::new("."));
    let (id, attempt) = match round % 3 {
        1 => {
            let mut probe = Probe::new("escape-cancel", round, 10_000);
            probe.escape = true;
            let id = probe_on(w, leader, follower, clients, ctx, &probe).await?;
            wait_escapee(history, id).await?;
            super::admin::cancel(&api, id).await?;
            note(format!("cancel job {id} (its child left its session)"));
            super::admin::wait_job(&api, id, Duration::from_secs(20), |s| s.is_terminal()).await?;
            (id, 0)
        }
        2 => {
            let mut probe = Probe::new("escape-timeout", round, 10_000);
            probe.escape = true;
            probe.timeout_ms = Some(1500);
            let id = probe_on(w, leader, follower, clients, ctx, &probe).await?;
            note(format!(
                "job {id} (its child left its session) times out after 1.5 s"
            ));
            super::admin::wait_job(&api, id, Duration::from_secs(20), |s| s.is_terminal()).await?;
            (id, 0)
        }
        _ => {
            let mut probe = Probe::new("escape-fence", round, 14_000);
            probe.escape = true;
            let id = probe_on(w, leader, follower, clients, ctx, &probe).await?;
            wait_escapee(history, id).await?;
            note(format!(
                "SIGSTOP node {follower} (job {id} there; its child left its session)"
            ));
            w.nodes[follower].signal(libc::SIGSTOP);
            tokio::time::sleep(Duration::from_millis(9000 + rng.below(2000))).await;
            w.nodes[follower].signal(libc::SIGCONT);
            note(format!("SIGCONT node {follower}"));
            // The job must have moved on: lost attempt, re-run elsewhere.
            super::admin::wait_job(&api, id, Duration::from_secs(20), |s| {
                s != JobState::Running || s.is_terminal()
            })
            .await
            .ok();
            // Only the fenced attempt's child: a re-run's may rightly be alive.
            (id, 1)
        }
    };
    check_dead(history, id, attempt, clients).await
}

/// Waits until job `id`'s escaped child has said where it is.
async fn wait_escapee(history: &Path, id: u64) -> anyhow::Result<()> {
    for _ in 0..100 {
        if !escapees(history, id, 0)?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("job {id} ran but its escaping child never started")
}

/// Pids of job `id`'s escaped children (of attempt `attempt`, or any if 0).
fn escapees(history: &Path, id: u64, attempt: u32) -> anyhow::Result<Vec<i32>> {
    Ok(super::history::read(history)?
        .iter()
        .filter_map(|e| match e {
            Event::Escapee {
                pid,
                job,
                attempt: a,
                ..
            } if *job == id && (attempt == 0 || *a == attempt) => Some(*pid),
            _ => None,
        })
        .collect())
}

/// After [`DIE_WITHIN`], job `id`'s escaped children (of `attempt`, or all if 0)
/// must be gone; one alive is a violation, and is killed.
async fn check_dead(
    history: &Path,
    id: u64,
    attempt: u32,
    clients: &Recorder,
) -> anyhow::Result<()> {
    tokio::time::sleep(DIE_WITHIN).await;
    for pid in escapees(history, id, attempt)? {
        if escapee_alive(pid) {
            let what = format!(
                "job {id}'s escaped child {pid} still runs {} s after its attempt ended",
                DIE_WITHIN.as_secs()
            );
            eprintln!("escape: violation: {what}");
            clients.record(&Event::Violation { t: now_ns(), what });
            crate::signal::send(pid, libc::SIGKILL);
        }
    }
    Ok(())
}

/// At the end of the run: every escaped child still alive is a violation (its job
/// is over by now), and is killed.
pub fn sweep(history: &Path, clients: &Recorder) -> anyhow::Result<usize> {
    let mut found = 0;
    for e in super::history::read(history)? {
        if let Event::Escapee { pid, job, .. } = e {
            if escapee_alive(pid) {
                found += 1;
                clients.record(&Event::Violation {
                    t: now_ns(),
                    what: format!("job {job}'s escaped child {pid} outlived the run"),
                });
                crate::signal::send(pid, libc::SIGKILL);
            }
        }
    }
    Ok(found)
}

//! Starting jobs through supervisor processes and talking to them from the node.
//!
//! [`Supervisors::launch`] hands a [`LaunchSpec`] to an idle supervisor (starting one
//! when none is idle) and returns a [`JobControl`] for renewals and kills. A task reads
//! the supervisor's reports, tells the worker when the process started and sends one
//! [`Finished`] when the attempt ends, whatever the reason. A supervisor runs one job at a time; once its attempt
//! has finished and the worker lets go of the control, it goes back to the idle list
//! for the next job (at most one idle supervisor per slot), so a job costs one
//! process start, not two.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use shoal_raft_store::StartNotice;
use shoal_types::{AttemptOutcome, FailReason, FencingToken, JobId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use shoal_supervisor::protocol::{LaunchSpec, Report, FENCE, KILL, RENEW};

/// How to start a supervisor: `shoal-supervisor`, or `shoal __supervise` when the
/// small binary is not installed next to `shoal`.
#[derive(Debug, Clone)]
pub struct SupervisorCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl SupervisorCommand {
    /// `shoal-supervisor` next to `shoal_exe` if it exists, else `shoal_exe __supervise`.
    pub fn beside(shoal_exe: &Path) -> SupervisorCommand {
        let small = shoal_exe.with_file_name("shoal-supervisor");
        if small.is_file() {
            SupervisorCommand {
                program: small,
                args: Vec::new(),
            }
        } else {
            SupervisorCommand {
                program: shoal_exe.to_path_buf(),
                args: vec!["__supervise".into()],
            }
        }
    }
}

/// What a supervisor's reports tell the worker loop.
#[derive(Debug)]
pub enum SupervisorEvent {
    /// The job's process started.
    Started(StartNotice),
    /// The attempt ended (whatever the reason); the last event of an attempt.
    Finished(Finished),
}

/// An attempt ended; sent to the worker loop.
#[derive(Debug)]
pub struct Finished {
    pub job: JobId,
    pub token: FencingToken,
    pub outcome: AttemptOutcome,
}

/// The node's end of a supervisor's control pipe. Dropping it while the attempt runs
/// closes the pipe, which makes the supervisor kill the job; dropping it after the
/// attempt's result arrived puts the supervisor on the idle list at once, ready for
/// the job the worker starts next.
pub struct JobControl {
    stdin: Option<ChildStdin>,
    /// The rest of the supervisor, left here by the report reader once the result
    /// arrived (before the worker hears of it).
    ended: Arc<Mutex<Option<Ended>>>,
    pool: Supervisors,
}

/// A supervisor whose attempt has finished, without its stdin.
struct Ended {
    child: Child,
    reports: Lines<BufReader<ChildStdout>>,
}

impl Drop for JobControl {
    fn drop(&mut self) {
        let Some(stdin) = self.stdin.take() else {
            return;
        };
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Ended { child, reports }) = ended {
            self.pool.keep(Idle {
                child,
                stdin,
                reports,
            });
        }
        // Otherwise `stdin` is dropped here: the pipe closes and the job is killed.
    }
}

impl JobControl {
    /// Pushes the supervisor's lease deadline forward.
    pub async fn renew(&mut self) -> std::io::Result<()> {
        self.send(RENEW).await
    }

    /// Asks the supervisor to kill the job's process group (SIGTERM, grace, SIGKILL).
    pub async fn kill(&mut self) -> std::io::Result<()> {
        self.send(KILL).await
    }

    /// Asks the supervisor to SIGKILL the group now: the lease cannot be trusted.
    pub async fn fence(&mut self) -> std::io::Result<()> {
        self.send(FENCE).await
    }

    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(std::io::Error::other("supervisor pipe closed"));
        };
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await
    }
}

/// A supervisor process waiting for its next job.
struct Idle {
    child: Child,
    stdin: ChildStdin,
    reports: Lines<BufReader<ChildStdout>>,
}

/// The supervisors of this node: how to start one, and those idle between jobs.
#[derive(Clone)]
pub struct Supervisors {
    command: SupervisorCommand,
    idle: Arc<Mutex<Vec<Idle>>>,
    keep_idle: usize,
}

impl Supervisors {
    /// At most `keep_idle` supervisors wait between jobs (one per slot is enough).
    pub fn new(command: SupervisorCommand, keep_idle: usize) -> Supervisors {
        Supervisors {
            command,
            idle: Arc::new(Mutex::new(Vec::new())),
            keep_idle,
        }
    }

    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut s) = idle.pop() {
            if matches!(s.child.try_wait(), Ok(None)) {
                return Some(s);
            }
        }
        None
    }

    fn spawn(&self) -> std::io::Result<Idle> {
        let mut child = Command::new(&self.command.program)
            .args(&self.command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C meant for the node must not kill
            // supervisors before they can clean up their jobs.
            .process_group(0)
            .kill_on_drop(false)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("supervisor pipes missing"));
        };
        Ok(Idle {
            child,
            stdin,
            reports: BufReader::new(stdout).lines(),
        })
    }

    /// Starts one attempt. Its start and its outcome arrive later on `events`.
    pub async fn launch(
        &self,
        spec: &LaunchSpec,
        job: JobId,
        token: FencingToken,
        events: mpsc::Sender<SupervisorEvent>,
    ) -> std::io::Result<JobControl> {
        let mut line = serde_json::to_string(spec).map_err(std::io::Error::other)?;
        line.push('\n');
        // An idle supervisor may have died since (killed by hand): then a fresh one.
        let mut reused = self.take_idle();
        if let Some(s) = reused.as_mut() {
            if write_line(&mut s.stdin, &line).await.is_err() {
                reused = None;
            }
        }
        let sup = match reused {
            Some(s) => s,
            None => {
                let mut s = self.spawn()?;
                write_line(&mut s.stdin, &line).await?;
                s
            }
        };
        let Idle {
            mut child,
            stdin,
            mut reports,
        } = sup;
        let ended = Arc::new(Mutex::new(None));
        let park = ended.clone();
        tokio::spawn(async move {
            let mut outcome = None;
            while let Ok(Some(l)) = reports.next_line().await {
                match serde_json::from_str::<Report>(&l) {
                    Ok(Report::Started { pid, at_ms }) => {
                        debug!(job = %job, pid, "job started");
                        let notice = StartNotice { job, token, at_ms };
                        let _ = events.send(SupervisorEvent::Started(notice)).await;
                    }
                    Ok(Report::Finished {
                        outcome: mut o,
                        lease_lapsed,
                    }) => {
                        if lease_lapsed {
                            // Fenced, not failed: the job goes back to the queue (if
                            // this lease is still the current one at all).
                            warn!(job = %job, "supervisor killed the job: lease lapsed");
                            o.error = Some(FailReason::Lost);
                        }
                        outcome = Some(o);
                        break;
                    }
                    Err(e) => warn!(job = %job, error = %e, "unreadable supervisor report"),
                }
            }
            let outcome = match outcome {
                // Parked before the worker hears of the result, so the worker's drop
                // of the control finds it.
                Some(o) => {
                    *park.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Ended { child, reports });
                    o
                }
                None => {
                    let status = child.wait().await;
                    AttemptOutcome {
                        error: Some(FailReason::SpawnFailed(format!(
                            "supervisor ended without a result ({status:?})"
                        ))),
                        ..Default::default()
                    }
                }
            };
            let _ = events
                .send(SupervisorEvent::Finished(Finished {
                    job,
                    token,
                    outcome,
                }))
                .await;
        });
        Ok(JobControl {
            stdin: Some(stdin),
            ended,
            pool: self.clone(),
        })
    }

    /// Puts a supervisor back on the idle list, or lets it exit when enough wait.
    fn keep(&self, sup: Idle) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep_idle {
            idle.push(sup);
        }
        // Else dropped: its stdin closes, it exits, and tokio reaps it.
    }
}

async fn write_line(stdin: &mut ChildStdin, line: &str) -> std::io::Result<()> {
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await
}

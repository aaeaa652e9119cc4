//! Starting a job's supervisor process and talking to it from the node.
//!
//! [`launch`] spawns the supervisor, hands it the [`LaunchSpec`], and returns a
//! [`JobControl`] for renewals and kills. A task reads the supervisor's reports and
//! sends one [`Finished`] to the worker when the attempt ends, whatever the reason.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use shoal_types::{AttemptOutcome, FailReason, FencingToken, JobId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, Command};
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

/// An attempt ended; sent to the worker loop.
#[derive(Debug)]
pub struct Finished {
    pub job: JobId,
    pub token: FencingToken,
    pub outcome: AttemptOutcome,
}

/// The node's end of a supervisor's control pipe. Dropping it closes the pipe, which
/// makes the supervisor kill the job.
pub struct JobControl {
    stdin: ChildStdin,
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
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await
    }
}

/// Starts the supervisor for one attempt. The outcome arrives later on `done`.
pub async fn launch(
    supervisor: &SupervisorCommand,
    spec: &LaunchSpec,
    job: JobId,
    token: FencingToken,
    done: mpsc::Sender<Finished>,
) -> std::io::Result<JobControl> {
    let mut child = Command::new(&supervisor.program)
        .args(&supervisor.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group: a Ctrl-C meant for the node must not kill supervisors
        // before they can clean up their jobs.
        .process_group(0)
        .kill_on_drop(false)
        .spawn()?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("supervisor pipes missing"));
    };
    let mut line = serde_json::to_string(spec).map_err(std::io::Error::other)?;
    line.push('\n');
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await?;

    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut outcome = None;
        while let Ok(Some(l)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&l) {
                Ok(Report::Started { pid }) => debug!(job = %job, pid, "job started"),
                Ok(Report::Finished {
                    outcome: mut o,
                    lease_lapsed,
                }) => {
                    if lease_lapsed {
                        // Fenced, not failed: the job goes back to the queue (if this
                        // lease is still the current one at all).
                        warn!(job = %job, "supervisor killed the job: lease lapsed");
                        o.error = Some(FailReason::Lost);
                    }
                    outcome = Some(o);
                }
                Err(e) => warn!(job = %job, error = %e, "unreadable supervisor report"),
            }
        }
        let status = child.wait().await;
        let outcome = outcome.unwrap_or_else(|| AttemptOutcome {
            error: Some(FailReason::SpawnFailed(format!(
                "supervisor ended without a result ({status:?})"
            ))),
            ..Default::default()
        });
        let _ = done
            .send(Finished {
                job,
                token,
                outcome,
            })
            .await;
    });
    Ok(JobControl { stdin })
}

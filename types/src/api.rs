//! Bodies of the node's HTTP/JSON API (served on `$SHOAL_HOME/shoal.sock`).
//!
//! Routes (all JSON):
//! - `POST /v1/jobs` [`SubmitRequest`] -> [`SubmitResponse`] after commit
//! - `GET /v1/jobs?state=S` -> `[JobStatus]`; `GET /v1/jobs/{id}` -> [`JobStatus`]
//! - `GET /v1/jobs/{id}/wait?timeout_ms=N` -> [`JobStatus`] once terminal or at timeout
//! - `GET /v1/jobs/{id}/logs?stream=stdout|stderr` -> raw bytes
//! - `POST /v1/cancel` [`CancelRequest`] -> [`CancelResponse`]
//! - `POST /v1/release` [`ReleaseRequest`] -> [`ReleaseResponse`]
//! - `POST /v1/drain` [`DrainRequest`] -> [`DrainResponse`]
//! - `POST /v1/nodes/remove` [`RemoveNodeRequest`] -> [`RemoveNodeResponse`]
//! - `GET /v1/cluster` -> [`ClusterStatus`]; `GET /v1/nodes` -> `[NodeStatus]`
//!
//! Errors come back with a non-2xx status and an [`ApiError`] body.

use serde::{Deserialize, Serialize};

use crate::time::rfc3339_ms;
use crate::{FailReason, JobId, JobRecord, JobSpec, JobState, OutputSummary, TypesError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub spec: JobSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The job's id; for a job array, the id of task 0 (task `i` has id `id + i`).
    pub id: JobId,
    /// For a job array: how many tasks it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// True when the spec's dedup key was used before by this same job: no new job
    /// was made and `id` is the first submit's.
    #[serde(default)]
    pub duplicate: bool,
}

/// One attempt, as scripts see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptStatus {
    pub n: u32,
    pub node: String,
    /// When the node was handed the job.
    #[serde(default)]
    pub leased_at: Option<String>,
    /// When its process started; `None` while it waits on its node (`leased`).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub fail_reason: Option<String>,
    pub wall_ms: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub max_rss_kb: Option<u64>,
    /// Size, head and tail of the attempt's stdout (once it finished).
    #[serde(default)]
    pub stdout: Option<OutputSummary>,
    #[serde(default)]
    pub stderr: Option<OutputSummary>,
}

/// A job, as `shoal status --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: JobId,
    pub name: Option<String>,
    pub state: JobState,
    pub queue: String,
    pub priority: i32,
    /// Exit code of the last attempt (128+signal if it was killed by one).
    pub exit_code: Option<i32>,
    /// Node of the last attempt.
    pub node: Option<String>,
    pub submitted_at: String,
    /// When the last attempt's process started (not set while `leased`).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub command: String,
    pub attempts: Vec<AttemptStatus>,
    /// For a task of a job array: its `SHOAL_ARRAY_INDEX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_index: Option<u32>,
    /// For a task of a job array: how many tasks the array has (the first task's id
    /// is `id - array_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_size: Option<u32>,
    /// The attempt time limit (`submit --timeout`), if any.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl JobStatus {
    /// The API view of a stored record.
    pub fn from_record(r: &JobRecord) -> Result<JobStatus, TypesError> {
        let spec = r.spec()?;
        let last = r.last_attempt();
        Ok(JobStatus {
            id: r.id,
            name: spec.name.clone(),
            state: r.state,
            queue: spec.queue.clone(),
            priority: spec.priority,
            exit_code: last.and_then(|a| shell_exit_code(a.exit_code, a.signal)),
            node: last.map(|a| a.node.to_string()),
            submitted_at: rfc3339_ms(r.submitted_at_ms),
            started_at: last.and_then(|a| a.started_at_ms).map(rfc3339_ms),
            ended_at: r.ended_at_ms.map(rfc3339_ms),
            command: match &spec.command {
                crate::JobCommand::Argv(v) => v.join(" "),
                crate::JobCommand::Shell(s) => s.clone(),
            },
            attempts: r
                .attempts
                .iter()
                .map(|a| AttemptStatus {
                    n: a.n,
                    node: a.node.to_string(),
                    leased_at: (a.leased_at_ms > 0).then(|| rfc3339_ms(a.leased_at_ms)),
                    started_at: a.started_at_ms.map(rfc3339_ms),
                    ended_at: a.ended_at_ms.map(rfc3339_ms),
                    exit_code: a.exit_code,
                    signal: a.signal,
                    fail_reason: a.fail_reason.as_ref().map(FailReason::to_string),
                    wall_ms: a.wall_ms,
                    cpu_ms: a.cpu_ms,
                    max_rss_kb: a.max_rss_kb,
                    stdout: a.stdout.clone(),
                    stderr: a.stderr.clone(),
                })
                .collect(),
            array_index: r.array_index,
            array_size: r.array_index.and(spec.array),
            timeout_ms: spec.timeout_ms,
        })
    }
}

/// The code a shell reports: the exit code, or 128 + the signal number.
pub fn shell_exit_code(exit_code: Option<i32>, signal: Option<i32>) -> Option<i32> {
    match (exit_code, signal) {
        (Some(c), _) => Some(c),
        (None, Some(s)) => Some(128 + s),
        (None, None) => None,
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    pub state: Option<JobState>,
    /// At most this many jobs, newest first (default 1000).
    pub limit: Option<usize>,
    /// Read through the leader: see every write committed before the call.
    #[serde(default)]
    pub consistent: Option<bool>,
}

/// `GET /v1/jobs/{id}` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadQuery {
    /// Read through the leader: see every write committed before the call.
    #[serde(default)]
    pub consistent: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitQuery {
    /// Give up after this long and return the current status (default 30 s).
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogsQuery {
    pub stream: Option<LogStream>,
    /// Start this many bytes into the output (for following a running job).
    #[serde(default)]
    pub offset: Option<u64>,
    /// Which attempt [default: the last].
    #[serde(default)]
    pub attempt: Option<u32>,
}

/// `POST /v1/drain`: a node stops (or resumes) taking new work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainRequest {
    /// The node's id (16 hex digits, as `shoal nodes` shows it); absent: the node
    /// that serves the request.
    #[serde(default)]
    pub node: Option<String>,
    pub drained: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainResponse {
    pub node: String,
    pub drained: bool,
    /// False if it already was in that state.
    pub changed: bool,
}

/// `POST /v1/nodes/remove`: take a node out of the cluster for good.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveNodeRequest {
    /// The node's id (16 hex digits, as `shoal nodes` shows it).
    pub node: String,
    /// Remove it even though it is alive (it stops getting work and its joins are
    /// refused; stop it too).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveNodeResponse {
    pub node: String,
    /// False if it had been removed already.
    pub changed: bool,
    /// It is no longer in the membership (false: the leader has not taken it out
    /// yet; it will).
    pub out_of_membership: bool,
}

/// `POST /v1/release`: held jobs to make runnable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub ids: Vec<JobId>,
    /// An id that is the first task of a job array stands for all its tasks.
    #[serde(default)]
    pub whole_arrays: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Was held; now queued in its place (priority, then submit order).
    Released,
    /// Not held (queued, running or finished); nothing changed.
    NotHeld,
    NotFound,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseResult {
    pub id: JobId,
    pub outcome: ReleaseOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseResponse {
    pub results: Vec<ReleaseResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelRequest {
    pub ids: Vec<JobId>,
    /// An id that is the first task of a job array stands for all its tasks.
    #[serde(default)]
    pub whole_arrays: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// Was queued; will never run.
    Cancelled,
    /// Was running; its process group is being killed.
    Killed,
    AlreadyFinished,
    NotFound,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelResult {
    pub id: JobId,
    pub outcome: CancelOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelResponse {
    pub results: Vec<CancelResult>,
}

/// The default of [`WriteQuery::commit_timeout_ms`].
pub const DEFAULT_COMMIT_TIMEOUT_MS: u64 = 15_000;
/// The largest commit timeout a write may ask for.
pub const MAX_COMMIT_TIMEOUT_MS: u64 = 600_000;

/// The query of every write route (`POST /v1/jobs`, `/v1/cancel`, `/v1/release`,
/// `/v1/drain`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteQuery {
    /// Answer `not_committed` if the write has not committed after this long
    /// (default [`DEFAULT_COMMIT_TIMEOUT_MS`], at most [`MAX_COMMIT_TIMEOUT_MS`]).
    /// Such a write may still be committed later, when a quorum answers.
    pub commit_timeout_ms: Option<u64>,
}

impl WriteQuery {
    /// How long the write may wait for its commit.
    pub fn commit_timeout(&self) -> std::time::Duration {
        let ms = self
            .commit_timeout_ms
            .unwrap_or(DEFAULT_COMMIT_TIMEOUT_MS)
            .clamp(1, MAX_COMMIT_TIMEOUT_MS);
        std::time::Duration::from_millis(ms)
    }
}

/// `shoal cluster --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: String,
    pub cluster_id: String,
    pub leader: Option<String>,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub term: u64,
    pub last_applied: Option<u64>,
    /// On the leader, the highest log index a majority of voters holds; elsewhere
    /// the highest applied index (a lower bound of the cluster's commit index).
    #[serde(default)]
    pub commit_index: Option<u64>,
    /// The last index in this node's log.
    #[serde(default)]
    pub last_log_index: Option<u64>,
    /// Where this node listens for other nodes (libp2p addresses, real ports).
    #[serde(default)]
    pub listen: Vec<String>,
    /// This node's counters since it started.
    #[serde(default)]
    pub counters: NodeCounters,
}

/// What happened at this node since it started (`shoal cluster --json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeCounters {
    /// Peers whose certificate checked out at hello.
    pub peers_admitted: u64,
    /// Peers refused at hello (no, bad or foreign certificate).
    pub peers_refused: u64,
    /// This worker's completions the leader refused as stale (its lease had been
    /// judged lapsed and the job re-queued).
    pub completions_refused: u64,
}

/// One row of `shoal nodes --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    pub addrs: Vec<String>,
    /// leader, follower, learner (raft), or none (not a member yet).
    pub raft_role: String,
    /// An advert arrived within the last few seconds (always true for this node).
    pub alive: bool,
    pub slots: u32,
    pub slots_free: u32,
    #[serde(default)]
    pub cpus: u32,
    #[serde(default)]
    pub memory_mb: u64,
    #[serde(default)]
    pub load1: f64,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub version: String,
    /// Takes no new work (`shoal drain`).
    #[serde(default)]
    pub drained: bool,
    /// Takes no new work until disk space is freed: the home's file system has less
    /// free than the node's `disk_reserve`.
    #[serde(default)]
    pub disk_low: bool,
    /// How the node contains its jobs: `cgroup-v2` or `cgroup-v1` (a cgroup per
    /// attempt), or `subreaper` (no cgroup could be made; the supervisor kills every
    /// descendant). Empty if not known yet.
    #[serde(default)]
    pub containment: String,
    /// How long ago the answering node last heard this node's advert; `None` if it
    /// has not heard one since it started (see `listening_ms`).
    #[serde(default)]
    pub last_seen_ms_ago: Option<u64>,
    /// How long the answering node has been listening for adverts: a node never
    /// heard from has been gone at least this long.
    #[serde(default)]
    pub listening_ms: u64,
}

impl NodeStatus {
    /// How long the node has been silent, if it is not alive: `(duration, at_least)`,
    /// `at_least` when it has not been heard since the answering node started.
    pub fn gone_for_ms(&self) -> Option<(u64, bool)> {
        if self.alive {
            return None;
        }
        Some(match self.last_seen_ms_ago {
            Some(ms) => (ms, false),
            None => (self.listening_ms, true),
        })
    }
}

/// Machine-readable error kinds of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    TooLarge,
    Unavailable,
    /// A write was not committed within its commit timeout; it may still be later.
    NotCommitted,
    /// A job's output is kept on another node, which could not serve it (the job's
    /// record keeps the first and last KiB of a finished attempt).
    OutputElsewhere,
    Internal,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

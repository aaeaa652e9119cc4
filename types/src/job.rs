//! Job specs (what to run), job states and the record the state machine keeps for
//! each job, including one [`Attempt`] per execution.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{FencingToken, JobId, NodeId, TypesError};

/// Largest accepted job spec, serialized as JSON (1 MiB).
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// Most tasks one job array may have (`JobSpec::array`).
pub const MAX_ARRAY_TASKS: u32 = 100_000;
/// How many times a job may be lost (its node died, hung or lost its lease while it
/// ran) before it fails with `lost too often` instead of walking the fleet; a job
/// sets its own with `max_lost` (1..=[`MAX_MAX_LOST`]).
pub const DEFAULT_MAX_LOST: u32 = 3;
pub const MAX_MAX_LOST: u32 = 100;
/// Queue every job lands in unless the submitter names another.
pub const DEFAULT_QUEUE: &str = "default";

/// What to execute: an argv run directly, or one string run by `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobCommand {
    Argv(Vec<String>),
    Shell(String),
}

/// Everything a submitter says about a job. Validated by [`JobSpec::validate`] before
/// it is signed; the worker validates again before it executes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub command: JobCommand,
    /// Absolute working directory.
    pub cwd: String,
    /// Extra environment, in order; keys match `[A-Za-z_][A-Za-z0-9_]*`.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Higher runs first; FIFO among equals.
    #[serde(default)]
    pub priority: i32,
    /// Per-attempt time limit; the job's process group gets SIGTERM, then SIGKILL.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Submit held: the job waits in `held` until released (`shoal release`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// Idempotency key: a second submit with a key already used (from any node, any
    /// client, any time) makes no new job and returns the first one's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// A job array: this one signed spec makes `N` tasks with consecutive job ids,
    /// each run with `SHOAL_ARRAY_INDEX` = 0..N-1 (1 ≤ N ≤ [`MAX_ARRAY_TASKS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<u32>,
    /// Fail the job once this many of its attempts were lost (default
    /// [`DEFAULT_MAX_LOST`]); attempts handed back by an orderly stop do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lost: Option<u32>,
}

fn default_queue() -> String {
    DEFAULT_QUEUE.to_string()
}

impl JobSpec {
    /// The fields in which `other` differs from this spec, by their flag names; the
    /// dedup key itself is not compared. Empty: the same job.
    pub fn differences(&self, other: &JobSpec) -> Vec<&'static str> {
        let mut d = Vec::new();
        let mut check = |same: bool, name: &'static str| {
            if !same {
                d.push(name);
            }
        };
        check(self.command == other.command, "command");
        check(self.cwd == other.cwd, "working directory");
        check(self.env == other.env, "env");
        check(self.name == other.name, "name");
        check(self.queue == other.queue, "queue");
        check(self.priority == other.priority, "priority");
        check(self.timeout_ms == other.timeout_ms, "timeout");
        check(self.hold == other.hold, "hold");
        check(self.array == other.array, "array");
        check(self.max_lost == other.max_lost, "max-lost");
        d
    }

    /// A spec running `argv` in `cwd` with every other field at its default.
    pub fn argv(argv: Vec<String>, cwd: impl Into<String>) -> JobSpec {
        JobSpec {
            command: JobCommand::Argv(argv),
            cwd: cwd.into(),
            env: Vec::new(),
            name: None,
            queue: default_queue(),
            priority: 0,
            timeout_ms: None,
            hold: false,
            dedup_key: None,
            array: None,
            max_lost: None,
        }
    }

    /// Checks every field; the error names the first problem found.
    pub fn validate(&self) -> Result<(), TypesError> {
        let bad = |reason: String| Err(TypesError::BadSpec { reason });
        match &self.command {
            JobCommand::Argv(argv) if argv.is_empty() => return bad("no command given".into()),
            JobCommand::Argv(argv) if argv[0].is_empty() => {
                return bad("the command name is empty".into())
            }
            JobCommand::Shell(s) if s.trim().is_empty() => {
                return bad("the shell command is empty".into())
            }
            _ => {}
        }
        let has_nul = match &self.command {
            JobCommand::Argv(argv) => argv.iter().any(|a| a.contains('\0')),
            JobCommand::Shell(s) => s.contains('\0'),
        };
        if has_nul {
            return bad("the command contains a NUL byte".into());
        }
        if !self.cwd.starts_with('/') || self.cwd.contains('\0') {
            return bad(format!(
                "working directory {:?} is not an absolute path",
                self.cwd
            ));
        }
        for (k, v) in &self.env {
            if !valid_env_key(k) {
                return bad(format!(
                    "environment key {k:?} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)"
                ));
            }
            if v.contains('\0') {
                return bad(format!("environment value of {k} contains a NUL byte"));
            }
        }
        if self.queue.is_empty()
            || self.queue.len() > 64
            || !self
                .queue
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(format!(
                "queue name {:?} must be 1-64 characters of [A-Za-z0-9._-]",
                self.queue
            ));
        }
        if let Some(name) = &self.name {
            if name.len() > 256 || name.chars().any(|c| c.is_control()) {
                return bad("job name must be at most 256 printable characters".into());
            }
        }
        if let Some(k) = &self.dedup_key {
            if k.is_empty() || k.len() > 256 || k.chars().any(|c| c.is_control()) {
                return bad("dedup key must be 1-256 printable characters".into());
            }
        }
        if let Some(n) = self.array {
            if n == 0 || n > MAX_ARRAY_TASKS {
                return bad(format!(
                    "array size {n} must be between 1 and {MAX_ARRAY_TASKS}"
                ));
            }
        }
        if let Some(n) = self.max_lost {
            if n == 0 || n > MAX_MAX_LOST {
                return bad(format!("max-lost {n} must be between 1 and {MAX_MAX_LOST}"));
            }
        }
        if self.timeout_ms == Some(0) {
            return bad("timeout must be greater than zero".into());
        }
        let size = serde_json::to_vec(self)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_SPEC_BYTES {
            return Err(TypesError::SpecTooLarge {
                size,
                limit: MAX_SPEC_BYTES,
            });
        }
        Ok(())
    }
}

/// True for environment variable names a shell would accept.
pub fn valid_env_key(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a job is in its life. Every transition is a raft log entry.
///
/// `Leased` is a job handed to a node whose process has not started yet (it waits for
/// a slot, or the node's start notice is on its way); `Running` once it started.
/// `Pending` (dependencies, not-before) and `Expired` are reserved so the encoding
/// does not change when they arrive.
///
/// The discriminants are [`JobState::code`], the first byte of raft-store's `by_state`
/// keys on disk: never renumber or reuse one (a test pins them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum JobState {
    Pending = 0,
    Queued = 1,
    Leased = 2,
    Running = 3,
    Succeeded = 4,
    Failed = 5,
    Cancelled = 6,
    Expired = 7,
    Held = 8,
}

impl JobState {
    pub const ALL: [JobState; 9] = [
        JobState::Pending,
        JobState::Queued,
        JobState::Leased,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Expired,
        JobState::Held,
    ];

    /// A terminal state never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled | JobState::Expired
        )
    }

    /// Handed to a node under a lease, started or not: its attempt is open.
    pub fn on_node(self) -> bool {
        matches!(self, JobState::Leased | JobState::Running)
    }

    /// A one-byte code, stable on disk (used in index keys).
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Queued => "queued",
            JobState::Leased => "leased",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Expired => "expired",
            JobState::Held => "held",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| TypesError::BadState {
                input: s.to_string(),
                expected:
                    "pending, queued, leased, running, succeeded, failed, cancelled, expired, held",
            })
    }
}

/// Why an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The process exited with a non-zero code.
    ExitCode,
    /// The process was killed by a signal it did not expect.
    Signaled,
    /// The attempt ran past its timeout and was killed.
    TimedOut,
    /// The worker went away (crash, restart, lapsed lease); the job was re-queued.
    Lost,
    /// Its node was stopped in order (SIGTERM) before the attempt finished: the job
    /// was handed back to the queue. Not the job's fault, and not a lost attempt.
    Stopped,
    /// Lost, for the `max_lost`-th time: the job failed rather than walk the fleet
    /// (a job that kills or hangs every node it lands on).
    LostTooOften,
    /// The job was cancelled while this attempt ran.
    Cancelled,
    /// The worker could not start the process (missing program, bad cwd, ...).
    SpawnFailed(String),
    /// The worker refused to run it: the envelope did not verify.
    Rejected(String),
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::ExitCode => f.write_str("exit code"),
            FailReason::Signaled => f.write_str("signaled"),
            FailReason::TimedOut => f.write_str("timed out"),
            FailReason::Lost => f.write_str("lost"),
            FailReason::Stopped => f.write_str("node stopped"),
            FailReason::LostTooOften => f.write_str("lost too often"),
            FailReason::Cancelled => f.write_str("cancelled"),
            FailReason::SpawnFailed(why) => write!(f, "spawn failed: {why}"),
            FailReason::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

/// The size, beginning and end of one output stream of an attempt. Committed with
/// the completion, so a job's record shows something even when the node that holds
/// the full output is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSummary {
    pub bytes: u64,
    /// The first bytes (up to [`OutputSummary::KEEP`]), as UTF-8 (lossy).
    pub head: String,
    /// The last bytes (up to [`OutputSummary::KEEP`]) when there was more than the
    /// head; empty otherwise.
    pub tail: String,
}

impl OutputSummary {
    /// Bytes kept at each end.
    pub const KEEP: usize = 1024;
}

/// What the worker measured for one finished attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Set when the process could not be started or was refused.
    pub error: Option<FailReason>,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    pub max_rss_kb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<OutputSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<OutputSummary>,
    /// When the process started (the executing node's clock, ms since the epoch);
    /// `None` if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
}

impl AttemptOutcome {
    /// The attempt ended for reasons that are not the job's: it goes back to the
    /// queue in its old place.
    pub fn requeues(&self) -> bool {
        matches!(self.error, Some(FailReason::Lost | FailReason::Stopped))
    }

    /// Success means: started, exited by itself with code 0, in time.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && !self.timed_out
            && self.signal.is_none()
            && self.exit_code == Some(0)
    }

    /// The reason to record when the attempt did not succeed.
    pub fn fail_reason(&self) -> Option<FailReason> {
        if let Some(e) = &self.error {
            Some(e.clone())
        } else if self.timed_out {
            Some(FailReason::TimedOut)
        } else if self.signal.is_some() {
            Some(FailReason::Signaled)
        } else if self.exit_code != Some(0) {
            Some(FailReason::ExitCode)
        } else {
            None
        }
    }
}

/// One execution of a job on one node, under one lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub n: u32,
    pub node: NodeId,
    /// The fencing token of the lease this attempt runs under.
    pub token: FencingToken,
    /// When the lease was granted (the leader's clock).
    #[serde(default)]
    pub leased_at_ms: u64,
    /// When the process started (the executing node's clock); `None` while the job
    /// waits on its node, and for an attempt that never started. Records written
    /// before leases and starts were told apart hold the lease time here.
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub fail_reason: Option<FailReason>,
    pub wall_ms: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub max_rss_kb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<OutputSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<OutputSummary>,
}

/// What the state machine stores per job. The spec is kept inside the signed
/// envelope only, so the bytes a worker verifies are the bytes that were submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    /// Empty in the stored form of an array task (see [`JobRecord::array_index`]);
    /// always filled in the records the store hands out.
    #[serde(default, skip_serializing_if = "crate::SignedEnvelope::is_empty")]
    pub envelope: crate::SignedEnvelope,
    pub submitter: NodeId,
    pub submitted_at_ms: u64,
    pub state: JobState,
    /// Set when the job reached a terminal state.
    pub ended_at_ms: Option<u64>,
    pub attempts: Vec<Attempt>,
    /// For a task of a job array: its index (0-based). The array's first task has id
    /// `id - index`; the store keeps the shared envelope once, under that id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_index: Option<u32>,
}

impl JobRecord {
    /// The spec inside the envelope. The envelope was verified before it was
    /// committed, so this only fails on a corrupted record.
    pub fn spec(&self) -> Result<JobSpec, TypesError> {
        self.envelope.body().map(|b| b.spec)
    }

    pub fn last_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// How many of its attempts were lost (not those an orderly stop handed back).
    pub fn lost_attempts(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| {
                matches!(
                    a.fail_reason,
                    Some(FailReason::Lost | FailReason::LostTooOften)
                )
            })
            .count() as u32
    }

    /// The state after its open attempt ended for reasons that are not the job's
    /// (`reason`: lost or stopped, already recorded on the attempt): back to the queue,
    /// or `Failed` once it has been lost `max_lost` times (the attempt then reads
    /// `LostTooOften`).
    pub fn after_lost_attempt(&mut self) -> JobState {
        let max = self
            .spec()
            .ok()
            .and_then(|s| s.max_lost)
            .unwrap_or(DEFAULT_MAX_LOST);
        let lost_now = self
            .last_attempt()
            .is_some_and(|a| a.fail_reason == Some(FailReason::Lost));
        if lost_now && self.lost_attempts() >= max {
            if let Some(a) = self.attempts.last_mut() {
                a.fail_reason = Some(FailReason::LostTooOften);
            }
            JobState::Failed
        } else {
            JobState::Queued
        }
    }

    /// The id of the first task of this record's array (the key of its envelope).
    pub fn array_first(&self) -> Option<JobId> {
        self.array_index
            .map(|i| JobId(self.id.0.saturating_sub(u64::from(i))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec::argv(vec!["echo".into(), "hi".into()], "/tmp")
    }

    #[test]
    fn differences_name_each_changed_field_but_not_the_dedup_key() {
        let a = spec();
        let mut b = spec();
        b.dedup_key = Some("k".into());
        assert!(a.differences(&b).is_empty());
        b.command = JobCommand::Shell("echo".into());
        b.priority = 3;
        b.array = Some(2);
        assert_eq!(a.differences(&b), ["command", "priority", "array"]);
    }

    #[test]
    fn validate_accepts_a_plain_spec() {
        assert_eq!(spec().validate(), Ok(()));
    }

    #[test]
    fn validate_names_each_problem() {
        let mut s = spec();
        s.command = JobCommand::Argv(vec![]);
        assert!(s.validate().unwrap_err().to_string().contains("no command"));
        let mut s = spec();
        s.env.push(("A;touch /tmp/x".into(), "1".into()));
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("environment key"));
        let mut s = spec();
        s.cwd = "relative".into();
        assert!(s.validate().unwrap_err().to_string().contains("absolute"));
        let mut s = spec();
        s.queue = "a b".into();
        assert!(s.validate().unwrap_err().to_string().contains("queue name"));
        let mut s = spec();
        s.array = Some(0);
        assert!(s.validate().unwrap_err().to_string().contains("array size"));
        s.array = Some(MAX_ARRAY_TASKS + 1);
        assert!(s.validate().unwrap_err().to_string().contains("array size"));
        s.array = Some(MAX_ARRAY_TASKS);
        assert_eq!(s.validate(), Ok(()));
        let mut s = spec();
        s.command = JobCommand::Shell("x".repeat(MAX_SPEC_BYTES + 1));
        assert!(matches!(s.validate(), Err(TypesError::SpecTooLarge { .. })));
    }

    #[test]
    fn state_parses_and_knows_terminal() {
        assert_eq!("Running".parse::<JobState>().unwrap(), JobState::Running);
        assert!("bogus".parse::<JobState>().is_err());
        assert!(JobState::Cancelled.is_terminal());
        assert!(!JobState::Queued.is_terminal());
        let codes: std::collections::HashSet<u8> = JobState::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes.len(), JobState::ALL.len());
    }

    /// The codes are on disk (raft-store's `by_state` keys): a reordered or renumbered
    /// variant would misfile every stored job, so each one is pinned here.
    #[test]
    fn state_codes_are_pinned() {
        // Exhaustive: a new state does not compile until its code is pinned here.
        let pinned = |state: JobState| match state {
            JobState::Pending => 0,
            JobState::Queued => 1,
            JobState::Leased => 2,
            JobState::Running => 3,
            JobState::Succeeded => 4,
            JobState::Failed => 5,
            JobState::Cancelled => 6,
            JobState::Expired => 7,
            JobState::Held => 8,
        };
        for state in JobState::ALL {
            assert_eq!(state.code(), pinned(state), "{state}");
        }
    }

    #[test]
    fn outcome_success_and_reasons() {
        let ok = AttemptOutcome {
            exit_code: Some(0),
            ..Default::default()
        };
        assert!(ok.succeeded());
        assert_eq!(ok.fail_reason(), None);
        let bad = AttemptOutcome {
            exit_code: Some(3),
            ..Default::default()
        };
        assert_eq!(bad.fail_reason(), Some(FailReason::ExitCode));
        let t = AttemptOutcome {
            signal: Some(15),
            timed_out: true,
            ..Default::default()
        };
        assert_eq!(t.fail_reason(), Some(FailReason::TimedOut));
    }
}

//! What the node and a job's supervisor say to each other over the supervisor's
//! stdin (one JSON [`LaunchSpec`] line, then control lines) and stdout (reports).

use serde::{Deserialize, Serialize};
use shoal_types::AttemptOutcome;

/// Everything the supervisor needs to run one attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Program and arguments (a shell job is `/bin/sh -c CMD`).
    pub argv: Vec<String>,
    pub cwd: String,
    /// Added to the supervisor's own environment.
    pub env: Vec<(String, String)>,
    pub stdout_path: String,
    pub stderr_path: String,
    pub timeout_ms: Option<u64>,
    /// Kill the job if no renewal arrives for this long.
    pub lease_ms: u64,
    /// When the node decided to start the job ([`monotonic_ns`]): the first lease
    /// period counts from then, not from when this supervisor got the spec, and a
    /// spec that arrives after that period has passed (the node was stopped between
    /// spawning the supervisor and writing the spec) starts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ns: Option<u64>,
    pub kill_grace_ms: u64,
    /// Bytes each of stdout and stderr may put on disk; past it the file ends with a
    /// marker line and the rest is dropped. `None`: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap: Option<u64>,
    /// Processes the attempt may have at once (its cgroup's `pids.max`), where the
    /// machine has a pids controller. `None`: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_max: Option<u64>,
}

/// A control line from the node.
pub const RENEW: &str = "renew";
/// A control line from the node: the job was cancelled (SIGTERM, grace, SIGKILL).
pub const KILL: &str = "kill";
/// A control line from the node: its lease can no longer be trusted; SIGKILL now.
pub const FENCE: &str = "fence";

/// A line the supervisor prints on its stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// The job's process exists; `at_ms` is the wall clock then (ms since the epoch).
    Started {
        pid: i32,
        #[serde(default)]
        at_ms: u64,
    },
    Finished {
        outcome: AttemptOutcome,
        lease_lapsed: bool,
    },
}

/// The clock of [`LaunchSpec::decided_at_ns`].
pub use shoal_types::time::monotonic_ns;

//! The command line, as clap derives it. Every flag explains itself in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use shoal_types::{JobId, JobState};

use crate::ids::{IdArg, Tasks};

const AFTER_HELP: &str = "\
Exit codes: 0 ok; 1 a job failed or general error; 2 bad command line; 3 unknown job id;
4 no node (no home, or node not running); 5 request refused, or a write not committed
within --commit-timeout (it may still commit later: the message says how to retry
safely); 6 node cannot start (store or home unusable); 7 timed out; 8 node stopped or
cannot start: network or raft failure; 9 `logs`: the output is on a node that cannot be
reached and the job's record keeps only part of it (its first and last KiB, printed).
`submit --wait` exits with the job's own code (128+N if killed by signal N).

Environment: SHOAL_HOME (default ~/.shoal), SHOAL_LOG (log filter, e.g. debug),
SHOAL_COMMIT_TIMEOUT (default 15s); for `node`:
SHOAL_LISTEN, SHOAL_BOOTSTRAP (comma-separated multiaddrs), SHOAL_BUNDLE.";

/// Shoal: a peer-to-peer job scheduler. Every host runs the same binary; submit from
/// any node, jobs are committed through raft before they are acknowledged.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Home directory of the node to use [env: SHOAL_HOME] [default: ~/.shoal]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// How long a write (submit, cancel, release, drain) waits for the cluster to
    /// commit it before giving up with exit 5. A write that timed out may still be
    /// committed later, when a quorum of voters answers; the message says how to
    /// retry safely
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "SHOAL_COMMIT_TIMEOUT",
        default_value = "15s",
        value_parser = shoal_types::duration::parse_ms
    )]
    pub commit_timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a home: a new cluster (keys, certificate, shoal.toml, cluster.bundle),
    /// or with --join a new node of an existing cluster.
    Init(InitArgs),
    /// Run a node in the foreground (initializes a home first if there is none).
    Node(NodeArgs),
    /// Submit a job; prints its id. Use `--` before the command.
    Submit(SubmitArgs),
    /// Show one job.
    Status(StatusArgs),
    /// List jobs, newest first.
    List(ListArgs),
    /// Wait until jobs finish; exit 0 only if all succeeded.
    Wait(WaitArgs),
    /// Print a job's output (stdout by default) from its last attempt.
    Logs(LogsArgs),
    /// Cancel jobs: queued ones never run, running ones are killed.
    Cancel(CancelArgs),
    /// Release held jobs (submitted with --hold) so they can run.
    Release(ReleaseArgs),
    /// Stop a node taking new work; its running jobs finish (default: this node).
    Drain(DrainArgs),
    /// Let a drained node take work again (default: this node).
    Undrain(DrainArgs),
    /// Show raft state: leader, voters, learners, term, last applied index.
    Cluster(JsonArgs),
    /// Show the nodes of the cluster with their raft role and slots.
    Nodes(JsonArgs),
    /// Internal: the per-job supervisor process started by the node.
    #[command(name = "__supervise", hide = true)]
    Supervise,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Join the cluster of this bundle (copied from a node of that cluster) instead
    /// of creating a new cluster. The node certifies its own new key with the bundle's
    /// authority key and never bootstraps a cluster of its own.
    #[arg(long, value_name = "BUNDLE")]
    pub join: Option<PathBuf>,
    /// With --join, for a fleet started all at once with no cluster yet: wait until
    /// N nodes see each other, then the one with the lowest id creates the cluster
    /// with all of them. Use a majority of the fleet or more.
    #[arg(long, value_name = "N", requires = "join")]
    pub expect: Option<u32>,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub action: Option<NodeAction>,
    /// Jobs to run at once on this node [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub slots: Option<u32>,
    /// Listen on this libp2p multiaddr (repeatable; replaces shoal.toml's list)
    /// [default: /ip4/0.0.0.0/tcp/7420]
    #[arg(
        long,
        value_name = "MULTIADDR",
        env = "SHOAL_LISTEN",
        value_delimiter = ','
    )]
    pub listen: Vec<String>,
    /// Tell other nodes to reach this one at this multiaddr instead of the listen
    /// addresses: behind NAT, port forwarding or a proxy (repeatable)
    #[arg(
        long,
        value_name = "MULTIADDR",
        env = "SHOAL_ADVERTISE",
        value_delimiter = ','
    )]
    pub advertise: Vec<String>,
    /// Dial this node of the cluster at start, e.g. /ip4/10.0.0.5/tcp/7420 (repeatable;
    /// added to the bundle's and shoal.toml's)
    #[arg(
        long,
        value_name = "MULTIADDR",
        env = "SHOAL_BOOTSTRAP",
        value_delimiter = ','
    )]
    pub bootstrap: Vec<String>,
    /// Do not look for nodes on the local network with mDNS
    #[arg(long)]
    pub no_mdns: bool,
    /// A label shown in `shoal nodes`, e.g. gpu or zone=eu-1 (repeatable)
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// On SIGTERM, let running jobs finish for this long (e.g. 2m) before stopping
    /// them and handing them back to the queue; a second SIGTERM or SIGINT stops at
    /// once [default: shoal.toml's stop_grace, else 30s]
    #[arg(long, value_name = "DURATION", value_parser = shoal_types::duration::parse_ms)]
    pub stop_grace: Option<u64>,
    /// With no home yet: join the cluster of this bundle instead of creating a new
    /// cluster (what a cloud image carries)
    #[arg(long, value_name = "BUNDLE", env = "SHOAL_BUNDLE")]
    pub bundle: Option<PathBuf>,
    /// Fleet start: with no cluster found, wait for N nodes and let the lowest id
    /// create the cluster (see `shoal init --expect`)
    #[arg(long, value_name = "N", env = "SHOAL_EXPECT")]
    pub expect: Option<u32>,
    /// This home's database is lost or damaged: keep what is left of it in
    /// lost-TIME/, take a new node key certified by the cluster bundle, and join the
    /// running cluster as a new member (give --bootstrap unless mDNS finds it).
    /// Refused while the database is whole
    #[arg(long)]
    pub rejoin: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Run this string with /bin/sh -c instead of a command after `--`
    #[arg(long, value_name = "CMD", conflicts_with = "command")]
    pub shell: Option<String>,
    /// Working directory of the job [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable for the job (repeatable)
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// A name to recognize the job by
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    /// Queue to put the job in
    #[arg(long, short = 'q', default_value = "default")]
    pub queue: String,
    /// Priority: higher runs first, first-in first-out among equals
    #[arg(
        long,
        short = 'p',
        default_value_t = 0,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    pub priority: i32,
    /// Kill an attempt that runs longer than this (e.g. 90s, 5min, 1h30m; a unit is required)
    #[arg(long, value_name = "DURATION", value_parser = shoal_types::duration::parse_ms)]
    pub timeout: Option<u64>,
    /// Keep the job held (not runnable) until `shoal release ID`
    #[arg(long, conflicts_with = "wait")]
    pub hold: bool,
    /// Idempotency key: if a job was already submitted with KEY (by anyone, through
    /// any node), print that job's id instead of making a new one. Safe retries.
    /// Without it, each `shoal submit` makes up a key of its own (auto-…), which a
    /// submit that timed out prints for its retry
    #[arg(long, value_name = "KEY")]
    pub dedup_key: Option<String>,
    /// Submit a job array: N tasks (1-100000) from one signed spec, with consecutive
    /// ids; task i runs with SHOAL_ARRAY_INDEX=i (0-based). Prints every task id, one
    /// per line (--json: {"id": FIRST, "count": N}); --wait waits for all of them
    #[arg(long, value_name = "N")]
    pub array: Option<u32>,
    /// Fail the job once N of its attempts were lost (its node died, hung or was cut
    /// off while it ran) instead of re-running it again: a job that kills its nodes
    /// does not walk the fleet (1-100) [default: 3]
    #[arg(long, value_name = "N")]
    pub max_lost: Option<u32>,
    /// Wait for the job and exit with its exit code
    #[arg(long)]
    pub wait: bool,
    /// Print {"id": N} instead of the bare id
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// How ID arguments read, for every command that takes them.
const IDS_HELP: &str = "\
IDs: 12, a range 12-14, or a list 12,13,20-22. For cancel, release and wait the first
id of a job array (the one `submit --array` prints first) names all its tasks; pick
tasks with --task (cancel, release) or by their own ids.";

#[derive(Debug, Args)]
#[command(after_help = IDS_HELP)]
pub struct StatusArgs {
    /// Jobs to show (several: one block each; --json prints a list)
    #[arg(required = true, value_name = "ID", value_parser = crate::ids::parse_ids)]
    pub ids: Vec<IdArg>,
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
    /// Read through the leader: show every write committed before this call
    /// (default: this node's copy, which may lag by a few milliseconds)
    #[arg(long)]
    pub consistent: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only jobs in this state (queued, running, succeeded, failed, cancelled, ...)
    #[arg(long)]
    pub state: Option<JobState>,
    /// Show at most this many jobs
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
    /// Read through the leader: show every write committed before this call
    /// (default: this node's copy, which may lag by a few milliseconds)
    #[arg(long)]
    pub consistent: bool,
}

#[derive(Debug, Args)]
#[command(after_help = IDS_HELP)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "ID", value_parser = crate::ids::parse_ids)]
    pub ids: Vec<IdArg>,
    /// Give up after this long (exit 7)
    #[arg(long, value_name = "DURATION", value_parser = shoal_types::duration::parse_ms)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub id: JobId,
    /// Print stderr instead of stdout
    #[arg(long)]
    pub stderr: bool,
    /// The output of attempt N (1 is the first run; default: the last attempt)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Keep printing output as it arrives until the job ends (waits for a queued one)
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
#[command(after_help = IDS_HELP)]
pub struct CancelArgs {
    #[arg(required = true, value_name = "ID", value_parser = crate::ids::parse_ids)]
    pub ids: Vec<IdArg>,
    /// Only these tasks of the array named by ID: 3, 0-9 or 0,5,9 (SHOAL_ARRAY_INDEX
    /// values)
    #[arg(long, value_name = "INDEXES", value_parser = crate::ids::parse_tasks)]
    pub task: Option<Tasks>,
}

/// What `shoal node` does besides running a node.
#[derive(Debug, Clone, Subcommand)]
pub enum NodeAction {
    /// Take a dead node out of the cluster for good: it leaves the membership (a
    /// voter is replaced, keeping the voter count odd), gets no more work, and may
    /// never join again under that id (a host that comes back uses `shoal node
    /// --rejoin`, which gives it a new one). Refused for a node that is alive unless
    /// --force, and for the only voter
    Remove(RemoveNodeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RemoveNodeArgs {
    /// The node's id, as `shoal nodes` shows it
    #[arg(value_name = "NODE")]
    pub node: String,
    /// Remove it even though it is alive (stop it too: its joins are refused)
    #[arg(long)]
    pub force: bool,
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node's id, as `shoal nodes` shows it [default: this node]
    #[arg(value_name = "NODE")]
    pub node: Option<String>,
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = IDS_HELP)]
pub struct ReleaseArgs {
    #[arg(required = true, value_name = "ID", value_parser = crate::ids::parse_ids)]
    pub ids: Vec<IdArg>,
    /// Only these tasks of the array named by ID: 3, 0-9 or 0,5,9
    #[arg(long, value_name = "INDEXES", value_parser = crate::ids::parse_tasks)]
    pub task: Option<Tasks>,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

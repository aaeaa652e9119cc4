//! Exit codes of the `shoal` command, documented in `shoal --help`. Scripts can rely
//! on them; `submit --wait` is the exception and exits with the job's own code.

/// Everything asked for worked (for `wait`: every job succeeded).
pub const OK: i32 = 0;
/// A job failed or was cancelled (`wait`), or a general error.
pub const FAILURE: i32 = 1;
/// The command line was wrong (unknown flag, missing command, bad number).
pub const USAGE: i32 = 2;
/// A job id that does not exist.
pub const NOT_FOUND: i32 = 3;
/// No node to talk to: no home (run `shoal init`), or the node is not running.
pub const NO_NODE: i32 = 4;
/// The node refused the request (invalid spec, too large, unavailable).
pub const REFUSED: i32 = 5;
/// The node cannot start: its database or home is unusable (nothing was changed).
pub const STORE: i32 = 6;
/// `wait` or `submit --wait` ran past `--timeout`.
pub const TIMEOUT: i32 = 7;
/// The node stopped or could not start because of its network (no listen address could
/// be bound, the swarm failed) or of raft (it could not start or initialize).
pub const NETWORK: i32 = 8;
/// `logs`: the output is kept on a node that cannot be reached (or cannot read it),
/// and the job's record keeps only part of it (the first and last KiB, printed
/// instead) or none (the attempt has not ended).
pub const OUTPUT_ELSEWHERE: i32 = 9;

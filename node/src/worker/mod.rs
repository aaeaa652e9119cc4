//! The node's worker: leases jobs through raft, runs each under its own supervisor
//! process, renews their deadlines, kills cancelled ones, and commits completions (kept
//! in an on-disk outbox until committed). `decide` holds the rules as a pure step;
//! `run` waits for inputs and carries out the step's actions.

pub mod decide;
pub mod launch;
pub mod outbox;
pub mod run;
pub mod verified;

pub use run::{StopSignals, Worker};

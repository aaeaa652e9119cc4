//! The Shoal node runtime: where the raft store and the network meet.
//!
//! `node` wires a home directory, the RocksDB-backed raft, the worker that runs jobs
//! and the HTTP API together; the home directory itself is `shoal-home`'s. The
//! `shoal-node` binary is a thin layer over this crate.

pub mod api;
pub mod error;
pub mod net;
pub mod node;
pub mod raft;
pub mod worker;

pub use error::{ApiError, FatalError};
pub use node::{run, start, NodeOptions, RunningNode};
pub use shoal_home::{Home, Overrides};

//! The Shoal node runtime: where the raft store and the network meet.
//!
//! `node` wires a home directory, the RocksDB-backed raft, the worker that runs jobs
//! and the HTTP API together; the home directory itself is `shoal-home`'s. The
//! `shoal-node` binary is a thin layer over this crate. docs/ARCHITECTURE.md has the
//! picture of the modules, who owns what, and where decisions and effects split.

pub mod adverts;
pub mod api;
pub mod disk;
pub mod dispatch;
pub mod error;
pub mod leases;
pub mod membership;
pub mod net;
pub mod node;
pub mod output;
pub mod past;
pub mod raft;
pub mod rejoin;
pub mod status;
pub mod worker;

pub use error::{ApiError, FatalError};
pub use node::{run, start, NodeOptions, RunningNode};
pub use shoal_home::{Home, Overrides};

//! The Shoal node runtime: where the raft store and the network meet.
//!
//! `node` wires a home directory, the RocksDB-backed raft, the worker that runs jobs
//! and the HTTP API together; `init` creates homes. The `shoal` binary is a thin
//! layer over this crate.

pub mod api;
pub mod bundle;
pub mod config;
pub mod error;
pub mod home;
pub mod identity;
pub mod init;
pub mod node;
pub mod raft;
mod secret_file;
pub mod worker;

pub use config::Overrides;
pub use error::{ApiError, FatalError};
pub use home::Home;
pub use init::{init_genesis, InitReport};
pub use node::{run, NodeOptions};

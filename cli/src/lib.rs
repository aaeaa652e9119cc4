//! The `shoal` command line, shared by its two binaries:
//!
//! - `shoal` (src/main.rs): the client commands and `init`. It links no RocksDB, so a
//!   `shoal submit` process starts in about a millisecond.
//! - `shoal-node` (src/bin/shoal-node.rs): the node runtime; `shoal node` execs it.
//!
//! Both parse the same [`args::Cli`], so `shoal --help` documents everything.

pub mod args;
mod client;
mod commands;
pub mod entry;
pub mod error;
pub mod ids;
mod output;

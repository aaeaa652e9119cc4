//! The per-job supervisor (`shoal-supervisor`) and the protocol the node speaks to it.
//!
//! A crate of its own, with no RocksDB or async runtime, so the process started for
//! every job is small: it starts in about 2 ms where the full `shoal` binary needs
//! about 7 ms (RocksDB's static initializers), and that is on every job's start path.

pub mod cgroup;
pub mod output;
pub mod protocol;
pub mod run;
pub mod spawn;
pub mod spawner;
mod threads;
pub mod tree;

pub use run::main;

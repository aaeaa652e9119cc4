//! A node's home directory (`$SHOAL_HOME`): its layout, `shoal.toml`, the cluster
//! bundle, the node's keys and certificate, and `shoal init`, which creates it all.
//!
//! Kept apart from the node runtime so the `shoal` client binary can find a home and
//! run `init` without linking RocksDB (whose static initialisers cost milliseconds at
//! every process start).

pub mod bundle;
pub mod config;
pub mod error;
pub mod home;
pub mod identity;
pub mod init;
pub mod past;
pub mod rejoin;
mod secret_file;

pub use config::{NodeConfig, Overrides};
pub use error::HomeError;
pub use home::Home;
pub use identity::Identity;
pub use init::{init_genesis, init_join, InitReport};

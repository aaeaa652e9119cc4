//! What can be wrong with a home directory: missing, already there, unreadable,
//! badly configured, or holding keys that do not belong together.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("no Shoal home at {path}: run `shoal init` (or `shoal node`, which initializes one)")]
    NoHome { path: PathBuf },
    #[error("{path} already holds a Shoal home ({what} exists); nothing was changed. Use another --home, or remove it by hand to start over")]
    HomeExists { path: PathBuf, what: String },
    #[error("cannot use {path}: {detail}")]
    HomeIo { path: PathBuf, detail: String },
    #[error("bad configuration in {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error("bad key or certificate in {path}: {detail}")]
    Identity { path: PathBuf, detail: String },
}

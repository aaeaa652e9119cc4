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
    #[error(
        "refusing to start: the database {} is missing or empty, but this home was a member \
         of cluster {cluster} as node {node} and had stored its log up to index {index} or \
         more. Starting with an empty log could lose jobs this node acknowledged, or start a \
         second cluster; nothing was changed. If the disk is only missing (a volume not \
         mounted, a restore pending), put it back and start again. If it is gone for good, \
         make this host a new member of the running cluster: `shoal node --home {} --rejoin` \
         (add --bootstrap ADDR of a live node unless mDNS finds one; the old node id {node} \
         stays a dead member until the cluster replaces it or `shoal node remove {node}`). If \
         this was the cluster's only node, its jobs are gone with the disk",
        db.display(), home.display()
    )]
    LostDatabase {
        db: PathBuf,
        home: PathBuf,
        cluster: String,
        node: String,
        index: u64,
    },
}

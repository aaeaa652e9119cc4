//! The layout of a node's home directory (`$SHOAL_HOME`, default `~/.shoal`).
//!
//! Owns path names only; creating the files is `init`'s job, reading them is
//! `identity`'s and `config`'s.

use std::path::{Path, PathBuf};

use shoal_types::JobId;

/// Paths inside one home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// `--home`, else `$SHOAL_HOME`, else `~/.shoal`.
    pub fn resolve(flag: Option<&Path>) -> Home {
        if let Some(p) = flag {
            return Home::new(p);
        }
        if let Some(p) = std::env::var_os("SHOAL_HOME").filter(|p| !p.is_empty()) {
            return Home::new(PathBuf::from(p));
        }
        let base = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        Home::new(base.join(".shoal"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `shoal.toml`: the node's settings and public cluster facts.
    pub fn config(&self) -> PathBuf {
        self.root.join("shoal.toml")
    }
    /// What another host needs to join (contains the authority key in simple mode).
    pub fn bundle(&self) -> PathBuf {
        self.root.join("cluster.bundle")
    }
    /// Secrets, mode 0700; every file in it 0600.
    pub fn private_dir(&self) -> PathBuf {
        self.root.join("private")
    }
    pub fn node_key(&self) -> PathBuf {
        self.private_dir().join("node.key")
    }
    pub fn authority_key(&self) -> PathBuf {
        self.private_dir().join("authority.key")
    }
    pub fn certificate(&self) -> PathBuf {
        self.root.join("node.cert")
    }
    /// The RocksDB directory (raft log + state machine).
    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }
    /// The API's Unix socket, mode 0600.
    pub fn socket(&self) -> PathBuf {
        self.root.join("shoal.sock")
    }
    /// Output of every attempt this node ran, one directory per job.
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }
    /// Directory of one job's output files. Derived from the id only, never from
    /// anything the submitter chose.
    pub fn job_dir(&self, id: JobId) -> PathBuf {
        self.jobs_dir().join(id.0.to_string())
    }
    /// `stdout` or `stderr` file of one attempt.
    pub fn output_file(&self, id: JobId, attempt: u32, stream: &str) -> PathBuf {
        self.job_dir(id).join(format!("{attempt}.{stream}"))
    }
    /// Finished attempts not yet committed (JSON lines).
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox.jsonl")
    }
    /// True when `shoal init` has run here.
    pub fn exists(&self) -> bool {
        self.config().exists()
    }
}

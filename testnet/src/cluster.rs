//! Starting and stopping `shoal node` processes in temporary homes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use shoal_client::Client;
use shoal_types::api::ClusterStatus;

/// One node process and its home.
pub struct LocalNode {
    pub home: PathBuf,
    pub shoal: PathBuf,
    child: Child,
}

impl LocalNode {
    /// Starts `shoal node` on a fresh home under `dir` and waits until it leads.
    pub async fn start(shoal: &Path, dir: &Path, slots: u32) -> anyhow::Result<LocalNode> {
        let home = dir.join("home");
        let log = std::fs::File::create(dir.join("node.log"))?;
        let child = Command::new(shoal)
            .args(["node", "--home"])
            .arg(&home)
            .args(["--slots", &slots.to_string()])
            .env("SHOAL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", shoal.display()))?;
        let node = LocalNode {
            home,
            shoal: shoal.to_path_buf(),
            child,
        };
        node.wait_leader().await?;
        Ok(node)
    }

    pub fn client(&self) -> Client {
        Client::new(self.home.join("shoal.sock"))
    }

    async fn wait_leader(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(c) = self.client().get::<ClusterStatus>("/v1/cluster").await {
                if c.leader.as_deref() == Some(c.node_id.as_str()) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "node at {} did not become leader within 60 s",
                    self.home.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and wait.
    pub fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

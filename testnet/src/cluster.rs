//! Starting and stopping `shoal node` processes in temporary homes, alone or as a
//! cluster on 127.0.0.1.

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
    dir: PathBuf,
    slots: u32,
    args: Vec<String>,
    child: Option<Child>,
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl LocalNode {
    /// Starts `shoal node` on a fresh home under `dir` and waits until it leads.
    pub async fn start(shoal: &Path, dir: &Path, slots: u32) -> anyhow::Result<LocalNode> {
        let args = vec![
            "--no-mdns".to_string(),
            "--listen".into(),
            format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
        ];
        let node = LocalNode::spawn(shoal, dir, slots, args)?;
        node.wait_leader().await?;
        Ok(node)
    }

    /// Starts `shoal node` with `args` on the home under `dir`, without waiting.
    pub fn spawn(
        shoal: &Path,
        dir: &Path,
        slots: u32,
        args: Vec<String>,
    ) -> anyhow::Result<LocalNode> {
        let mut node = LocalNode {
            home: dir.join("home"),
            shoal: shoal.to_path_buf(),
            dir: dir.to_path_buf(),
            slots,
            args,
            child: None,
        };
        node.restart()?;
        Ok(node)
    }

    /// Starts the process again on the same home (after `kill9`).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))?;
        let child = Command::new(&self.shoal)
            .args(["node", "--home"])
            .arg(&self.home)
            .args(["--slots", &self.slots.to_string()])
            .args(&self.args)
            .env("SHOAL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", self.shoal.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The multiaddr this node was told to listen on.
    pub fn listen_addr(&self) -> Option<String> {
        let i = self.args.iter().position(|a| a == "--listen")?;
        self.args.get(i + 1).cloned()
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// SIGKILL to the node process only (its supervisors live in their own groups).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the process to exit (a clean stop).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid, sig) };
        }
    }

    pub async fn status(&self) -> anyhow::Result<ClusterStatus> {
        Ok(self.client().get::<ClusterStatus>("/v1/cluster").await?)
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
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for LocalNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

/// `n` nodes on 127.0.0.1: the first creates the cluster, the others join with its
/// bundle; returns once all are voters (up to 5) and agree on a leader.
pub async fn local_cluster(
    shoal: &Path,
    dir: &Path,
    n: usize,
    slots: u32,
) -> anyhow::Result<Vec<LocalNode>> {
    let port0 = free_port()?;
    let mut nodes = Vec::with_capacity(n);
    let d0 = dir.join("n0");
    std::fs::create_dir_all(&d0)?;
    let first = LocalNode::spawn(
        shoal,
        &d0,
        slots,
        vec![
            "--no-mdns".into(),
            "--listen".into(),
            format!("/ip4/127.0.0.1/tcp/{port0}"),
        ],
    )?;
    first.wait_leader().await?;
    let bundle = first.home.join("cluster.bundle");
    nodes.push(first);
    for i in 1..n {
        let d = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&d)?;
        let out = Command::new(shoal)
            .args(["init", "--home"])
            .arg(d.join("home"))
            .arg("--join")
            .arg(&bundle)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init --join failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        nodes.push(LocalNode::spawn(
            shoal,
            &d,
            slots,
            vec![
                "--no-mdns".into(),
                "--listen".into(),
                format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
                "--bootstrap".into(),
                format!("/ip4/127.0.0.1/tcp/{port0}"),
            ],
        )?);
    }
    wait_converged(&nodes, n.min(5)).await?;
    Ok(nodes)
}

/// Waits until every running node reports `voters` voters and the same leader.
pub async fn wait_converged(nodes: &[LocalNode], voters: usize) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut leaders = Vec::new();
        let mut ok = true;
        for n in nodes.iter().filter(|n| n.pid().is_some()) {
            match n.status().await {
                Ok(c) if c.voters.len() == voters && c.leader.is_some() => leaders.push(c.leader),
                _ => ok = false,
            }
        }
        if ok && !leaders.is_empty() && leaders.iter().all(|l| *l == leaders[0]) {
            return Ok(leaders[0].clone().unwrap_or_default());
        }
        if Instant::now() > deadline {
            bail!("cluster did not converge within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

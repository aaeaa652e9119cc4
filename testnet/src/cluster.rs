//! Starting and stopping `shoal node` processes in temporary homes, alone or as a
//! cluster (on 127.0.0.1, or on the places a [`crate::net::Net`] gives).

use std::os::fd::RawFd;
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
    /// The network namespace the process starts in (netns mode).
    netns: Option<PathBuf>,
    /// Extra environment (e.g. libfaketime for clock skew).
    env: Vec<(String, String)>,
    /// `cgroup.procs` files (open) the process writes itself into before exec: the
    /// node's own cgroup, which the freeze fault freezes with everything under it.
    cgroup_procs: Vec<RawFd>,
    child: Option<Child>,
}

/// Where and how one node of [`cluster_on`] runs.
pub struct NodeSpec {
    /// Holds `node.log`.
    pub dir: PathBuf,
    pub home: PathBuf,
    pub place: crate::net::Place,
    pub env: Vec<(String, String)>,
    /// See [`LocalNode`]'s field: descriptors that outlive the node.
    pub cgroup_procs: Vec<RawFd>,
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
        LocalNode::start_with_env(shoal, dir, slots, Vec::new()).await
    }

    /// [`LocalNode::start`] with extra environment for the node.
    pub async fn start_with_env(
        shoal: &Path,
        dir: &Path,
        slots: u32,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<LocalNode> {
        let args = vec![
            "--no-mdns".to_string(),
            "--listen".into(),
            format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
        ];
        let mut node = LocalNode::unstarted(shoal, dir, slots, args);
        node.env = env;
        node.restart()?;
        node.wait_leader().await?;
        Ok(node)
    }

    fn unstarted(shoal: &Path, dir: &Path, slots: u32, args: Vec<String>) -> LocalNode {
        LocalNode {
            home: dir.join("home"),
            shoal: shoal.to_path_buf(),
            dir: dir.to_path_buf(),
            slots,
            args,
            netns: None,
            env: Vec::new(),
            cgroup_procs: Vec::new(),
            child: None,
        }
    }

    /// Starts the process again on the same home (after `kill9`).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.restart_with(&[])
    }

    /// Starts the process again with `extra` arguments for this start only (e.g.
    /// `--rejoin`).
    pub fn restart_with(&mut self, extra: &[String]) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))?;
        let (mut cmd, _ns) = self.command(extra)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.shoal.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts the process on the same home expecting it to refuse: its exit status
    /// and stderr, or `None` (and the process killed) if it still runs after
    /// `within`.
    pub fn expect_refusal(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<Option<(std::process::ExitStatus, String)>> {
        let err = self.dir.join("refusal.log");
        let (mut cmd, _ns) = self.command(&[])?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err)?)
            .spawn()
            .with_context(|| format!("cannot start {}", self.shoal.display()))?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some((status, std::fs::read_to_string(&err)?)));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The node's command line, and the namespace it enters (to be kept open until
    /// the spawn).
    fn command(
        &self,
        extra: &[String],
    ) -> anyhow::Result<(Command, Option<crate::net::enter::NetNs>)> {
        let mut cmd = Command::new(&self.shoal);
        cmd.args(["node", "--home"])
            .arg(&self.home)
            .args(["--slots", &self.slots.to_string()])
            // A SIGTERM (rolling restarts, the end of a run) lets jobs finish this
            // long, then hands them back: short, so a run's stops stay quick.
            .args(["--stop-grace", "2s"])
            .args(&self.args)
            .args(extra)
            .env("SHOAL_LOG", "warn")
            // May override SHOAL_LOG.
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        let ns = match &self.netns {
            Some(p) => {
                let ns = crate::net::enter::NetNs::open(p)
                    .with_context(|| format!("cannot open namespace {}", p.display()))?;
                ns.apply(&mut cmd);
                Some(ns)
            }
            None => None,
        };
        if !self.cgroup_procs.is_empty() {
            let fds = self.cgroup_procs.clone();
            // SAFETY: between fork and exec only write(2) on descriptors this
            // process holds open, from memory allocated before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    for fd in &fds {
                        if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        Ok((cmd, ns))
    }

    /// Whether the process has exited on its own (reaps it if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
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
            crate::signal::send(c.id() as i32, libc::SIGTERM);
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            crate::signal::send(pid, sig);
        }
    }

    pub async fn status(&self) -> anyhow::Result<ClusterStatus> {
        Ok(self.client().get::<ClusterStatus>("/v1/cluster").await?)
    }

    pub fn client(&self) -> Client {
        Client::new(self.home.join("shoal.sock"))
    }

    async fn wait_leader(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "the node at {} exited ({status}) before it led; see {}",
                    self.home.display(),
                    self.dir.join("node.log").display()
                );
            }
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

    /// Leaves the process running when this handle goes away; its pid.
    pub fn detach(mut self) -> i32 {
        self.child.take().map_or(0, |c| c.id() as i32)
    }

    /// SIGTERM and wait.
    pub fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            crate::signal::send(c.id() as i32, libc::SIGCONT);
            crate::signal::send(c.id() as i32, libc::SIGTERM);
            let _ = c.wait();
        }
    }
}

impl Drop for LocalNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A stopped process would never act on the SIGTERM.
            crate::signal::send(c.id() as i32, libc::SIGCONT);
            crate::signal::send(c.id() as i32, libc::SIGTERM);
            let _ = c.wait();
        }
    }
}

/// `n` nodes on 127.0.0.1 (see [`cluster_on`]).
pub async fn local_cluster(
    shoal: &Path,
    dir: &Path,
    n: usize,
    slots: u32,
) -> anyhow::Result<Vec<LocalNode>> {
    let mut specs = Vec::with_capacity(n);
    for i in 0..n {
        let d = dir.join(format!("n{i}"));
        specs.push(NodeSpec {
            home: d.join("home"),
            dir: d,
            place: crate::net::Place {
                ip: std::net::Ipv4Addr::LOCALHOST,
                port: free_port()?,
                netns: None,
                proxy_port: None,
            },
            env: Vec::new(),
            cgroup_procs: Vec::new(),
        });
    }
    cluster_on(shoal, specs, slots).await
}

/// Nodes at the given places: the first creates the cluster, the others join with
/// its bundle and bootstrap from it; returns once the voters are in place
/// ([`expected_voters`]) and all agree
/// on a leader.
pub async fn cluster_on(
    shoal: &Path,
    specs: Vec<NodeSpec>,
    slots: u32,
) -> anyhow::Result<Vec<LocalNode>> {
    let mut nodes: Vec<LocalNode> = Vec::with_capacity(specs.len());
    let first = specs.first().context("no nodes")?.place.reachable();
    let n = specs.len();
    for (i, spec) in specs.into_iter().enumerate() {
        let node = if i == 0 {
            let mut node = start_node(shoal, spec, slots, None)?;
            node.wait_leader().await?;
            node
        } else {
            let bundle = nodes[0].home.join("cluster.bundle");
            start_node(shoal, spec, slots, Some((&bundle, &first)))?
        };
        nodes.push(node);
    }
    wait_converged(&nodes, expected_voters(n)).await?;
    Ok(nodes)
}

/// Starts one node at its place: a new cluster, or (`join`: a bundle and a member's
/// address) `init --join` then a node that bootstraps from that member. Does not
/// wait for it.
pub fn start_node(
    shoal: &Path,
    spec: NodeSpec,
    slots: u32,
    join: Option<(&Path, &str)>,
) -> anyhow::Result<LocalNode> {
    std::fs::create_dir_all(&spec.dir)?;
    let mut args = vec![
        "--no-mdns".to_string(),
        "--listen".into(),
        spec.place.listen(),
    ];
    if spec.place.proxy_port.is_some() {
        args.extend(["--advertise".into(), spec.place.reachable()]);
    }
    if let Some((bundle, via)) = join {
        let out = Command::new(shoal)
            .args(["init", "--home"])
            .arg(&spec.home)
            .arg("--join")
            .arg(bundle)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init --join failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        args.extend(["--bootstrap".into(), via.to_string()]);
    }
    let mut node = LocalNode {
        home: spec.home,
        shoal: shoal.to_path_buf(),
        dir: spec.dir,
        slots,
        args,
        netns: spec.place.netns,
        env: spec.env,
        cgroup_procs: spec.cgroup_procs,
        child: None,
    };
    node.restart()?;
    Ok(node)
}

/// How many voters a cluster of `nodes` healthy nodes settles on: always odd (1
/// for 1–2 nodes, 3 for 3–4, 5 from 5), as the leader's autopilot keeps it.
pub fn expected_voters(nodes: usize) -> usize {
    match nodes {
        0..=2 => 1,
        3..=4 => 3,
        _ => 5,
    }
}

/// Waits until every running node reports `voters` voters, the same voters and the
/// same leader.
pub async fn wait_converged(nodes: &[LocalNode], voters: usize) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut views = Vec::new();
        let mut ok = true;
        for n in nodes.iter().filter(|n| n.pid().is_some()) {
            match n.status().await {
                Ok(mut c) if c.voters.len() == voters && c.leader.is_some() => {
                    c.voters.sort();
                    views.push((c.leader, c.voters));
                }
                _ => ok = false,
            }
        }
        if ok && !views.is_empty() && views.iter().all(|v| *v == views[0]) {
            return Ok(views[0].0.clone().unwrap_or_default());
        }
        if Instant::now() > deadline {
            bail!("cluster did not converge within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! `shoal-testnet up | status | down`: a local cluster that outlives the command that
//! started it, for trying Shoal (and, soon, for chaos runs).
//!
//! Loopback mode puts node `i` on `127.0.0.(i+1)`, port `7420+i`, with its home under
//! `DIR/n<i>`; what `up` started is written to `DIR/testnet.json`, which `status` and
//! `down` read. Network-namespace mode (`--netns`) is not built yet.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use shoal_client::Client;
use shoal_types::api::ClusterStatus;

/// Where `up` puts the cluster unless told otherwise.
pub const DEFAULT_DIR: &str = "/tmp/shoal-testnet";
const STATE: &str = "testnet.json";
const PORT: u16 = 7420;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub nodes: u32,
    /// Nodes on 127.0.0.x addresses (no root needed) [default]
    #[arg(long, conflicts_with = "netns")]
    pub loopback: bool,
    /// Each node in its own network namespace on a bridge (root) — not built yet
    #[arg(long)]
    pub netns: bool,
    /// Where the homes, logs and state file go
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Job slots per node
    #[arg(long, default_value_t = 2)]
    pub slots: u32,
    /// Node i listens on port PORT+i
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
    /// The shoal binary [default: `shoal` next to this executable]
    #[arg(long, value_name = "PATH")]
    pub shoal: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The directory `up` used
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
}

/// What `up` started.
#[derive(Debug, Serialize, Deserialize)]
pub struct LabState {
    pub mode: String,
    pub nodes: Vec<LabNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabNode {
    pub index: usize,
    pub home: PathBuf,
    pub pid: i32,
    pub listen: String,
}

impl LabNode {
    pub fn client(&self) -> Client {
        Client::new(self.home.join("shoal.sock"))
    }
    pub fn alive(&self) -> bool {
        unsafe { libc::kill(self.pid, 0) == 0 }
    }
}

pub fn sibling_shoal() -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name("shoal");
    anyhow::ensure!(
        p.exists(),
        "no shoal binary at {}; build it or pass --shoal",
        p.display()
    );
    Ok(p)
}

pub fn load(dir: &Path) -> anyhow::Result<LabState> {
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no testnet in {} (start one with `shoal-testnet up N`)",
            dir.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a testnet state file", path.display()))
}

fn spawn(
    shoal: &Path,
    home: &Path,
    log: &Path,
    slots: u32,
    args: &[String],
) -> anyhow::Result<i32> {
    let log = std::fs::File::create(log)?;
    let child = Command::new(shoal)
        .args(["node", "--home"])
        .arg(home)
        .args(["--slots", &slots.to_string()])
        .args(args)
        .env("SHOAL_LOG", "info,openraft=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own session: the node outlives this command and its terminal.
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", shoal.display()))?;
    Ok(child.id() as i32)
}

use std::os::unix::process::CommandExt;

/// Starts `N` nodes and waits until they form one cluster.
pub async fn up(a: UpArgs) -> anyhow::Result<()> {
    if a.netns {
        bail!("--netns is not built yet; use --loopback (the default for now)");
    }
    if a.dir.join(STATE).exists() {
        bail!(
            "a testnet is already up in {} (`shoal-testnet down --dir {}` first)",
            a.dir.display(),
            a.dir.display()
        );
    }
    let shoal = match &a.shoal {
        Some(p) => p.clone(),
        None => sibling_shoal()?,
    };
    std::fs::create_dir_all(&a.dir)?;
    let n = a.nodes as usize;
    // Distinct ports too: with the same port on every 127.0.0.x address, dials went
    // astray (the dialer's socket shares the listen port) and noise failed.
    let base = a.port;
    let addr = |i: usize| format!("/ip4/127.0.0.{}/tcp/{}", i + 1, base + i as u16);
    let mut nodes = Vec::with_capacity(n);
    let home0 = a.dir.join("n0");
    let init = Command::new(&shoal)
        .args(["init", "--home"])
        .arg(&home0)
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "shoal init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let bundle = home0.join("cluster.bundle");
    for i in 0..n {
        let home = a.dir.join(format!("n{i}"));
        let mut args = vec!["--no-mdns".to_string(), "--listen".into(), addr(i)];
        if i > 0 {
            let out = Command::new(&shoal)
                .args(["init", "--home"])
                .arg(&home)
                .arg("--join")
                .arg(&bundle)
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "init --join: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            args.extend(["--bootstrap".into(), addr(0)]);
        }
        let pid = spawn(
            &shoal,
            &home,
            &a.dir.join(format!("n{i}.log")),
            a.slots,
            &args,
        )?;
        nodes.push(LabNode {
            index: i,
            home,
            pid,
            listen: addr(i),
        });
    }
    let state = LabState {
        mode: "loopback".into(),
        nodes,
    };
    std::fs::write(a.dir.join(STATE), serde_json::to_vec_pretty(&state)?)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut members = 0;
        for node in &state.nodes {
            if let Ok(c) = node.client().get::<ClusterStatus>("/v1/cluster").await {
                if c.leader.is_some()
                    && (c.voters.contains(&c.node_id) || c.learners.contains(&c.node_id))
                {
                    members += 1;
                }
            }
        }
        if members == n {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {members} of {n} nodes joined within 60 s; see the logs in {}",
                a.dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{n} nodes up in {} (loopback); use: shoal --home {}/n0 submit -- CMD",
        a.dir.display(),
        a.dir.display()
    );
    Ok(())
}

/// One line per node: alive, role, leader, term, last applied.
pub async fn status(a: DirArgs) -> anyhow::Result<()> {
    let state = load(&a.dir)?;
    println!(
        "{:<4} {:<7} {:<6} {:<18} {:<9} {:<18} {:>5} {:>8}",
        "NODE", "PID", "ALIVE", "ID", "ROLE", "LEADER", "TERM", "APPLIED"
    );
    for n in &state.nodes {
        let c = if n.alive() {
            n.client().get::<ClusterStatus>("/v1/cluster").await.ok()
        } else {
            None
        };
        let role = c.as_ref().map_or("-", |c| {
            if c.leader.as_deref() == Some(c.node_id.as_str()) {
                "leader"
            } else if c.voters.contains(&c.node_id) {
                "voter"
            } else if c.learners.contains(&c.node_id) {
                "learner"
            } else {
                "none"
            }
        });
        println!(
            "{:<4} {:<7} {:<6} {:<18} {:<9} {:<18} {:>5} {:>8}",
            n.index,
            n.pid,
            if n.alive() { "yes" } else { "no" },
            c.as_ref().map_or("-".into(), |c| c.node_id.clone()),
            role,
            c.as_ref()
                .and_then(|c| c.leader.clone())
                .unwrap_or_else(|| "-".into()),
            c.as_ref().map_or("-".into(), |c| c.term.to_string()),
            c.as_ref()
                .and_then(|c| c.last_applied)
                .map_or("-".into(), |i| i.to_string()),
        );
    }
    Ok(())
}

/// Stops every node (SIGTERM, then SIGKILL after 10 s) and removes the state file.
pub fn down(a: DirArgs) -> anyhow::Result<()> {
    let state = load(&a.dir)?;
    for n in &state.nodes {
        if n.alive() {
            unsafe { libc::kill(n.pid, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.nodes.iter().any(LabNode::alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for n in state.nodes.iter().filter(|n| n.alive()) {
        unsafe { libc::kill(n.pid, libc::SIGKILL) };
    }
    std::fs::remove_file(a.dir.join(STATE))?;
    println!(
        "testnet in {} is down (homes and logs kept there)",
        a.dir.display()
    );
    Ok(())
}

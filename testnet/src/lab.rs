//! `shoal-testnet up | status | down`: a local cluster that outlives the command that
//! started it, for trying Shoal (and, soon, for chaos runs).
//!
//! Loopback mode puts node `i` on `127.0.0.(i+1)`, port `PORT+i`; netns mode puts it
//! in its own network namespace at `10.213.0.(i+1)`, port 7420. Homes go under
//! `DIR/n<i>`; what `up` started (process ids, the namespaces' prefix) is written to
//! `DIR/testnet.json`, which `status` and `down` read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use shoal_client::Client;
use shoal_types::api::ClusterStatus;

use crate::cluster::{cluster_on, NodeSpec};
use crate::net::netns::Namespaces;
use crate::net::{Mode, Net};

/// Where `up` puts the cluster unless told otherwise.
pub const DEFAULT_DIR: &str = "/tmp/shoal-testnet";
const STATE: &str = "testnet.json";
const PORT: u16 = 7420;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub nodes: u32,
    /// Nodes on 127.0.0.x addresses (no root needed) [default when not root]
    #[arg(long, conflicts_with = "netns")]
    pub loopback: bool,
    /// Each node in its own network namespace on a bridge (root) [default as root]
    #[arg(long)]
    pub netns: bool,
    /// Where the homes, logs and state file go
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Job slots per node
    #[arg(long, default_value_t = 2)]
    pub slots: u32,
    /// Node i listens on port PORT+i (loopback mode)
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
    /// Prefix of the network namespaces `down` removes (netns mode).
    #[serde(default)]
    pub netns_prefix: Option<String>,
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
        crate::signal::alive(self.pid)
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

/// Starts `N` nodes and waits until they form one cluster.
pub async fn up(a: UpArgs) -> anyhow::Result<()> {
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
    let mode = Mode::pick(a.netns, a.loopback);
    let net = Net::new(mode, n, false, Some(a.port))?;
    let specs = (0..n)
        .map(|i| {
            let dir = a.dir.join(format!("n{i}"));
            NodeSpec {
                home: dir.join("home"),
                dir,
                place: net.places[i].clone(),
                env: vec![("SHOAL_LOG".into(), "info,openraft=warn".into())],
                cgroup_procs: Vec::new(),
            }
        })
        .collect();
    let nodes = cluster_on(&shoal, specs, a.slots).await.with_context(|| {
        format!(
            "starting the testnet; see the node.log files under {}",
            a.dir.display()
        )
    })?;
    let state = LabState {
        mode: mode.name().into(),
        nodes: nodes
            .into_iter()
            .enumerate()
            .map(|(i, node)| LabNode {
                index: i,
                home: node.home.clone(),
                // The node keeps running after this command.
                pid: node.detach(),
                listen: net.places[i].listen(),
            })
            .collect(),
        netns_prefix: net.keep(),
    };
    std::fs::write(a.dir.join(STATE), serde_json::to_vec_pretty(&state)?)?;
    println!(
        "{n} nodes up in {} ({}); use: shoal --home {}/n0/home submit -- CMD",
        a.dir.display(),
        mode.name(),
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
            crate::signal::send(n.pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.nodes.iter().any(LabNode::alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for n in state.nodes.iter().filter(|n| n.alive()) {
        crate::signal::send(n.pid, libc::SIGKILL);
    }
    if let Some(prefix) = &state.netns_prefix {
        Namespaces::remove_prefix(prefix)?;
    }
    std::fs::remove_file(a.dir.join(STATE))?;
    println!(
        "testnet in {} is down (homes and logs kept there)",
        a.dir.display()
    );
    Ok(())
}

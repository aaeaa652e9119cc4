//! One chaos run's cluster and everything its faults reach: the node processes, the
//! network (namespaces, nftables, proxies), the loop-mounted disks and the clocks.
//! Fields drop in order: nodes stop before their disks and namespaces go away.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};

use super::clock::Clocks;
use super::disk::Disks;
use super::freeze::NodeCgroup;
use crate::cluster::{cluster_on, wait_converged, LocalNode, NodeSpec};
use crate::net::{proxy::Link, Mode, Net};

pub struct World {
    pub nodes: Vec<LocalNode>,
    /// Each node's own cgroup (the freeze scenario), after `nodes`: removed once
    /// the nodes have stopped.
    pub cgroups: Vec<NodeCgroup>,
    pub net: Net,
    pub disks: Option<Disks>,
    pub clocks: Option<Clocks>,
    /// A namespace for the rogue peer (netns mode) and its address.
    pub rogue_at: Option<(PathBuf, Ipv4Addr)>,
    pub bundle: PathBuf,
    /// Where new nodes' directories go.
    pub dir: PathBuf,
    /// The place (index into `net.places`) of each node; one more place is spare in
    /// the membership-churn scenario, for the node that replaces another.
    pub place_of: Vec<usize>,
    pub spare: Option<usize>,
    /// The nodes' API sockets as the workload sees them (see `nodes`).
    pub sockets: Arc<RwLock<Vec<PathBuf>>>,
}

/// What a run's faults need of the world besides the nodes and the network.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Needs {
    /// A proxy in front of every node (slow links).
    pub proxies: bool,
    /// Each node's home on a small loop-mounted disk (disk-full; root).
    pub disks: bool,
    /// Each node's wall clock under libfaketime (clock-skew).
    pub clocks: bool,
    /// Each node in a cgroup of its own (freeze; root).
    pub cgroups: bool,
    /// A namespace for a rogue peer (bad-peer, poison).
    pub rogue: bool,
    /// One spare place for a node that replaces another (membership-churn).
    pub spare: bool,
}

impl Needs {
    /// What scenario `name` needs.
    pub fn of(name: &str) -> Needs {
        Needs {
            proxies: name == "slow-network",
            disks: name == "disk-full",
            clocks: name == "clock-skew",
            cgroups: name == "freeze",
            rogue: name == "bad-peer" || name == "poison",
            spare: name == "membership-churn",
        }
    }

    /// Everything the scenarios in `names` need.
    pub fn all(names: &[&str]) -> Needs {
        names.iter().fold(Needs::default(), |a, n| {
            let b = Needs::of(n);
            Needs {
                proxies: a.proxies || b.proxies,
                disks: a.disks || b.disks,
                clocks: a.clocks || b.clocks,
                cgroups: a.cgroups || b.cgroups,
                rogue: a.rogue || b.rogue,
                spare: a.spare || b.spare,
            }
        })
    }
}

impl World {
    /// Starts `n` nodes under `dir`, with what the faults need.
    pub async fn start(
        shoal: &Path,
        dir: &Path,
        needs: Needs,
        n: usize,
        mode: Mode,
    ) -> anyhow::Result<World> {
        let spare = needs.spare.then_some(n);
        let mut net = Net::new(mode, n + usize::from(needs.spare), needs.proxies, None)?;
        net.start_proxies()?;
        let node_dirs: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("n{i}"))).collect();
        let disks = if needs.disks {
            let mounts: Vec<PathBuf> = node_dirs.iter().map(|d| d.join("disk")).collect();
            Some(Disks::mount(&mounts)?)
        } else {
            None
        };
        let clocks = if needs.clocks {
            Some(Clocks::new(dir, n)?)
        } else {
            None
        };
        let cgroups = if needs.cgroups {
            (0..n)
                .map(NodeCgroup::create)
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let rogue_at = if needs.rogue {
            net.add_host("rogue")?
        } else {
            None
        };
        let specs = node_dirs
            .iter()
            .enumerate()
            .map(|(i, d)| NodeSpec {
                dir: d.clone(),
                home: if disks.is_some() {
                    d.join("disk").join("home")
                } else {
                    d.join("home")
                },
                place: net.places[i].clone(),
                env: clocks.as_ref().map(|c| c.env(i)).unwrap_or_default(),
                cgroup_procs: cgroups.get(i).map(|c| c.join_fds()).unwrap_or_default(),
            })
            .collect();
        let nodes = cluster_on(shoal, specs, 2)
            .await
            .context("starting the cluster")?;
        let bundle = nodes[0].home.join("cluster.bundle");
        let sockets = nodes.iter().map(|n| n.home.join("shoal.sock")).collect();
        Ok(World {
            dir: dir.to_path_buf(),
            place_of: (0..n).collect(),
            spare,
            sockets: Arc::new(RwLock::new(sockets)),
            nodes,
            cgroups,
            net,
            disks,
            clocks,
            rogue_at,
            bundle,
        })
    }

    /// Cuts every link between the nodes `a` and the nodes `b` (node indexes).
    pub fn partition(&mut self, a: &[usize], b: &[usize]) -> anyhow::Result<()> {
        let (a, b) = (self.places(a), self.places(b));
        self.net.partition(&a, &b)
    }

    /// Node `to` stops hearing node `from`.
    pub fn cut(&mut self, from: usize, to: usize) -> anyhow::Result<()> {
        self.net.cut(self.place_of[from], self.place_of[to])
    }

    /// Sets what the proxied link into node `i` does.
    pub fn set_link(&self, i: usize, link: Link) {
        self.net.set_link(self.place_of[i], link);
    }

    /// The address node `i` is dialled at.
    pub fn reachable(&self, i: usize) -> String {
        self.net.places[self.place_of[i]].reachable()
    }

    fn places(&self, nodes: &[usize]) -> Vec<usize> {
        nodes.iter().map(|i| self.place_of[*i]).collect()
    }

    /// Index of the node every running node agrees leads (waits for agreement).
    pub async fn leader_index(&self) -> anyhow::Result<usize> {
        let leader = wait_converged(
            &self.nodes,
            crate::cluster::expected_voters(self.nodes.len()),
        )
        .await?;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.status()
                .await
                .map(|c| c.node_id == leader)
                .unwrap_or(false)
            {
                return Ok(i);
            }
        }
        bail!("no node is the leader")
    }

    /// Starts again every node whose process has exited (what systemd would do);
    /// returns their indexes.
    pub fn revive(&mut self) -> anyhow::Result<Vec<usize>> {
        let mut revived = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.exited().is_some() {
                n.restart()?;
                revived.push(i);
            }
        }
        Ok(revived)
    }

    /// Undoes every fault: partitions, slow links, full disks, skewed clocks,
    /// stopped or exited processes.
    pub fn heal(&mut self) -> anyhow::Result<Vec<usize>> {
        self.net.heal()?;
        self.net.set_links(Link::default());
        if let Some(d) = &self.disks {
            for i in 0..self.nodes.len() {
                d.free(i)?;
            }
        }
        if let Some(c) = &self.clocks {
            for i in 0..self.nodes.len() {
                c.set(i, 0)?;
            }
        }
        for c in &self.cgroups {
            c.freeze(false);
        }
        for n in &self.nodes {
            n.signal(libc::SIGCONT);
        }
        std::thread::sleep(Duration::from_millis(100));
        self.revive()
    }
}

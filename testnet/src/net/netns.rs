//! `--netns` mode: one network namespace per node on a bridge in a namespace of its
//! own, each node with its own address (`10.213.0.<i+1>`) and its own nftables table
//! for faults. Everything is named `st<pid>-…` and only those names are removed.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;

/// The nftables table every node namespace gets (input and output chains).
pub const TABLE: &str = "shoal_testnet";

/// The namespaces of one testnet; removed on drop unless [`Namespaces::keep`].
pub struct Namespaces {
    prefix: String,
    names: Vec<String>,
    nodes: usize,
    next_host: u8,
    keep: bool,
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    crate::cmd::run("ip", args)
}

impl Namespaces {
    /// Creates the bridge and `nodes` node namespaces. Needs root.
    pub fn create(nodes: usize) -> anyhow::Result<Namespaces> {
        anyhow::ensure!(
            super::is_root(),
            "--netns needs root (network namespaces and nftables); use --loopback"
        );
        anyhow::ensure!(nodes <= 150, "--netns supports at most 150 nodes");
        let mut ns = Namespaces {
            prefix: format!("st{}", std::process::id()),
            names: Vec::new(),
            nodes,
            next_host: 200,
            keep: false,
        };
        let sw = ns.switch();
        ip(&["netns", "add", &sw])?;
        ns.names.push(sw.clone());
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..nodes {
            let name = ns.node(i);
            ns.attach(&name, Self::node_ip(i), &format!("p{i}"))?;
            super::nft::run(
                Some(&name),
                &format!(
                    "add table inet {TABLE}\n\
                     add chain inet {TABLE} in {{ type filter hook input priority 0; policy accept; }}\n\
                     add chain inet {TABLE} out {{ type filter hook output priority 0; policy accept; }}\n"
                ),
            )?;
        }
        Ok(ns)
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// The namespace of node `i`.
    pub fn node(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    pub fn node_ip(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, 0, i as u8 + 1)
    }

    pub fn path(name: &str) -> PathBuf {
        PathBuf::from("/run/netns").join(name)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// One more namespace on the bridge (a client or a rogue peer); its name and
    /// address.
    pub fn add_host(&mut self, what: &str) -> anyhow::Result<(String, Ipv4Addr)> {
        let name = format!("{}-{what}", self.prefix);
        let addr = Ipv4Addr::new(10, 213, 0, self.next_host);
        self.next_host = self.next_host.checked_add(1).context("too many hosts")?;
        self.attach(&name, addr, &format!("h{}", addr.octets()[3]))?;
        Ok((name, addr))
    }

    fn attach(&mut self, name: &str, addr: Ipv4Addr, port: &str) -> anyhow::Result<()> {
        let sw = self.switch();
        ip(&["netns", "add", name])?;
        self.names.push(name.to_string());
        ip(&[
            "link", "add", port, "netns", &sw, "type", "veth", "peer", "name", "eth0", "netns",
            name,
        ])?;
        ip(&["-n", &sw, "link", "set", port, "master", "br0"])?;
        ip(&["-n", &sw, "link", "set", port, "up"])?;
        ip(&[
            "-n",
            name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", name, "link", "set", "eth0", "up"])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Leaves the namespaces in place when dropped (`up`; `down` removes them);
    /// returns their prefix.
    pub fn keep(mut self) -> String {
        self.keep = true;
        self.prefix.clone()
    }

    /// Removes every namespace whose name starts with `prefix-`.
    pub fn remove_prefix(prefix: &str) -> anyhow::Result<usize> {
        let mut removed = 0;
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return Ok(0);
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{prefix}-")) {
                ip(&["netns", "del", &name])?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Veth pairs die with their namespaces.
        for name in self.names.iter().rev() {
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("shoal-testnet: {e}");
            }
        }
    }
}

//! Where the testnet's nodes sit on the network, and how network faults reach the
//! wire: loopback (`127.0.0.x`, a port each) or a namespace per node (`--netns`);
//! partitions as nftables rules (root), slow and lossy links through proxies.

pub mod enter;
pub mod netns;
pub mod nft;
pub mod proxy;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;

use crate::cluster::free_port;
use netns::{Namespaces, TABLE};
use proxy::{Link, Proxy};

/// How nodes are placed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Loopback,
    Netns,
}

impl Mode {
    /// `--netns` / `--loopback`, else netns when root.
    pub fn pick(netns: bool, loopback: bool) -> Mode {
        if netns || (!loopback && is_root()) {
            Mode::Netns
        } else {
            Mode::Loopback
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Loopback => "loopback",
            Mode::Netns => "netns",
        }
    }
}

pub fn is_root() -> bool {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// One node's place: its address and port, its namespace, its proxy's port.
#[derive(Debug, Clone)]
pub struct Place {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub netns: Option<PathBuf>,
    pub proxy_port: Option<u16>,
}

impl Place {
    pub fn listen(&self) -> String {
        format!("/ip4/{}/tcp/{}", self.ip, self.port)
    }
    /// What other nodes dial: the proxy when there is one.
    pub fn reachable(&self) -> String {
        format!(
            "/ip4/{}/tcp/{}",
            self.ip,
            self.proxy_port.unwrap_or(self.port)
        )
    }
}

/// The network of one testnet; removes what it made when dropped.
pub struct Net {
    pub places: Vec<Place>,
    ns: Option<Namespaces>,
    proxies: Vec<Proxy>,
    /// Loopback partitions: this process's table in the host's nftables.
    host_table: Option<String>,
}

impl Net {
    /// Places `n` nodes; with `proxies`, a proxy in front of each node's port (start
    /// the proxies with [`Net::start_proxies`] before the nodes).
    /// On loopback, node `i` listens on port `base_port + i` when given, else on a
    /// free port.
    pub fn new(mode: Mode, n: usize, proxies: bool, base_port: Option<u16>) -> anyhow::Result<Net> {
        let (ns, places) = match mode {
            Mode::Netns => {
                let ns = Namespaces::create(n)?;
                let places = (0..n)
                    .map(|i| Place {
                        ip: Namespaces::node_ip(i),
                        port: shoal_home::config::DEFAULT_PORT,
                        netns: Some(Namespaces::path(&ns.node(i))),
                        proxy_port: proxies.then_some(shoal_home::config::DEFAULT_PORT + 1),
                    })
                    .collect();
                (Some(ns), places)
            }
            Mode::Loopback => {
                let mut places = Vec::with_capacity(n);
                for i in 0..n {
                    places.push(Place {
                        ip: Ipv4Addr::new(127, 0, 0, i as u8 + 1),
                        port: match base_port {
                            Some(b) => b.checked_add(i as u16).context("port out of range")?,
                            None => free_port()?,
                        },
                        netns: None,
                        proxy_port: if proxies { Some(free_port()?) } else { None },
                    });
                }
                (None, places)
            }
        };
        Ok(Net {
            places,
            ns,
            proxies: Vec::new(),
            host_table: None,
        })
    }

    pub fn start_proxies(&mut self) -> anyhow::Result<()> {
        for p in &self.places {
            if let Some(q) = p.proxy_port {
                self.proxies.push(Proxy::start(
                    p.netns.as_deref(),
                    SocketAddr::from((p.ip, q)),
                    SocketAddr::from((p.ip, p.port)),
                )?);
            }
        }
        Ok(())
    }

    /// Sets what every proxied link does.
    pub fn set_links(&self, link: Link) {
        for p in &self.proxies {
            p.set(link);
        }
    }

    /// Sets what node `i`'s proxied link does.
    pub fn set_link(&self, i: usize, link: Link) {
        if let Some(p) = self.proxies.get(i) {
            p.set(link);
        }
    }

    /// One more namespace on the bridge for a client or a rogue peer (netns mode);
    /// its path and address. `None` in loopback mode (use 127.0.0.1 here).
    pub fn add_host(&mut self, what: &str) -> anyhow::Result<Option<(PathBuf, Ipv4Addr)>> {
        match &mut self.ns {
            Some(ns) => {
                let (name, ip) = ns.add_host(what)?;
                Ok(Some((Namespaces::path(&name), ip)))
            }
            None => Ok(None),
        }
    }

    /// Drops every packet from node `from` to node `to` (one way).
    pub fn cut(&mut self, from: usize, to: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            is_root(),
            "partitions need root (nftables); run as root or pick another scenario"
        );
        let (f, t) = (self.places[from].clone(), self.places[to].clone());
        match &self.ns {
            Some(ns) => nft::run(
                Some(&ns.node(to)),
                &format!("add rule inet {TABLE} in ip saddr {} drop\n", f.ip),
            ),
            None => {
                // On loopback every dial reuses the dialer's listen port (libp2p's
                // port reuse), so a packet from `from` to `to` always goes from
                // port `from` to port `to`, whoever dialled.
                let table = self.host_table()?;
                host_nft(&format!(
                    "add rule inet {table} out tcp sport {} tcp dport {} drop\n",
                    f.port, t.port
                ))
            }
        }
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) -> anyhow::Result<()> {
        for &i in a {
            for &j in b {
                self.cut(i, j)?;
                self.cut(j, i)?;
            }
        }
        Ok(())
    }

    /// Removes every partition.
    pub fn heal(&mut self) -> anyhow::Result<()> {
        match &self.ns {
            Some(ns) => {
                for i in 0..ns.nodes() {
                    nft::run(
                        Some(&ns.node(i)),
                        &format!("flush chain inet {TABLE} in\nflush chain inet {TABLE} out\n"),
                    )?;
                }
                Ok(())
            }
            None => match &self.host_table {
                Some(t) => host_nft(&format!("flush chain inet {t} out\n")),
                None => Ok(()),
            },
        }
    }

    fn host_table(&mut self) -> anyhow::Result<String> {
        if let Some(t) = &self.host_table {
            return Ok(t.clone());
        }
        let t = format!("{TABLE}_{}", std::process::id());
        host_nft(&format!(
            "add table inet {t}\n\
             add chain inet {t} out {{ type filter hook output priority 0; policy accept; }}\n"
        ))?;
        self.host_table = Some(t.clone());
        Ok(t)
    }

    /// Leaves the namespaces in place (for `up`); their prefix, for `down`.
    pub fn keep(mut self) -> Option<String> {
        self.ns.take().map(Namespaces::keep)
    }
}

fn host_nft(script: &str) -> anyhow::Result<()> {
    nft::run(None, script)
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(t) = self.host_table.take() {
            if let Err(e) = host_nft(&format!("delete table inet {t}\n")) {
                eprintln!("shoal-testnet: {e}");
            }
        }
    }
}

//! What the in-process node tests share: node options on a free loopback port, the
//! real address read back, waits on a condition.

#![allow(dead_code)]

use std::time::Duration;

use shoal_home::{init_genesis, init_join, Home, Overrides};
use shoal_node::worker::launch::SupervisorCommand;
use shoal_node::{NodeOptions, RunningNode};
use shoal_testkit::{listen, wait};

/// A one-slot node on `home` listening on a free loopback port, bootstrapping
/// from `bootstrap` (a node's address read back with [`addr`]). Its supervisor is
/// `/bin/false`: these tests submit no job.
pub fn options(home: Home, bootstrap: Option<&str>) -> NodeOptions {
    NodeOptions {
        home,
        overrides: Overrides {
            slots: Some(1),
            listen: Some(vec![listen::ANY_LOOPBACK.into()]),
            bootstrap: bootstrap.map(|a| vec![a.to_string()]).unwrap_or_default(),
            no_mdns: true,
            ..Default::default()
        },
        supervisor: SupervisorCommand {
            program: "/bin/false".into(),
            args: vec![],
        },
        init_if_missing: false,
        join_bundle: None,
        rejoin: false,
    }
}

/// Waits up to 30 s for `check`.
pub async fn eventually(what: &str, check: impl FnMut() -> bool) {
    wait::eventually_async(Duration::from_secs(30), what, check).await;
}

/// Where `node` listens (its loopback address with the real port).
pub async fn addr(node: &RunningNode) -> String {
    let addrs: Vec<String> = node
        .p2p
        .listen_addrs()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    listen::loopback(&addrs).unwrap_or_else(|| panic!("no loopback address in {addrs:?}"))
}

/// `n` homes under `dir`: the first a genesis home, the others set up to join it.
pub fn cluster_homes(dir: &std::path::Path, n: usize) -> Vec<Home> {
    let homes: Vec<Home> = (0..n)
        .map(|i| Home::new(dir.join(format!("n{i}"))))
        .collect();
    init_genesis(&homes[0]).unwrap();
    for h in &homes[1..] {
        init_join(h, &homes[0].bundle(), 0).unwrap();
    }
    homes
}

/// Starts the first three of `homes` (from [`cluster_homes`]): the genesis node,
/// its address, and two nodes that bootstrap from it.
pub async fn start_three(homes: &[Home]) -> (RunningNode, String, RunningNode, RunningNode) {
    let a = shoal_node::start(options(homes[0].clone(), None))
        .await
        .unwrap();
    let a_addr = addr(&a).await;
    let b = shoal_node::start(options(homes[1].clone(), Some(&a_addr)))
        .await
        .unwrap();
    let c = shoal_node::start(options(homes[2].clone(), Some(&a_addr)))
        .await
        .unwrap();
    (a, a_addr, b, c)
}

/// How many voters `n`'s view of the membership has.
pub fn voters(n: &RunningNode) -> usize {
    n.raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .count()
}

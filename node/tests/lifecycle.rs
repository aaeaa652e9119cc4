//! A node started and stopped in-process leaves nothing behind: every task it started
//! (the swarm's included) has ended, and its listen port is free again.

use std::time::Duration;

use shoal_home::{init_genesis, Home, Overrides};
use shoal_node::worker::launch::SupervisorCommand;
use shoal_node::{start, NodeOptions};
use shoal_raft_store::{Request, Response};
use shoal_types::NodeId;

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 20 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_leaves_no_task_and_frees_its_port() {
    let runtime = tokio::runtime::Handle::current().metrics();
    let baseline = runtime.num_alive_tasks();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("n0"));
    init_genesis(&home).unwrap();
    let opts = NodeOptions {
        home,
        overrides: Overrides {
            slots: Some(1),
            // Port 0: the node binds a free port, read back below.
            listen: Some(vec!["/ip4/127.0.0.1/tcp/0".into()]),
            no_mdns: true,
            ..Default::default()
        },
        supervisor: SupervisorCommand {
            program: "/bin/false".into(),
            args: vec![],
        },
        init_if_missing: false,
        join_bundle: None,
    };
    let node = start(opts).await.unwrap();
    let port = loop {
        let addrs = node.p2p.reachable_addrs().await.unwrap();
        let port = addrs.iter().find_map(|a| {
            let text = a.to_string();
            let (_, rest) = text.split_once("/tcp/")?;
            rest.split('/').next()?.parse::<u16>().ok()
        });
        if let Some(p) = port {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Some work through every layer: a leader, a write, the worker leasing.
    let me = node.identity.node_id;
    eventually("the node leads its one-voter cluster", || {
        node.raft.metrics().borrow().current_leader == Some(me.0)
    })
    .await;
    let drained = node
        .proposer
        .propose(Request::SetDrain {
            node: NodeId(me.0),
            drained: false,
        })
        .await
        .unwrap();
    assert!(matches!(drained, Response::DrainSet { .. }), "{drained:?}");
    assert!(
        runtime.num_alive_tasks() > baseline,
        "the node runs tasks while up"
    );

    node.stop().await;
    eventually("every task the node started has ended", || {
        runtime.num_alive_tasks() == baseline
    })
    .await;
    std::net::TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("port {port} still taken after stop: {e}"));
}

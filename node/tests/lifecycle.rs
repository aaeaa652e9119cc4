//! A node started and stopped in-process leaves nothing behind: every task it started
//! (the swarm's included) has ended, and its listen port is free again.

mod common;

use common::{addr, eventually, options};
use shoal_home::{init_genesis, Home};
use shoal_node::start;
use shoal_raft_store::{Request, Response};
use shoal_testkit::listen;
use shoal_types::NodeId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_leaves_no_task_and_frees_its_port() {
    let runtime = tokio::runtime::Handle::current().metrics();
    let baseline = runtime.num_alive_tasks();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("n0"));
    init_genesis(&home).unwrap();
    let node = start(options(home, None)).await.unwrap();
    // Answered once the listener has bound its port.
    let port = listen::tcp_port(&addr(&node).await).unwrap();
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

/// A start that fails half-way (here the API socket: a directory is in its place)
/// stops what it had started: no task is left, raft is down and the database is
/// free, so the next start on the home works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_late_leaves_no_task_and_frees_the_home() {
    let runtime = tokio::runtime::Handle::current().metrics();
    let baseline = runtime.num_alive_tasks();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("n0"));
    init_genesis(&home).unwrap();
    let blocker = home.socket();
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    match start(options(home.clone(), None)).await {
        Ok(_) => panic!("started with a directory where the API socket goes"),
        Err(e) => assert!(e.to_string().contains("shoal.sock"), "{e}"),
    }
    eventually("every task the failed start began has ended", || {
        runtime.num_alive_tasks() == baseline
    })
    .await;
    std::fs::remove_dir_all(&blocker).unwrap();
    let node = start(options(home, None)).await.unwrap();
    node.stop().await;
}

//! Test harness: drives the built `shoal` binary like a user, each test in its own
//! temporary home, each node process in its own process group.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// A temporary home and, while running, the node process serving it.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    child: Option<Child>,
    slots: u32,
    /// Extra `shoal node` arguments (listen, bootstrap, bundle).
    pub node_args: Vec<String>,
    /// `wait_ready` waits for this node to lead (genesis) or to be a member.
    pub expect_leader: bool,
}

impl TestNode {
    /// A fresh home (not yet initialized) in a temp dir.
    pub fn new(slots: u32) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        TestNode {
            dir,
            home,
            child: None,
            slots,
            // Port 0: the node binds a free port; `addr` reads it back.
            node_args: vec![
                "--no-mdns".into(),
                "--listen".into(),
                shoal_testkit::listen::ANY_LOOPBACK.into(),
            ],
            expect_leader: true,
        }
    }

    /// A node started on a fresh home and ready (leader elected, API up).
    pub fn started(slots: u32) -> TestNode {
        let mut n = TestNode::new(slots);
        n.start();
        n
    }

    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Starts `shoal node` without waiting for it to be ready.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("node.log"))
            .expect("log file");
        let child = Command::new(SHOAL)
            .args(["node", "--home"])
            .arg(&self.home)
            .args(["--slots", &self.slots.to_string()])
            .args(&self.node_args)
            .env("SHOAL_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn shoal node");
        self.child = Some(child);
    }

    /// Polls `shoal cluster --json` until this node reports itself leader (or, for a
    /// joining node, until it is a voter or learner and knows a leader).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("node exited early with {status}; log:\n{}", self.log());
                }
            }
            let out = self.shoal(&["cluster", "--json"]);
            if out.status.success() {
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("cluster json");
                let me = &v["node_id"];
                let member = v["voters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x == me)
                    || v["learners"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|x| x == me);
                let ready = if self.expect_leader {
                    v["leader"].as_str().is_some() && v["leader"] == *me
                } else {
                    v["leader"].as_str().is_some() && member
                };
                if ready {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node not ready in 60 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where this running node listens for other nodes: its loopback address with
    /// the port it bound, read back from `shoal cluster --json` (the API is up
    /// before the node is a member, so this works for a node still joining).
    pub fn addr(&self) -> String {
        let mut found = None;
        eventually(Duration::from_secs(30), "the node's listen address", || {
            let out = self.shoal(&["cluster", "--json"]);
            found = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| {
                    let addrs: Vec<String> = v["listen"]
                        .as_array()?
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect();
                    shoal_testkit::listen::loopback(&addrs)
                });
            found.is_some()
        });
        found.expect("checked above")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL to the node process only (its job supervisors live in other groups).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP or SIGCONT to the node process only.
    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            shoal_testkit::process::signal(pid, sig);
        }
    }

    /// This node's id, as `cluster --json` shows it.
    pub fn node_id(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["cluster", "--json"])).expect("cluster json");
        v["node_id"].as_str().expect("node_id").to_string()
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running node");
        shoal_testkit::process::signal(c.id(), libc::SIGTERM);
        c.wait().expect("wait node")
    }

    /// Runs `shoal ARGS --home HOME`.
    pub fn shoal(&self, args: &[&str]) -> Output {
        shoal_in(&self.home, args)
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.shoal(args);
        assert!(
            out.status.success(),
            "shoal {args:?} failed ({}): {}\nnode log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Submits and returns the id.
    pub fn submit(&self, args: &[&str]) -> u64 {
        let mut full = vec!["submit"];
        full.extend_from_slice(args);
        self.ok(&full).trim().parse().expect("job id on stdout")
    }

    pub fn status(&self, id: u64) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", &id.to_string(), "--json"])).expect("status json")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            shoal_testkit::process::signal(c.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn shoal_in(home: &Path, args: &[&str]) -> Output {
    Command::new(SHOAL)
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shoal")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `n` nodes on 127.0.0.1: the first creates the cluster, the others join it with
/// its bundle and `--bootstrap` to it. Returns once every node is a member.
pub fn cluster(n: usize, slots: u32) -> Vec<TestNode> {
    cluster_with(n, slots, |_| {})
}

/// [`cluster`], with `tweak` applied to every node's shoal.toml before it starts.
pub fn cluster_with(n: usize, slots: u32, tweak: impl Fn(&Path)) -> Vec<TestNode> {
    let mut nodes = Vec::with_capacity(n);
    let mut first = TestNode::new(slots);
    let out = shoal_in(&first.home, &["init"]);
    assert!(out.status.success(), "init: {}", stderr(&out));
    tweak(&first.home.join("shoal.toml"));
    first.start();
    let via = first.addr();
    let bundle = first.home.join("cluster.bundle");
    nodes.push(first);
    for _ in 1..n {
        nodes.push(join(&bundle, &via, slots, &tweak));
    }
    nodes
}

/// A node that joins the cluster of `bundle` through the node at `via` (an address
/// read back with [`TestNode::addr`]); `tweak` may edit its shoal.toml before it
/// starts.
pub fn join(bundle: &Path, via: &str, slots: u32, tweak: impl FnOnce(&Path)) -> TestNode {
    let mut node = TestNode::new(slots);
    let out = shoal_in(
        &node.home,
        &["init", "--join", bundle.to_str().expect("utf8 path")],
    );
    assert!(out.status.success(), "init --join: {}", stderr(&out));
    tweak(&node.home.join("shoal.toml"));
    node.node_args
        .extend(["--bootstrap".into(), via.to_string()]);
    node.expect_leader = false;
    node.start();
    node
}

/// `shoal cluster --json` of `node`.
pub fn cluster_json(node: &TestNode) -> serde_json::Value {
    serde_json::from_str(&node.ok(&["cluster", "--json"])).expect("cluster json")
}

pub use shoal_testkit::wait::eventually;

/// How many processes have `marker` in their command line.
pub fn marker_processes(marker: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

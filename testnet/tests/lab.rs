//! `shoal-testnet up`, `status` and `down` driven as a user would, with the built
//! `shoal` binaries next to `shoal-testnet`.

use shoal_testkit::root::needs_root;
use std::process::Command;

const TESTNET: &str = env!("CARGO_BIN_EXE_shoal-testnet");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(TESTNET)
        .args(args)
        .output()
        .expect("run shoal-testnet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn up_status_down_on_loopback() {
    up_status_down("--loopback");
}

/// Network namespaces need root; CI runs as root.
#[test]
fn up_status_down_in_namespaces() {
    if !needs_root("lab::up_status_down_in_namespaces", "--netns needs root") {
        return;
    }
    up_status_down("--netns");
}

fn up_status_down(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("tn");
    let d = d.to_str().unwrap();
    // A base port with the next one free too (not the default 7420, which a node
    // running on this machine may hold).
    let port = loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.2", p + 1)).is_ok() {
            break p;
        }
    };
    let port = port.to_string();
    let (ok, out, err) = run(&["up", "2", mode, "--dir", d, "--port", &port]);
    assert!(ok, "up failed: {out}{err}");
    assert!(out.contains(&mode[2..]), "{out}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{d}/testnet.json")).unwrap()).unwrap();
    let prefix = state["netns_prefix"].as_str().map(String::from);
    assert_eq!(prefix.is_some(), mode == "--netns", "{state}");
    let (ok, status, err) = run(&["status", "--dir", d]);
    assert!(ok, "{err}");
    assert_eq!(status.lines().count(), 3, "{status}");
    assert_eq!(status.matches("leader").count(), 1, "{status}");
    assert!(!status.contains(" no "), "a node is not alive: {status}");
    let (ok, _, err) = run(&["up", "2", "--dir", d, "--port", &port]);
    assert!(!ok && err.contains("already up"), "{err}");
    let (ok, _, err) = run(&["down", "--dir", d]);
    assert!(ok, "{err}");
    if let Some(prefix) = prefix {
        let left: Vec<String> = std::fs::read_dir("/run/netns")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{prefix}-")))
            .collect();
        assert!(left.is_empty(), "namespaces left behind: {left:?}");
    }
    let (ok, _, err) = run(&["status", "--dir", d]);
    assert!(!ok && err.contains("no testnet"), "{err}");
    let (ok, list, _) = run(&["scenarios"]);
    assert!(ok && list.contains("leader-kill") && list.contains("bad-peer"));
}

#[test]
fn chaos_smoke_worker_kill_keeps_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = run(&[
        "chaos",
        "--scenario",
        "worker-kill",
        "--duration",
        "12s",
        "--seed",
        "3",
        "--json",
        "--dir",
        d,
    ]);
    assert!(ok, "chaos failed:\n{out}\n{err}");
    let last = out.lines().last().unwrap();
    let r: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(r["scenario"], "worker-kill");
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        r["acked"].as_u64().unwrap() >= 50,
        "too little work to mean anything: {r}"
    );
    for k in [
        "lost",
        "double_runs",
        "unsigned_ran",
        "duplicate_jobs",
        "unfinished_after_heal",
    ] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }
    // The history is kept and the checker agrees when run on its own.
    let (ok, verdict, _) = run(&["check", &format!("{d}/worker-kill")]);
    assert!(ok && verdict.contains("\"ok\": true"), "{verdict}");
    let (ok, _, err) = run(&["chaos", "--scenario", "no-such", "--duration", "1s"]);
    assert!(!ok && err.contains("no scenario"), "{err}");
}

/// Namespaces, nftables partitions, healing and a leader change, in a few seconds
/// (root only: CI runs as root).
#[test]
fn chaos_smoke_partition_leader_in_namespaces() {
    if !needs_root(
        "lab::chaos_smoke_partition_leader_in_namespaces",
        "--netns needs root",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = run(&[
        "chaos",
        "--netns",
        "--scenario",
        "partition-leader",
        "--duration",
        "12s",
        "--seed",
        "5",
        "--json",
        "--dir",
        d,
    ]);
    assert!(ok, "chaos failed:\n{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (r["mode"].as_str(), r["ok"].as_bool()),
        (Some("netns"), Some(true)),
        "{r}"
    );
    let history =
        std::fs::read_to_string(format!("{d}/partition-leader/history/clients.jsonl")).unwrap();
    assert!(
        history.contains("isolate the leader"),
        "no partition was installed"
    );
}

/// A benchmark that cannot go on (here: the node binary does not start) still
/// prints the figures it measured before (the references), then fails saying so.
#[test]
fn a_benchmark_that_stops_early_prints_what_it_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(&[
        "bench",
        "--quick",
        "--json",
        "--only",
        "api_submits",
        "--shoal",
        "/bin/false",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("stopped early"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(v["machine"]["complete"], false, "{v}");
    let names: Vec<&str> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"spawn_true_per_s"), "{names:?}");
}

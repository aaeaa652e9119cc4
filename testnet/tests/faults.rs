//! A smoke of each fault class the faults issue added (issue 15): a short `chaos`
//! run of the scenario on 3 nodes, every invariant and the fault's own checks 0,
//! and the history showing the fault really happened. One at a time (a lock): two
//! clusters at once on two cores would judge the machine, not Shoal. The full runs
//! (5 nodes, both network modes, longer) are documented in docs/TESTNET.md.

use std::process::Command;
use std::sync::Mutex;

use shoal_testkit::root::needs_root;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `scenario` for 12 s; its JSON report and its clients' history.
fn smoke(scenario: &str, seed: &str) -> (serde_json::Value, String) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-testnet"))
        .args(["chaos", "--loopback", "--scenario", scenario])
        .args(["--duration", "12s", "--seed", seed, "--json", "--dir", d])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let history = std::fs::read_to_string(format!("{d}/{scenario}/history/clients.jsonl"))
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "chaos {scenario} failed:\n{stdout}\n{stderr}\n{history}"
    );
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["scenario"], scenario);
    assert_eq!(r["ok"], true, "{r}\n{stderr}\n{history}");
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
        "fault_violations",
    ] {
        assert_eq!(r[k], 0, "{k}: {r}\n{history}");
    }
    (r, history)
}

#[test]
fn leader_pause_smoke() {
    let (_, history) = smoke("leader-pause", "7");
    assert!(history.contains("SIGSTOP the leader"), "{history}");
}

#[test]
fn wiped_disk_smoke_refuses_then_rejoins() {
    let (_, history) = smoke("wiped-disk", "7");
    assert!(
        history.contains("refused to start on its Wipe store"),
        "{history}"
    );
    assert!(history.contains("old identity"), "{history}");
}

#[test]
fn corrupt_follower_smoke_refuses_then_rejoins() {
    let (_, history) = smoke("corrupt-follower", "7");
    assert!(
        history.contains("refused to start on its FlipWal store"),
        "{history}"
    );
    assert!(history.contains("old identity"), "{history}");
}

#[test]
fn membership_churn_smoke_replaces_a_dead_node() {
    let (_, history) = smoke("membership-churn", "7");
    assert!(history.contains("to replace node"), "{history}");
    assert!(history.contains("removed node"), "{history}");
}

#[test]
fn escape_smoke_cancel_kills_the_escaped_child() {
    let (_, history) = smoke("escape", "7");
    assert!(history.contains("its child left its session"), "{history}");
}

#[test]
fn poison_smoke_refuses_every_oversized_request() {
    let (_, history) = smoke("poison", "7");
    assert!(
        history.contains("rogue sent a lease of u32::MAX jobs"),
        "{history}"
    );
    assert!(
        history.contains("0 oversized requests accepted"),
        "{history}"
    );
}

#[test]
fn freeze_smoke_moves_the_frozen_nodes_job() {
    if !needs_root(
        "faults::freeze_smoke_moves_the_frozen_nodes_job",
        "the cgroup freezer needs root",
    ) {
        return;
    }
    let (r, history) = smoke("freeze", "7");
    assert!(history.contains("\"kind\":\"thawed\""), "{history}");
    // The frozen attempt's life after the thaw is measured only if it showed any.
    if let Some(ms) = r["thaw_overlap_ms"].as_f64() {
        assert!(ms <= 100.0, "{r}");
    }
}

/// The soak command end to end, shortened: faults drawn from two scenarios, every
/// node sampled, the growth table and the findings in its report.
#[test]
fn a_short_soak_samples_every_node_and_keeps_every_invariant() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-testnet"))
        .args(["soak", "--loopback", "--nodes", "3", "--duration", "40s"])
        .args(["--warm-up", "1s", "--faults", "worker-kill,leader-pause"])
        .args(["--seed", "3", "--json", "--dir", d])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["findings"]["ok"], true, "{r}");
    assert!(r["findings"]["acked"].as_u64().unwrap() >= 100, "{r}");
    let growth = r["growth"].as_array().unwrap();
    assert_eq!(growth.len(), 3, "one row per node: {r}");
    for g in growth {
        assert!(g["rss_kib_end"].as_u64().unwrap() > 1024, "{g}");
        assert!(g["fds_end"].as_u64().unwrap() > 3, "{g}");
        assert!(g["disk_bytes_end"].as_u64().unwrap() > 0, "{g}");
    }
    let samples = std::fs::read_to_string(format!("{d}/samples.jsonl")).unwrap();
    assert!(
        samples.lines().count() >= 6,
        "two rounds of samples: {samples}"
    );
    let history = std::fs::read_to_string(format!("{d}/history/clients.jsonl")).unwrap();
    assert!(
        history.contains("round 1: ") && history.contains("round 2: "),
        "faults drawn per round"
    );
}

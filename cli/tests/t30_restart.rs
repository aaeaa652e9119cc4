//! Durability: acknowledged jobs survive kill -9 of the node; jobs that were running
//! are killed by their supervisors and re-queued on restart.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, marker_processes, TestNode};

#[test]
fn fifty_acknowledged_jobs_survive_kill_9_and_all_finish() {
    let mut n = TestNode::started(2);
    let marker = format!("shoal-restart-marker-{}", std::process::id());
    let ids: Vec<u64> = (0..50)
        .map(|i| n.submit(&["--shell", &format!("sleep 0.2; : {marker} {i}")]))
        .collect();
    // Let some start, then crash the node.
    eventually(Duration::from_secs(20), "a job started", || {
        marker_processes(&marker) > 0
    });
    n.kill9();
    // Supervisors notice the node is gone and kill their jobs.
    eventually(
        Duration::from_secs(10),
        "the jobs gone with their node",
        || marker_processes(&marker) == 0,
    );

    n.start();
    let mut args = vec!["wait".to_string(), "--timeout".into(), "120s".into()];
    args.extend(ids.iter().map(u64::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = n.ok(&args);
    assert_eq!(out.lines().count(), 50);
    let mut lost = 0;
    for id in &ids {
        let s = n.status(*id);
        assert_eq!(s["state"], "succeeded", "job {id}: {s}");
        let attempts = s["attempts"].as_array().unwrap();
        lost += attempts
            .iter()
            .filter(|a| a["fail_reason"] == "lost")
            .count();
        assert_eq!(attempts.last().unwrap()["exit_code"], 0);
    }
    assert!(
        lost >= 1,
        "the jobs running at the crash were re-queued as lost attempts"
    );
}

#[test]
fn restart_recovers_state_and_does_not_bootstrap_again() {
    let mut n = TestNode::started(1);
    let id = n.submit(&["--", "echo", "kept"]);
    n.ok(&["wait", &id.to_string()]);
    let before: serde_json::Value = serde_json::from_str(&n.ok(&["cluster", "--json"])).unwrap();
    assert!(n.stop().success(), "SIGTERM stops the node cleanly");
    n.start();
    let after: serde_json::Value = serde_json::from_str(&n.ok(&["cluster", "--json"])).unwrap();
    assert_eq!(after["node_id"], before["node_id"]);
    assert_eq!(after["voters"], before["voters"]);
    // A sole voter may resume its committed term on restart; it never goes back.
    assert!(after["term"].as_u64() >= before["term"].as_u64());
    assert_eq!(n.ok(&["logs", &id.to_string()]), "kept\n");
    let next = n.submit(&["--", "true"]);
    assert_eq!(next, id + 1, "job ids continue after restart");
}

/// SIGTERM: no new work; a running job may finish within the stop grace, one that
/// runs past it is stopped and handed back (`node stopped`, not `lost`), and the node
/// exits 0 once that is committed.
#[test]
fn sigterm_lets_running_jobs_finish_then_hands_the_rest_back() {
    let mut n = TestNode::new(1);
    n.node_args.extend(["--stop-grace".into(), "3s".into()]);
    n.start();
    let short = n.submit(&["--shell", "sleep 1; echo finished"]);
    let behind = n.submit(&["--", "true"]);
    eventually(Duration::from_secs(10), "the short job runs", || {
        n.status(short)["state"] == "running"
    });
    let t0 = Instant::now();
    assert!(n.stop().success(), "an orderly stop exits 0");
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "no need to wait out the grace: {took:?}"
    );
    assert!(n.log().contains("running jobs may finish"), "{}", n.log());
    n.start();
    let s = n.status(short);
    assert_eq!(s["state"], "succeeded", "{s}");
    assert_eq!(s["attempts"].as_array().unwrap().len(), 1, "ran once: {s}");
    assert_eq!(n.ok(&["logs", &short.to_string()]), "finished\n");
    n.ok(&["wait", "--timeout", "30s", &behind.to_string()]);
    let b = n.status(behind);
    for a in b["attempts"].as_array().unwrap() {
        assert_ne!(a["fail_reason"], "lost", "handed back, not lost: {b}");
    }

    // A job that outlives the grace is stopped and handed back.
    let long = n.submit(&["--shell", "sleep 60"]);
    eventually(Duration::from_secs(10), "the long job runs", || {
        n.status(long)["state"] == "running"
    });
    let t0 = Instant::now();
    assert!(n.stop().success());
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(2_900) && took < Duration::from_secs(20),
        "waited the grace, then stopped the job: {took:?}"
    );
    n.start();
    let s = n.status(long);
    assert_eq!(s["attempts"][0]["fail_reason"], "node stopped", "{s}");
    assert!(
        ["queued", "leased", "running"].contains(&s["state"].as_str().unwrap()),
        "back in the queue: {s}"
    );
    n.ok(&["cancel", &long.to_string()]);
}

/// A job's processes that leave its process group (`setsid`) die with it: when it
/// ends, when it is cancelled, when it times out, and when its node dies.
#[test]
fn nothing_a_job_started_outlives_it() {
    let mut n = TestNode::started(4);
    let tag = format!("escape-{}", std::process::id());
    let escaping = |what: &str| format!("setsid sh -c 'sleep 300; : {tag}-{what}' &");
    // Ends by itself, leaving a daemon behind.
    let ended = n.submit(&["--shell", &format!("{} sleep 3", escaping("ended"))]);
    // Cancelled while it runs; times out.
    let cancelled = n.submit(&["--shell", &format!("{} sleep 300", escaping("cancelled"))]);
    let timed = n.submit(&[
        "--timeout",
        "5s",
        "--shell",
        &format!("{} sleep 300", escaping("timed")),
    ]);
    let fenced = n.submit(&["--shell", &format!("{} sleep 300", escaping("fenced"))]);
    for what in ["ended", "cancelled", "timed", "fenced"] {
        eventually(Duration::from_secs(10), "the escaped child runs", || {
            // The job's shell (whose command line holds the text too) and the child.
            marker_processes(&format!("{tag}-{what}")) == 2
        });
    }
    n.ok(&["wait", &ended.to_string()]);
    eventually(
        Duration::from_secs(5),
        "the ended job's daemon is gone",
        || marker_processes(&format!("{tag}-ended")) == 0,
    );
    n.ok(&["cancel", &cancelled.to_string()]);
    eventually(
        Duration::from_secs(10),
        "the cancelled job's child is gone",
        || marker_processes(&format!("{tag}-cancelled")) == 0,
    );
    let t = n.shoal(&["wait", &timed.to_string()]);
    assert!(String::from_utf8_lossy(&t.stdout).contains("failed"));
    eventually(
        Duration::from_secs(10),
        "the timed-out job's child is gone",
        || marker_processes(&format!("{tag}-timed")) == 0,
    );
    let _ = fenced;
    // The node dies: its supervisors fence their jobs, escaped children too.
    n.kill9();
    eventually(
        Duration::from_secs(10),
        "the fenced job's child is gone",
        || marker_processes(&format!("{tag}-fenced")) == 0,
    );
}

/// As root, every attempt gets a cgroup (`shoal nodes` says which kind), and its
/// `pids_max` stops a fork bomb: past the cap a fork fails (the shell gives up), and
/// nothing the job started is left; a job under the cap is not disturbed.
#[test]
fn a_cgroup_caps_an_attempts_processes() {
    if !shoal_testkit::root::needs_root(
        "a_cgroup_caps_an_attempts_processes",
        "making cgroups needs root or a delegated cgroup",
    ) {
        return;
    }
    let mut n = TestNode::new(1);
    let out = common::shoal_in(&n.home, &["init"]);
    assert!(out.status.success(), "init: {}", common::stderr(&out));
    let toml = n.home.join("shoal.toml");
    let t = std::fs::read_to_string(&toml).unwrap();
    assert!(t.contains("pids_max = 4096"), "{t}");
    std::fs::write(&toml, t.replace("pids_max = 4096", "pids_max = 32")).unwrap();
    n.start();
    let nodes: serde_json::Value = serde_json::from_str(&n.ok(&["nodes", "--json"])).unwrap();
    let containment = nodes[0]["containment"].as_str().unwrap_or("").to_string();
    assert!(containment.starts_with("cgroup-v"), "{nodes}");
    let tag = format!("bomb-{}", std::process::id());
    let spawn = |count: u32| {
        format!(
            "i=0; while [ $i -lt {count} ]; do sh -c 'sleep 300; : {tag}' & i=$((i+1)); done; \
             echo all started"
        )
    };
    let bomb = n.submit(&["--shell", &spawn(100)]);
    let waited = n.shoal(&["wait", "--timeout", "30s", &bomb.to_string()]);
    assert_eq!(common::code(&waited), 1, "the bomb was not stopped");
    let err = n.ok(&["logs", "--stderr", &bomb.to_string()]);
    assert!(err.contains("fork"), "no fork was refused: {err}");
    assert!(!n.ok(&["logs", &bomb.to_string()]).contains("all started"));
    eventually(Duration::from_secs(10), "nothing of the bomb left", || {
        marker_processes(&tag) == 0
    });
    // Ten processes (twenty with their sleeps) fit under the cap.
    let fine = n.submit(&["--shell", &spawn(10)]);
    n.ok(&["wait", "--timeout", "30s", &fine.to_string()]);
    assert!(n.ok(&["logs", &fine.to_string()]).contains("all started"));
    eventually(
        Duration::from_secs(10),
        "its processes killed at its end",
        || marker_processes(&tag) == 0,
    );
    eprintln!("{containment}: a fork bomb stopped at pids_max = 32");
}

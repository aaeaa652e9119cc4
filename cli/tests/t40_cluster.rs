//! Several `shoal node` processes on 127.0.0.1 forming one cluster over libp2p:
//! joining, work spread over nodes, output fetched across nodes, a stopped worker's
//! job moving elsewhere, leader failover, voter replacement, a foreign node refused.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    cluster, cluster_json, cluster_with, code, eventually, join, marker_processes, TestNode,
};

fn voters(n: &TestNode) -> Vec<String> {
    cluster_json(n)["voters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn leader_of(n: &TestNode) -> Option<String> {
    cluster_json(n)["leader"].as_str().map(String::from)
}

/// Waits until `job`'s second attempt has written its start to `trace`.
fn second_attempt(trace: &std::path::Path, job: u64) -> Duration {
    eventually(Duration::from_secs(20), "the job's second attempt", || {
        std::fs::read_to_string(trace)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{job} 2 ")))
    })
}

/// A 3-node cluster with 1 slot per node and three 30 s jobs, one on each node,
/// each appending "JOB ATTEMPT NODE" to `trace` when it starts and carrying `marker`
/// in its command line. Returns (nodes, leader id, marker, trace, job ids).
fn three_long_jobs(tag: &str) -> (Vec<TestNode>, String, String, std::path::PathBuf, Vec<u64>) {
    let nodes = cluster(3, 1);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let leader = leader_of(&nodes[0]).expect("leader");
    let marker = format!("shoal-{tag}-marker-{}", std::process::id());
    let trace = nodes[0].dir.path().join("trace");
    let cmd = format!(
        "echo \"$SHOAL_JOB_ID $SHOAL_ATTEMPT $SHOAL_NODE_ID\" >> {}; sleep 30; : {marker}",
        trace.display()
    );
    let ids: Vec<u64> = (0..3)
        .map(|_| nodes[0].submit(&["--shell", &cmd]))
        .collect();
    eventually(Duration::from_secs(30), "three attempts running", || {
        std::fs::read_to_string(&trace)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            == 3
    });
    (nodes, leader, marker, trace, ids)
}

#[test]
fn three_nodes_share_work_and_read_each_others_output() {
    let mut nodes = cluster(3, 2);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });

    let ids: Vec<u64> = (0..12)
        .map(|_| nodes[2].submit(&["--shell", "echo out-$SHOAL_JOB_ID; sleep 0.2"]))
        .collect();
    // A consistent read on another node sees a write acknowledged a moment ago.
    let last = ids.last().unwrap().to_string();
    let seen = nodes[1].ok(&["status", "--consistent", "--json", &last]);
    assert!(seen.contains(&format!("\"id\":{last}")), "{seen}");
    nodes[0].ok(&["list", "--consistent", "--json"]);
    let mut args = vec!["wait".to_string(), "--timeout".into(), "60s".into()];
    args.extend(ids.iter().map(|i| i.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    nodes[1].ok(&args);

    let ran_on: Vec<String> = ids
        .iter()
        .map(|id| nodes[0].status(*id)["node"].as_str().unwrap().to_string())
        .collect();
    let distinct: HashSet<&String> = ran_on.iter().collect();
    assert!(
        distinct.len() >= 2,
        "all 12 jobs ran on one node: {ran_on:?}"
    );

    // Every node prints every job's output, wherever it ran.
    let first = nodes[0].node_id();
    let (id, _) = ids
        .iter()
        .zip(&ran_on)
        .find(|(_, n)| **n != first)
        .expect("a job that ran on another node");
    for n in &nodes {
        assert_eq!(n.ok(&["logs", &id.to_string()]), format!("out-{id}\n"));
    }

    // The record keeps the head and tail of the output: with the node that ran it
    // gone, the output still shows.
    let s = nodes[0].status(*id);
    assert_eq!(
        s["attempts"][0]["stdout"]["bytes"],
        format!("out-{id}\n").len()
    );
    let holder = nodes
        .iter()
        .position(|n| s["node"] == n.node_id().as_str())
        .unwrap();
    nodes[holder].kill9();
    let reader = nodes.iter().find(|n| n.pid().is_some()).unwrap();
    assert_eq!(reader.ok(&["logs", &id.to_string()]), format!("out-{id}\n"));
}

#[test]
fn a_stopped_workers_job_runs_elsewhere_and_never_beside_itself() {
    let (nodes, leader, marker, trace, ids) = three_long_jobs("stop");

    // Stop a worker that is not the leader, with its job running.
    let (victim, victim_id) = nodes
        .iter()
        .map(|n| (n, n.node_id()))
        .find(|(_, id)| *id != leader)
        .expect("a follower");
    let job = *ids
        .iter()
        .find(|id| nodes[0].status(**id)["node"] == victim_id.as_str())
        .expect("a job on the follower");
    let t0 = Instant::now();
    victim.signal(libc::SIGSTOP);
    // Free a slot elsewhere for the job to move to.
    let other = *ids.iter().find(|id| **id != job).unwrap();
    nodes[0].ok(&["cancel", &other.to_string()]);

    let moved = second_attempt(&trace, job);
    eprintln!("stopped worker's job re-ran elsewhere after {moved:?}");
    // The 10 s target is measured by `shoal-testnet bench`
    // (requeue_after_stop_p99_s_3node); here only a bound that load cannot flake.
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    // The stopped node's supervisor killed the first attempt before the second began:
    // one copy of the job (plus the third job) runs, never two of it.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        marker_processes(&marker),
        2,
        "expected the second attempt and the untouched third job only"
    );

    victim.signal(libc::SIGCONT);
    eventually(
        Duration::from_secs(20),
        "the stale completion refused",
        || cluster_json(victim)["counters"]["completions_refused"] == 1,
    );
    let s = nodes[0].status(job);
    assert_eq!(s["attempts"][0]["fail_reason"], "lost", "{s}");
    assert_eq!(s["state"], "running");
    nodes[0].ok(&["cancel", &job.to_string()]);
}

#[test]
fn leader_kill_9_loses_no_acknowledged_job() {
    let mut nodes = cluster(3, 2);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let leader = leader_of(&nodes[0]).expect("leader");
    let li = nodes.iter().position(|n| n.node_id() == leader).unwrap();
    let fi = (li + 1) % 3;

    let mut acked = Vec::new();
    let mut last_ack = Instant::now();
    let mut longest_gap = Duration::ZERO;
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(8) {
        if !killed && start.elapsed() > Duration::from_secs(2) {
            nodes[li].kill9();
            killed = true;
        }
        let out = nodes[fi].shoal(&["submit", "--", "true"]);
        if out.status.success() {
            let id: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            acked.push(id);
            longest_gap = longest_gap.max(last_ack.elapsed());
            last_ack = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{} acks; longest gap between acks: {longest_gap:?}",
        acked.len()
    );
    assert!(
        longest_gap < Duration::from_secs(10),
        "acks stopped for {longest_gap:?}"
    );
    let survivor = &nodes[fi];
    let mut args = vec!["wait".to_string(), "--timeout".into(), "60s".into()];
    args.extend(acked.iter().map(|i| i.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    survivor.ok(&args);
}

#[test]
fn an_unreachable_voter_is_replaced_by_a_learner() {
    let grace = |toml: &std::path::Path| {
        let t = std::fs::read_to_string(toml).unwrap();
        assert!(t.contains("voter_grace_ms = 30000"), "{t}");
        std::fs::write(
            toml,
            t.replace("voter_grace_ms = 30000", "voter_grace_ms = 2000"),
        )
        .unwrap();
    };
    let mut nodes = cluster_with(3, 1, grace);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let bundle = nodes[0].home.join("cluster.bundle");
    let fourth = join(&bundle, &nodes[0].addr(), 1, grace);
    let fourth_id = fourth.node_id();
    eventually(
        Duration::from_secs(30),
        "the fourth node as a learner",
        || {
            cluster_json(&nodes[0])["learners"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x == fourth_id.as_str()))
        },
    );

    let leader = leader_of(&nodes[0]).expect("leader");
    let vi = nodes.iter().position(|n| n.node_id() != leader).unwrap();
    let dead = nodes[vi].node_id();
    nodes[vi].kill9();
    let alive = nodes.iter().find(|n| n.pid().is_some()).unwrap();
    let took = eventually(Duration::from_secs(60), "the dead voter replaced", || {
        let v = voters(alive);
        v.len() == 3 && v.contains(&fourth_id) && !v.contains(&dead)
    });
    eprintln!("voter replaced {took:?} after kill -9 (grace 2 s)");
}

#[test]
fn a_node_of_another_cluster_cannot_join_or_submit() {
    let nodes = cluster(1, 1);
    let via = nodes[0].addr();
    // A bundle of some other cluster, joined by a node pointed at ours.
    let other = TestNode::new(1);
    assert_eq!(code(&other.shoal(&["init"])), 0);
    let mut stranger = TestNode::new(1);
    let bundle = other.home.join("cluster.bundle");
    let out = stranger.shoal(&["init", "--join", bundle.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    stranger.node_args.extend(["--bootstrap".into(), via]);
    stranger.expect_leader = false;
    // It never becomes ready; start it without waiting.
    stranger.spawn();
    // Whichever side checks the other's certificate first refuses and hangs up.
    eventually(
        Duration::from_secs(10),
        "the stranger refused at hello",
        || {
            // The stranger's API may not be up yet: no answer counts as none.
            let refused = |n: &TestNode| {
                serde_json::from_slice::<serde_json::Value>(&n.shoal(&["cluster", "--json"]).stdout)
                    .ok()
                    .and_then(|c| c["counters"]["peers_refused"].as_u64())
                    .is_some_and(|r| r > 0)
            };
            refused(&nodes[0]) || refused(&stranger)
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let c = cluster_json(&nodes[0]);
    assert_eq!(c["voters"].as_array().unwrap().len(), 1, "{c}");
    assert!(c["learners"].as_array().unwrap().is_empty(), "{c}");
    let out = stranger.shoal(&["submit", "--", "true"]);
    assert_ne!(code(&out), 0, "a stranger's submit was accepted");
    assert_eq!(cluster_json(&stranger)["leader"], serde_json::Value::Null);
}

#[test]
fn a_fleet_started_at_once_forms_one_cluster() {
    // A bundle made once, then three hosts that all start with it and --expect 3.
    let admin = TestNode::new(1);
    assert_eq!(code(&admin.shoal(&["init"])), 0);
    let bundle = admin.home.join("cluster.bundle");
    // Started one after another so each can name the earlier ones' real ports
    // (they listen on port 0); none is a member of anything until all three meet.
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..3 {
        let mut n = TestNode::new(1);
        let out = n.shoal(&["init", "--join", bundle.to_str().unwrap(), "--expect", "3"]);
        assert_eq!(code(&out), 0, "{}", common::stderr(&out));
        for earlier in &nodes {
            n.node_args.push("--bootstrap".into());
            n.node_args.push(earlier.addr());
        }
        n.expect_leader = false;
        n.spawn();
        nodes.push(n);
    }
    for n in &mut nodes {
        n.wait_ready();
    }
    eventually(Duration::from_secs(30), "3 voters, one leader", || {
        let v = voters(&nodes[0]);
        v.len() == 3 && nodes.iter().all(|n| leader_of(n) == leader_of(&nodes[0]))
    });
    let id = nodes[2].submit(&["--", "true"]).to_string();
    nodes[1].ok(&["wait", "--timeout", "30s", &id]);
}

#[test]
fn a_killed_workers_job_runs_elsewhere_within_seconds() {
    let (mut nodes, leader, marker, trace, ids) = three_long_jobs("kill");
    let vi = nodes.iter().position(|n| n.node_id() != leader).unwrap();
    let victim_id = nodes[vi].node_id();
    let job = *ids
        .iter()
        .find(|id| nodes[0].status(**id)["node"] == victim_id.as_str())
        .expect("a job on the follower");
    let other = *ids.iter().find(|id| **id != job).unwrap();
    let survivor = if vi == 0 { 1 } else { 0 };
    nodes[survivor].ok(&["cancel", &other.to_string()]);
    eventually(Duration::from_secs(20), "the cancelled job gone", || {
        marker_processes(&marker) == 2
    });

    let t0 = Instant::now();
    nodes[vi].kill9();
    let moved = second_attempt(&trace, job);
    eprintln!("killed worker's job re-ran elsewhere after {moved:?}");
    // The killed node's supervisor fenced its copy at once: never two copies.
    assert_eq!(
        marker_processes(&marker),
        2,
        "the old attempt outlived its node"
    );
    // The 2 s target is measured by `shoal-testnet bench`
    // (requeue_after_kill_p99_s_3node); here only a bound that load cannot flake.
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    nodes[survivor].ok(&["cancel", &job.to_string()]);
}

/// Two nodes keep one voter (an even voter set would stop every write when either
/// stops); a third makes three at once.
#[test]
fn two_nodes_make_one_voter_and_a_third_makes_three() {
    let mut nodes = cluster(2, 1);
    let learner = nodes[1].node_id();
    eventually(Duration::from_secs(30), "the second node a learner", || {
        cluster_json(&nodes[0])["learners"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == learner.as_str()))
    });
    // Caught up and healthy for a while, and still not promoted.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(voters(&nodes[0]).len(), 1, "{}", cluster_json(&nodes[0]));
    // Stopping the learner stops nothing.
    nodes[1].kill9();
    let id = nodes[0].submit(&["--", "true"]);
    nodes[0].ok(&["wait", "--timeout", "20s", &id.to_string()]);
    nodes[1].start();
    let _third = join(
        &nodes[0].home.join("cluster.bundle"),
        &nodes[0].addr(),
        1,
        |_| {},
    );
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
}

/// A write that cannot commit (no quorum) ends after --commit-timeout with exit 5,
/// says it may still be committed and how to retry safely; it does commit once the
/// voters are back, and the suggested retry finds that job instead of a second one.
#[test]
fn a_write_without_quorum_times_out_and_its_retry_is_safe() {
    let mut nodes = cluster(3, 1);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let leader = leader_of(&nodes[0]).unwrap();
    let li = nodes.iter().position(|n| n.node_id() == leader).unwrap();
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != li {
            n.kill9();
        }
    }
    let marker = nodes[li].dir.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    let t0 = Instant::now();
    let out = nodes[li].shoal(&["submit", "--commit-timeout", "2s", "--shell", &cmd]);
    let took = t0.elapsed();
    let err = common::stderr(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(err.contains("not committed within 2 s"), "{err}");
    assert!(err.contains("no quorum: 1 of 3 voters reachable"), "{err}");
    assert!(err.contains("may still be committed later"), "{err}");
    let key = err
        .split_whitespace()
        .skip_while(|w| *w != "--dedup-key")
        .nth(1)
        .unwrap_or_else(|| panic!("no --dedup-key hint in {err}"))
        .to_string();
    assert!(key.starts_with("auto-"), "{key}");

    for (i, n) in nodes.iter_mut().enumerate() {
        if i != li {
            n.start();
        }
    }
    eventually(
        Duration::from_secs(30),
        "the timed-out write committed",
        || marker.exists(),
    );
    let retry = nodes[li].ok(&["submit", "--dedup-key", &key, "--shell", &cmd]);
    let jobs: serde_json::Value = serde_json::from_str(&nodes[li].ok(&["list", "--json"])).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 1, "a second job: {jobs:?}");
    assert_eq!(jobs[0]["id"].as_u64().unwrap().to_string(), retry.trim());
}

/// Every node sees every live node's advert (the gossip mesh spans all members,
/// followers included), on 3 and on 5 nodes.
#[test]
fn every_node_sees_every_live_node() {
    for n in [3, 5] {
        let nodes = cluster(n, 1);
        let ids: HashSet<String> = nodes.iter().map(TestNode::node_id).collect();
        for (i, node) in nodes.iter().enumerate() {
            eventually(
                Duration::from_secs(30),
                &format!("node {i} of {n} sees all {n} alive"),
                || {
                    let rows: serde_json::Value =
                        serde_json::from_str(&node.ok(&["nodes", "--json"])).unwrap();
                    let alive: HashSet<String> = rows
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|r| r["alive"] == true)
                        .filter_map(|r| r["id"].as_str().map(String::from))
                        .collect();
                    alive == ids
                },
            );
        }
    }
}

/// `logs` of a job whose node is gone: the record's head and tail, the reason naming
/// the node on stderr, exit 9; `--attempt` picks an attempt and names a missing one.
#[test]
fn logs_of_a_dead_nodes_job_show_what_the_record_keeps() {
    let mut nodes = cluster(3, 1);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let leader = leader_of(&nodes[0]).expect("leader");
    let ti = nodes.iter().position(|n| n.node_id() != leader).unwrap();
    let target = nodes[ti].node_id();
    for n in &nodes {
        if n.node_id() != target {
            nodes[0].ok(&["drain", &n.node_id()]);
        }
    }
    let id = nodes[0].submit(&["--", "seq", "1", "2000"]);
    nodes[0].ok(&["wait", "--timeout", "30s", &id.to_string()]);
    assert_eq!(nodes[0].status(id)["node"], target.as_str());
    let full: String = (1..=2000).map(|i| format!("{i}\n")).collect();
    let reader = (ti + 1) % 3;
    assert_eq!(nodes[reader].ok(&["logs", &id.to_string()]), full);
    assert_eq!(
        nodes[reader].ok(&["logs", "--attempt", "1", &id.to_string()]),
        full
    );
    let none = nodes[reader].shoal(&["logs", "--attempt", "2", &id.to_string()]);
    assert_eq!(code(&none), 3, "{}", common::stderr(&none));
    assert!(
        common::stderr(&none).contains(&format!("job {id} has no attempt 2")),
        "{}",
        common::stderr(&none)
    );

    // The reader may have joined a moment ago: let it hear the node first.
    eventually(Duration::from_secs(20), "the reader sees the node", || {
        nodes[reader]
            .ok(&["nodes"])
            .lines()
            .any(|l| l.starts_with(&target) && l.contains(" yes "))
    });
    nodes[ti].kill9();
    let out = nodes[reader].shoal(&["logs", &id.to_string()]);
    let err = common::stderr(&out);
    assert_eq!(code(&out), 9, "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1\n2\n3\n"), "{text}");
    assert!(text.ends_with("1999\n2000\n"), "{text}");
    assert!(text.contains("bytes not kept]"), "{text}");
    assert!(
        err.contains(&format!("on node {target}")) && err.contains("cannot be reached"),
        "{err}"
    );
    assert!(err.contains("first and last KiB"), "{err}");
    assert!(!err.contains("cluster unavailable"), "{err}");

    // `nodes` says how long the dead node has been gone.
    let row = || {
        nodes[reader]
            .ok(&["nodes"])
            .lines()
            .find(|l| l.starts_with(&target))
            .map(String::from)
            .unwrap_or_default()
    };
    eventually(Duration::from_secs(30), "the node shown gone", || {
        row().contains("no, gone ")
    });
    let json: serde_json::Value =
        serde_json::from_str(&nodes[reader].ok(&["nodes", "--json"])).unwrap();
    let dead = json
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == target.as_str())
        .expect("the dead node is listed");
    assert_eq!(dead["alive"], false, "{dead}");
    assert!(
        dead["last_seen_ms_ago"].as_u64().unwrap() >= 7_000,
        "{dead}"
    );
}

/// The genesis node loses its disk (issue 15): started again, it refuses (exit 6),
/// naming `--rejoin`, instead of bootstrapping a second cluster; `--rejoin` makes it a
/// new member of the running cluster, which still has every acknowledged job, and the
/// cluster replaces its old id as a voter.
#[test]
fn a_wiped_genesis_refuses_to_start_and_rejoins_with_no_job_lost() {
    let grace = |toml: &std::path::Path| {
        let t = std::fs::read_to_string(toml).unwrap();
        std::fs::write(
            toml,
            t.replace("voter_grace_ms = 30000", "voter_grace_ms = 2000"),
        )
        .unwrap();
    };
    let mut nodes = cluster_with(3, 1, grace);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let ids: Vec<u64> = (0..20).map(|_| nodes[1].submit(&["--", "true"])).collect();
    let mut wait = vec!["wait".to_string(), "--timeout".into(), "60s".into()];
    wait.extend(ids.iter().map(|i| i.to_string()));
    nodes[1].ok(&wait.iter().map(String::as_str).collect::<Vec<_>>());
    let record = nodes[0].home.join("member.json");
    eventually(
        Duration::from_secs(15),
        "the genesis records its membership",
        || std::fs::read_to_string(&record).is_ok_and(|t| t.contains("stored_index_at_least")),
    );
    let old_id = nodes[0].node_id();
    assert!(nodes[0].stop().success());
    std::fs::remove_dir_all(nodes[0].home.join("db")).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["node", "--home"])
        .arg(&nodes[0].home)
        .args(["--no-mdns", "--listen", shoal_testkit::listen::ANY_LOOPBACK])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 6, "{err}");
    assert!(err.contains("--rejoin"), "names the recovery: {err}");
    assert!(!nodes[0].home.join("db").exists(), "nothing was created");

    let via = nodes[1].addr();
    nodes[0]
        .node_args
        .extend(["--rejoin".into(), "--bootstrap".into(), via]);
    nodes[0].expect_leader = false;
    nodes[0].start();
    let new_id = nodes[0].node_id();
    assert_ne!(new_id, old_id, "a new member, under a new id");
    let kept = std::fs::read_dir(&nodes[0].home)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("lost-"))
        .expect("the old identity's files are kept in lost-*");
    assert!(kept.path().join("member.json").exists());
    for id in &ids {
        let out = nodes[0].ok(&["status", "--consistent", &id.to_string()]);
        assert!(out.contains("succeeded"), "job {id}: {out}");
    }
    eventually(
        Duration::from_secs(60),
        "the old id replaced as a voter",
        || {
            let v = voters(&nodes[1]);
            v.len() == 3 && v.contains(&new_id) && !v.contains(&old_id)
        },
    );
    // A whole database is never set aside.
    assert!(nodes[0].stop().success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["node", "--rejoin", "--home"])
        .arg(&nodes[0].home)
        .args(["--no-mdns", "--listen", shoal_testkit::listen::ANY_LOOPBACK])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 5, "{err}");
    assert!(err.contains("is whole"), "{err}");
}

/// `shoal node remove`: refused for a live node; a dead one leaves the membership
/// (the voter set stays odd), and started again it is cut off: no membership, no
/// work.
#[test]
fn a_removed_node_leaves_for_good() {
    let mut nodes = cluster(3, 1);
    eventually(Duration::from_secs(30), "3 voters", || {
        voters(&nodes[0]).len() == 3
    });
    let leader = leader_of(&nodes[0]).expect("leader");
    let vi = nodes.iter().position(|n| n.node_id() != leader).unwrap();
    let gone = nodes[vi].node_id();
    let ai = (0..3).find(|i| *i != vi).unwrap();
    let live = nodes[ai].shoal(&["node", "remove", &gone]);
    assert_ne!(code(&live), 0, "a live node was removed");
    assert!(
        common::stderr(&live).contains("is alive"),
        "{}",
        common::stderr(&live)
    );

    nodes[vi].kill9();
    let took = eventually(Duration::from_secs(30), "the dead node removed", || {
        nodes[ai].shoal(&["node", "remove", &gone]).status.success()
    });
    eprintln!("removed {took:?} after kill -9");
    eventually(Duration::from_secs(30), "out of the membership", || {
        let c = cluster_json(&nodes[ai]);
        let all: Vec<String> = ["voters", "learners"]
            .iter()
            .flat_map(|k| c[k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        !all.contains(&gone)
    });
    let v = voters(&nodes[ai]);
    assert_eq!(v.len() % 2, 1, "an even voter set: {v:?}");
    let again = nodes[ai].ok(&["node", "remove", &gone]);
    assert!(again.contains("removed already"), "{again}");

    // Started again, it is cut off: never a member, and jobs run elsewhere.
    nodes[vi].spawn();
    std::thread::sleep(Duration::from_secs(3));
    let ids: Vec<u64> = (0..5).map(|_| nodes[ai].submit(&["--", "true"])).collect();
    let mut wait = vec!["wait".to_string(), "--timeout".into(), "30s".into()];
    wait.extend(ids.iter().map(|i| i.to_string()));
    nodes[ai].ok(&wait.iter().map(String::as_str).collect::<Vec<_>>());
    for id in ids {
        let node = nodes[ai].status(id)["node"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert_ne!(node, gone, "job {id} ran on the removed node");
    }
    let c = cluster_json(&nodes[ai]);
    assert!(
        !c.to_string().contains(&gone),
        "the removed node is back: {c}"
    );
}

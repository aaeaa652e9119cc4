//! Submitting, inspecting and waiting for jobs through the CLI of a one-node cluster.

mod common;

use common::{code, eventually, marker_processes, TestNode};
use std::time::Duration;

#[test]
fn submit_then_logs_prints_the_output() {
    let n = TestNode::started(2);
    let id = n.submit(&["--", "echo", "hi"]);
    assert_eq!(
        n.ok(&["wait", &id.to_string()]).trim(),
        format!("{id} succeeded (exit 0)")
    );
    assert_eq!(n.ok(&["logs", &id.to_string()]), "hi\n");
    let s = n.status(id);
    assert_eq!(s["state"], "succeeded");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["queue"], "default");
    assert_eq!(s["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(s["attempts"][0]["n"], 1);
    for field in [
        "id",
        "name",
        "state",
        "queue",
        "priority",
        "exit_code",
        "node",
        "submitted_at",
        "started_at",
        "ended_at",
        "attempts",
    ] {
        assert!(s.get(field).is_some(), "status lacks {field}: {s}");
    }
    for field in [
        "n",
        "node",
        "started_at",
        "ended_at",
        "exit_code",
        "signal",
        "fail_reason",
    ] {
        assert!(
            s["attempts"][0].get(field).is_some(),
            "attempt lacks {field}"
        );
    }
}

#[test]
fn submit_wait_exits_with_the_jobs_code_or_128_plus_signal() {
    let n = TestNode::started(2);
    let ok = n.shoal(&["submit", "--wait", "--", "true"]);
    assert_eq!(code(&ok), 0);
    let three = n.shoal(&["submit", "--wait", "--shell", "exit 3"]);
    assert_eq!(code(&three), 3, "{}", common::stderr(&three));
    let killed = n.shoal(&["submit", "--wait", "--shell", "kill -9 $$"]);
    assert_eq!(code(&killed), 137);
    let id: u64 = String::from_utf8_lossy(&killed.stdout)
        .trim()
        .parse()
        .unwrap();
    let s = n.status(id);
    assert_eq!(s["state"], "failed");
    assert_eq!(s["attempts"][0]["signal"], 9);
    assert_eq!(s["attempts"][0]["fail_reason"], "signaled");
}

#[test]
fn shell_env_cwd_name_and_job_variables_reach_the_job() {
    let n = TestNode::started(2);
    let dir = n.dir.path().to_str().unwrap().to_string();
    let id = n.submit(&[
        "--shell",
        "echo $FOO-$SHOAL_JOB_ID-$SHOAL_ATTEMPT | tr a-z A-Z; pwd; echo err >&2; test -n \"$SHOAL_NODE_ID\"",
        "--env",
        "FOO=bar",
        "--cwd",
        &dir,
        "--name",
        "my job",
    ]);
    n.ok(&["wait", &id.to_string()]);
    let out = n.ok(&["logs", &id.to_string()]);
    assert_eq!(out, format!("BAR-{id}-1\n{dir}\n"));
    assert_eq!(n.ok(&["logs", &id.to_string(), "--stderr"]), "err\n");
    assert_eq!(n.status(id)["name"], "my job");
}

#[test]
fn higher_priority_runs_first_and_fifo_among_equals() {
    let n = TestNode::started(1);
    let blocker = n.submit(&["--", "sleep", "1"]);
    let marker = n.dir.path().join("order");
    let m = marker.to_str().unwrap();
    let low = n.submit(&["--priority", "-5", "--shell", &format!("echo low >> {m}")]);
    let first = n.submit(&["--shell", &format!("echo a >> {m}")]);
    let second = n.submit(&["--shell", &format!("echo b >> {m}")]);
    let high = n.submit(&["-p", "10", "--shell", &format!("echo high >> {m}")]);
    let ids: Vec<String> = [blocker, low, first, second, high]
        .iter()
        .map(u64::to_string)
        .collect();
    let mut args = vec!["wait"];
    args.extend(ids.iter().map(String::as_str));
    n.ok(&args);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "high\na\nb\nlow\n"
    );
}

#[test]
fn timeout_kills_the_attempt_and_fails_the_job() {
    let n = TestNode::started(1);
    let out = n.shoal(&[
        "submit",
        "--wait",
        "--timeout",
        "300ms",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(code(&out), 128 + 15, "{}", common::stderr(&out));
    let id: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let s = n.status(id);
    assert_eq!(s["state"], "failed");
    assert_eq!(s["attempts"][0]["fail_reason"], "timed out");
}

#[test]
fn cancel_stops_queued_and_running_jobs() {
    let n = TestNode::started(1);
    let running = n.submit(&["--", "sleep", "60"]);
    let queued = n.submit(&["--", "sleep", "60"]);
    eventually(Duration::from_secs(20), "the first job running", || {
        n.status(running)["state"] == "running"
    });
    let out = n.ok(&["cancel", &running.to_string(), &queued.to_string()]);
    assert!(
        out.contains(&format!("{running} cancelled (killing")),
        "{out}"
    );
    assert!(out.contains(&format!("{queued} cancelled")), "{out}");
    let w = n.shoal(&[
        "wait",
        "--timeout",
        "20s",
        &running.to_string(),
        &queued.to_string(),
    ]);
    assert_eq!(code(&w), 1, "wait exits 1 when a job did not succeed");
    // The job is cancelled when the cancel commits; its attempt's end is recorded
    // when the supervisor reports the killed process (a moment later).
    assert_eq!(n.status(running)["state"], "cancelled");
    eventually(Duration::from_secs(20), "the killed attempt's end", || {
        !n.status(running)["attempts"][0]["ended_at"].is_null()
    });
    let s = n.status(running);
    assert_eq!(s["state"], "cancelled");
    assert_eq!(s["attempts"][0]["fail_reason"], "cancelled");
    assert_eq!(s["attempts"][0]["signal"], 15);
    assert_eq!(n.status(queued)["attempts"].as_array().unwrap().len(), 0);
    let again = n.ok(&["cancel", &queued.to_string()]);
    assert!(again.contains("already finished"));
}

#[test]
fn list_filters_by_state_and_json_is_an_array() {
    let n = TestNode::started(1);
    let a = n.submit(&["--", "true"]);
    let b = n.submit(&["--shell", "exit 1"]);
    n.shoal(&["wait", &a.to_string(), &b.to_string()]);
    let failed: serde_json::Value =
        serde_json::from_str(&n.ok(&["list", "--state", "failed", "--json"])).unwrap();
    let ids: Vec<u64> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![b]);
    let table = n.ok(&["list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn cluster_and_nodes_describe_the_single_node() {
    let n = TestNode::started(3);
    let c: serde_json::Value = serde_json::from_str(&n.ok(&["cluster", "--json"])).unwrap();
    assert_eq!(c["leader"], c["node_id"]);
    assert_eq!(c["voters"].as_array().unwrap().len(), 1);
    assert!(c["term"].as_u64().unwrap() >= 1);
    assert!(c["last_applied"].as_u64().is_some());
    let nodes: serde_json::Value = serde_json::from_str(&n.ok(&["nodes", "--json"])).unwrap();
    assert_eq!(nodes[0]["id"], c["node_id"]);
    assert_eq!(nodes[0]["raft_role"], "leader");
    assert_eq!(nodes[0]["slots"], 3);
    assert_eq!(nodes[0]["alive"], true);
}

#[test]
fn held_jobs_run_only_after_release() {
    let n = TestNode::started(2);
    let id = n.submit(&["--hold", "--", "echo", "released"]);
    let sid = id.to_string();
    assert_eq!(n.status(id)["state"], "held");
    // Still held after the worker had every chance to lease it.
    let waited = n.shoal(&["wait", "--timeout", "1s", &sid]);
    assert_eq!(code(&waited), 7, "{}", common::stderr(&waited));
    assert_eq!(n.status(id)["state"], "held");
    let listed = n.ok(&["list", "--state", "held", "--json"]);
    assert!(listed.contains(&format!("\"id\":{id}")), "{listed}");

    assert_eq!(n.ok(&["release", &sid]).trim(), format!("{id} released"));
    assert_eq!(
        n.ok(&["wait", &sid]).trim(),
        format!("{id} succeeded (exit 0)")
    );
    assert_eq!(n.ok(&["logs", &sid]), "released\n");
    assert_eq!(
        n.ok(&["release", &sid]).trim(),
        format!("{id} not held (left as it was)")
    );
    let missing = n.shoal(&["release", "999"]);
    assert_eq!(code(&missing), 3);
}

#[test]
fn concurrent_submits_each_get_their_own_job() {
    // Many submits at once go into shared raft entries (group commit); each must
    // still be acknowledged with its own id, and nothing may be lost or doubled.
    let n = TestNode::started(1);
    let ids: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let n = &n;
                s.spawn(move || n.submit(&["--hold", "--name", &format!("c{i}"), "--", "true"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 24, "duplicate ids among {ids:?}");
    let listed: serde_json::Value =
        serde_json::from_str(&n.ok(&["list", "--state", "held", "--json"])).unwrap();
    let mut names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..24).map(|i| format!("c{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn a_drained_node_takes_no_work_until_undrained() {
    let n = TestNode::started(1);
    assert!(n.ok(&["drain"]).contains("drained"));
    let nodes: serde_json::Value = serde_json::from_str(&n.ok(&["nodes", "--json"])).unwrap();
    assert_eq!(nodes[0]["drained"], true, "{nodes}");
    let id = n.submit(&["--", "true"]).to_string();
    let waited = n.shoal(&["wait", "--timeout", "1s", &id]);
    assert_eq!(code(&waited), 7, "a drained node ran a job");
    assert_eq!(n.status(id.parse().unwrap())["state"], "queued");
    assert!(n.ok(&["undrain"]).contains("undrained"));
    assert_eq!(
        n.ok(&["wait", "--timeout", "20s", &id]).trim(),
        format!("{id} succeeded (exit 0)")
    );
    let bad = n.shoal(&["drain", "not-a-node"]);
    assert_eq!(code(&bad), 2, "a bad argument is a usage error");
    assert!(
        common::stderr(&bad).contains("not a node id"),
        "{}",
        common::stderr(&bad)
    );
}

#[test]
fn logs_follow_prints_output_as_it_comes_until_the_job_ends() {
    let n = TestNode::started(1);
    let id = n
        .submit(&[
            "--shell",
            "for i in 1 2 3 4; do echo line $i; sleep 0.3; done",
        ])
        .to_string();
    let t0 = std::time::Instant::now();
    let out = n.ok(&["logs", "-f", &id]);
    assert_eq!(out, "line 1\nline 2\nline 3\nline 4\n");
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(600),
        "returned before the job ended"
    );
    assert_eq!(n.status(id.parse().unwrap())["state"], "succeeded");
}

#[test]
fn nodes_table_has_a_header_for_every_column() {
    let n = TestNode::started(1);
    let table = n.ok(&["nodes"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap().split_whitespace().count();
    let row = lines.next().unwrap().split_whitespace().count();
    assert_eq!(header, row, "{table}");
}

#[test]
fn a_dedup_key_makes_one_job_however_often_it_is_submitted() {
    let n = TestNode::started(2);
    let key = "report-2026-11-26";
    let first = n.submit(&["--dedup-key", key, "--", "true"]);
    // A retry with the same key and spec gets the same job, and says so.
    let again = n.shoal(&["submit", "--dedup-key", key, "--", "true"]);
    assert_eq!(code(&again), 0, "{}", common::stderr(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        first.to_string()
    );
    let note = common::stderr(&again);
    assert!(
        note.contains(&format!("job {first} was already submitted with dedup key")),
        "{note}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&n.ok(&["submit", "--json", "--dedup-key", key, "--", "true"]))
            .unwrap();
    assert_eq!(json["id"], first, "{json}");
    assert_eq!(json["duplicate"], true, "{json}");
    // A first submit is not a duplicate.
    let fresh: serde_json::Value =
        serde_json::from_str(&n.ok(&["submit", "--json", "--", "true"])).unwrap();
    assert_eq!(fresh["duplicate"], false, "{fresh}");
    // The same key for another job is refused, naming the first job and what differs.
    let other = n.shoal(&["submit", "--dedup-key", key, "--", "echo", "other"]);
    let err = common::stderr(&other);
    assert_eq!(code(&other), 5, "{err}");
    assert!(
        err.contains(&format!("already used by job {first}")) && err.contains("command"),
        "{err}"
    );
    assert!(!err.contains("array"), "not an array matter: {err}");
    let another = n.submit(&["--dedup-key", "report-2026-11-27", "--", "true"]);
    assert_ne!(another, first);
    let all: serde_json::Value = serde_json::from_str(&n.ok(&["list", "--json"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let bad = n.shoal(&["submit", "--dedup-key", "", "--", "true"]);
    assert_eq!(code(&bad), 2, "{}", common::stderr(&bad));
    assert!(common::stderr(&bad).contains("dedup key"));
}

/// A job handed to a node ahead of time (prefetch) is `leased` until its process
/// starts, `running` only while one runs, and its `started_at` is when it started.
#[test]
fn a_job_waiting_on_its_node_is_leased_and_its_start_time_is_real() {
    let n = TestNode::started(1);
    // A batch of short jobs turns prefetch on: the next jobs are leased early.
    for _ in 0..3 {
        let id = n.submit(&["--", "true"]);
        n.ok(&["wait", &id.to_string()]);
    }
    let marker = format!("leased-{}", std::process::id());
    let first = n.submit(&["--shell", &format!("sleep 2; : {marker}")]);
    eventually(Duration::from_secs(10), "the first job runs", || {
        n.status(first)["state"] == "running"
    });
    let waiting: Vec<u64> = (0..2)
        .map(|_| n.submit(&["--shell", &format!("sleep 1; : {marker}")]))
        .collect();
    eventually(Duration::from_secs(5), "the others are leased", || {
        waiting.iter().all(|id| n.status(*id)["state"] == "leased")
    });
    let s = n.status(waiting[0]);
    assert_eq!(s["node"], n.node_id(), "{s}");
    assert!(s["started_at"].is_null(), "not started yet: {s}");
    assert!(s["attempts"][0]["leased_at"].is_string(), "{s}");
    let text = n.ok(&["status", &waiting[0].to_string()]);
    assert!(text.contains("state:      leased (on node"), "{text}");
    assert!(text.contains("waiting to start"), "{text}");
    let list = n.ok(&["list"]);
    assert_eq!(list.matches(" running ").count(), 1, "{list}");
    assert_eq!(list.matches(" leased ").count(), 2, "{list}");
    assert_eq!(marker_processes(&marker), 1, "one slot, one process");
    for id in &waiting {
        n.ok(&["wait", &id.to_string()]);
    }
    let ms = |s: &serde_json::Value, field: &str| {
        let t = s[field].as_str().unwrap_or_else(|| panic!("{field}: {s}"));
        shoal_types::time::parse_rfc3339_ms(t).expect("an RFC 3339 time")
    };
    let a = n.status(first);
    let b = n.status(waiting[0]);
    let c = n.status(waiting[1]);
    // One slot: each started after the one before it had run its course.
    assert!(
        ms(&b, "started_at") >= ms(&a, "started_at") + 1_900,
        "{a}\n{b}"
    );
    assert!(
        ms(&c, "started_at") >= ms(&b, "started_at") + 900,
        "{b}\n{c}"
    );
    assert!(ms(&b, "started_at") >= ms(&b, "submitted_at"));
}

/// A node with a small test config: `edit` changes its shoal.toml after `init`.
fn node_with(edit: impl FnOnce(String) -> String) -> TestNode {
    let mut n = TestNode::new(1);
    let out = common::shoal_in(&n.home, &["init"]);
    assert!(out.status.success(), "init: {}", common::stderr(&out));
    let toml = n.home.join("shoal.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, edit(text)).unwrap();
    n.start();
    n
}

/// Output past the node's cap is cut with a marker line; the job is not held up
/// and its record still counts everything it printed.
#[test]
fn output_past_the_cap_is_cut_with_a_marker() {
    let n = node_with(|t| {
        assert!(t.contains("output_cap = \"1GiB\""), "{t}");
        t.replace("output_cap = \"1GiB\"", "output_cap = \"64KiB\"")
    });
    let id = n.submit(&["--shell", "head -c 1000000 /dev/zero | tr '\\0' x"]);
    assert_eq!(
        n.ok(&["wait", "--timeout", "30s", &id.to_string()]).trim(),
        format!("{id} succeeded (exit 0)")
    );
    let out = n.ok(&["logs", &id.to_string()]);
    assert!(out.starts_with(&"x".repeat(65_536)), "{}", &out[..100]);
    assert_eq!(
        out.len(),
        65_536 + shoal_supervisor::output::marker(65_536).len()
    );
    assert!(
        out.ends_with("the rest was dropped]\n"),
        "{}",
        &out[out.len() - 200..]
    );
    let file = n.home.join(format!("jobs/{id}/1.stdout"));
    assert_eq!(std::fs::metadata(file).unwrap().len(), out.len() as u64);
    assert_eq!(n.status(id)["attempts"][0]["stdout"]["bytes"], 1_000_000);
}

/// Below its disk reserve a node leases nothing and `nodes` says why.
#[test]
fn a_node_short_of_disk_takes_no_work_and_says_so() {
    let mut n = node_with(|t| {
        assert!(t.contains("disk_reserve = \"auto\""), "{t}");
        t.replace("disk_reserve = \"auto\"", "disk_reserve = \"1000000TiB\"")
    });
    common::eventually(Duration::from_secs(10), "disk low in nodes", || {
        let v: serde_json::Value = serde_json::from_str(&n.ok(&["nodes", "--json"])).unwrap();
        v[0]["disk_low"] == true
    });
    assert!(n.ok(&["nodes"]).contains("disk low"));
    let id = n.submit(&["--", "true"]).to_string();
    let waited = n.shoal(&["wait", "--timeout", "3s", &id]);
    assert_eq!(code(&waited), 7, "a node short of disk ran a job");
    assert_eq!(n.status(id.parse().unwrap())["state"], "queued");
    // With the reserve back to normal the queued job runs.
    assert!(n.stop().success());
    let toml = n.home.join("shoal.toml");
    let t = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, t.replace("1000000TiB", "1MiB")).unwrap();
    n.start();
    assert_eq!(
        n.ok(&["wait", "--timeout", "20s", &id]).trim(),
        format!("{id} succeeded (exit 0)")
    );
}

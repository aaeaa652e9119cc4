//! Job arrays through the CLI: `submit --array N` makes N tasks that run with their
//! own SHOAL_ARRAY_INDEX, and each task is a job of its own for status, logs and wait.

mod common;

use common::{code, TestNode};

#[test]
fn every_task_of_an_array_runs_with_its_index() {
    let n = TestNode::started(2);
    let out = n.ok(&[
        "submit",
        "--array",
        "20",
        "--",
        "sh",
        "-c",
        "echo $SHOAL_ARRAY_INDEX",
    ]);
    let ids: Vec<u64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(ids.len(), 20, "one id per task: {out}");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {ids:?}"
    );
    let args: Vec<String> = ids.iter().map(u64::to_string).collect();
    let mut wait = vec!["wait"];
    wait.extend(args.iter().map(String::as_str));
    let waited = n.ok(&wait);
    assert_eq!(waited.lines().count(), 20);
    assert!(
        waited.lines().all(|l| l.ends_with("succeeded (exit 0)")),
        "{waited}"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(n.ok(&["logs", &id.to_string()]), format!("{i}\n"));
        let s = n.status(*id);
        assert_eq!(s["array_index"], i as u64);
        assert_eq!(s["state"], "succeeded");
    }
}

#[test]
fn array_submit_json_wait_and_bad_sizes() {
    let n = TestNode::started(2);
    let out = n.ok(&["submit", "--json", "--array", "3", "--", "true"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["count"], 3);
    assert!(v["id"].as_u64().is_some());
    // --wait waits for every task and fails if one does.
    let failing = n.shoal(&[
        "submit",
        "--wait",
        "--array",
        "3",
        "--shell",
        "exit $SHOAL_ARRAY_INDEX",
    ]);
    assert_eq!(code(&failing), 1, "{}", common::stderr(&failing));
    // Cancel reaches one task alone.
    let held = n.ok(&["submit", "--hold", "--array", "2", "--", "true"]);
    let first = held.lines().next().unwrap().trim().to_string();
    n.ok(&["cancel", &first]);
    assert_eq!(n.status(first.parse().unwrap())["state"], "cancelled");
    let second: u64 = held.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(n.status(second)["state"], "held");
    for bad in ["0", "100001", "-1", "x"] {
        let o = n.shoal(&["submit", "--array", bad, "--", "true"]);
        assert_ne!(code(&o), 0, "--array {bad} was accepted");
        assert!(!common::stderr(&o).is_empty());
    }
}

#[test]
fn cancelling_prefetched_tasks_leaves_none_running_or_open() {
    let n = TestNode::started(2);
    let marks = n.dir.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let cmd = format!("touch {}/$SHOAL_ARRAY_INDEX; sleep 0.2", marks.display());
    let out = n.ok(&["submit", "--array", "40", "--shell", &cmd]);
    let ids: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    // Once the first short tasks have finished the worker prefetches; cancel the
    // tail while some of it is leased but not started.
    common::eventually(
        std::time::Duration::from_secs(20),
        "the first tasks done",
        || std::fs::read_dir(&marks).unwrap().count() >= 3,
    );
    let mut cancel = vec!["cancel"];
    cancel.extend(ids[10..].iter().map(String::as_str));
    n.ok(&cancel);
    let mut wait = vec!["wait", "--timeout", "60s"];
    wait.extend(ids.iter().map(String::as_str));
    let _ = n.shoal(&wait);
    for (i, id) in ids.iter().enumerate() {
        let s = n.status(id.parse().unwrap());
        let state = s["state"].as_str().unwrap().to_string();
        let attempts = s["attempts"].as_array().unwrap();
        let ran = marks.join(i.to_string()).exists();
        if i < 10 {
            assert_eq!(state, "succeeded", "task {i}: {s}");
            continue;
        }
        assert_eq!(state, "cancelled", "task {i}: {s}");
        // Leased or not, every attempt of a cancelled task has ended; one that never
        // ran must not have a process behind it.
        for a in attempts {
            assert!(
                !a["ended_at"].is_null(),
                "task {i} has an open attempt: {s}"
            );
        }
        if !ran {
            assert!(
                attempts.iter().all(|a| a["exit_code"].is_null()),
                "task {i} never ran but has an exit code: {s}"
            );
        }
    }
}

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
    // Cancel reaches one task alone with --task.
    let held = n.ok(&["submit", "--hold", "--array", "2", "--", "true"]);
    let first = held.lines().next().unwrap().trim().to_string();
    n.ok(&["cancel", &first, "--task", "0"]);
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

/// Ids as ranges and lists; an array's first id names all its tasks in cancel,
/// release and wait, `--task` picks some; `list` shows the task index.
#[test]
fn ranges_lists_and_array_ids_name_the_jobs_they_say() {
    let n = TestNode::started(2);
    let held: Vec<u64> = (0..3)
        .map(|_| n.submit(&["--hold", "--", "true"]))
        .collect();
    let (a, c) = (held[0], held[2]);
    let range = format!("{a}-{c}");
    let all: serde_json::Value =
        serde_json::from_str(&n.ok(&["status", "--json", &range])).unwrap();
    let ids: Vec<u64> = all
        .as_array()
        .expect("a range prints a list")
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, held);
    let text = n.ok(&["status", &format!("{a},{c}")]);
    assert_eq!(text.matches("state:      held").count(), 2, "{text}");
    // One plain id still prints one object.
    assert_eq!(n.status(a)["id"], a);
    let released = n.ok(&["release", &format!("{a}-{}", held[1])]);
    assert_eq!(released, format!("{a} released\n{} released\n", held[1]));
    assert_eq!(
        n.ok(&["cancel", &c.to_string()]),
        format!("{c} cancelled\n")
    );

    // A held array of four: --task picks tasks, the first id names them all.
    let out = n.ok(&["submit", "--hold", "--array", "4", "--", "true"]);
    let tasks: Vec<u64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    let f = tasks[0];
    let text = n.ok(&["status", &f.to_string()]);
    assert!(
        text.contains(&format!("task 0 of 4 (ids {f}-{}", f + 3)),
        "{text}"
    );
    let picked = n.ok(&["cancel", &f.to_string(), "--task", "1,3"]);
    assert_eq!(
        picked,
        format!("{} cancelled\n{} cancelled\n", f + 1, f + 3)
    );
    let list = n.ok(&["list"]);
    assert!(list.lines().next().unwrap().contains("TASK"), "{list}");
    let row = list
        .lines()
        .find(|l| l.starts_with(&format!("{} ", f + 2)))
        .unwrap_or_else(|| panic!("no row for {}: {list}", f + 2));
    assert!(
        row.split_whitespace().any(|w| w == "2"),
        "task index: {row}"
    );
    let whole = n.ok(&["release", &f.to_string()]);
    assert_eq!(
        whole,
        format!(
            "{f} released\n{} not held (left as it was)\n{} released\n{} not held (left as it was)\n",
            f + 1,
            f + 2,
            f + 3
        )
    );
    let w = n.shoal(&["wait", "--timeout", "30s", &f.to_string()]);
    assert_eq!(code(&w), 1, "not all succeeded: {}", common::stderr(&w));
    let waited = String::from_utf8_lossy(&w.stdout);
    assert_eq!(waited.lines().count(), 4, "every task waited for: {waited}");
    assert_eq!(waited.matches("succeeded").count(), 2, "{waited}");
    assert_eq!(waited.matches("cancelled").count(), 2, "{waited}");

    // Mistakes are named and change nothing.
    for (args, why) in [
        (vec!["cancel", "9-3"], "runs backwards"),
        (vec!["cancel", "x"], "not a job id"),
        (vec!["cancel", "1-200000"], "at most 100000"),
    ] {
        let o = n.shoal(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(
            common::stderr(&o).contains(why),
            "{args:?}: {}",
            common::stderr(&o)
        );
    }
    let plain = n.shoal(&["cancel", &a.to_string(), "--task", "0"]);
    assert_eq!(code(&plain), 2);
    assert!(
        common::stderr(&plain).contains("is not a job array"),
        "{}",
        common::stderr(&plain)
    );
    let beyond = n.shoal(&["cancel", &f.to_string(), "--task", "4"]);
    assert_eq!(code(&beyond), 2);
    assert!(
        common::stderr(&beyond).contains("has 4 tasks (indexes 0-3); there is no task 4"),
        "{}",
        common::stderr(&beyond)
    );
    let inner = n.shoal(&["cancel", &(f + 1).to_string(), "--task", "0"]);
    assert!(
        common::stderr(&inner).contains(&format!("is task 1 of array {f}")),
        "{}",
        common::stderr(&inner)
    );
}

//! Bad input gets a clear message, a non-zero exit, and loses nothing.

mod common;

use common::{code, shoal_in, stderr, TestNode};

#[test]
fn command_line_mistakes_exit_2_with_a_message() {
    let n = TestNode::started(1);
    let unknown = n.shoal(&["submit", "--bogus", "--", "true"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("--bogus"), "{}", stderr(&unknown));

    let nothing = n.shoal(&["submit"]);
    assert_eq!(code(&nothing), 2);
    assert!(
        stderr(&nothing).contains("no command"),
        "{}",
        stderr(&nothing)
    );

    let prio = n.shoal(&["submit", "--priority", "high", "--", "true"]);
    assert_eq!(code(&prio), 2);
    assert!(stderr(&prio).contains("high"), "{}", stderr(&prio));

    let env = n.shoal(&["submit", "--env", "A;B=1", "--", "true"]);
    assert_eq!(code(&env), 2);
    assert!(stderr(&env).contains("environment key"), "{}", stderr(&env));

    for n_lost in ["0", "101"] {
        let lost = n.shoal(&["submit", "--max-lost", n_lost, "--", "true"]);
        assert_eq!(code(&lost), 2);
        assert!(
            stderr(&lost).contains("between 1 and 100"),
            "{}",
            stderr(&lost)
        );
    }

    // One argument is capped at 128 KiB by the kernel: reach the 1 MiB spec limit
    // with ten environment values of 110 KB each.
    let big: Vec<String> = (0..10)
        .map(|i| format!("K{i}={}", "x".repeat(110_000)))
        .collect();
    let mut args = vec!["submit"];
    for kv in &big {
        args.extend(["--env", kv.as_str()]);
    }
    args.extend(["--", "true"]);
    let large = n.shoal(&args);
    assert_eq!(code(&large), 2);
    assert!(
        stderr(&large).contains("over the limit"),
        "{}",
        stderr(&large)
    );

    // Nothing of the above reached the log.
    let jobs: serde_json::Value = serde_json::from_str(&n.ok(&["list", "--json"])).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 0);
}

#[test]
fn unknown_job_ids_exit_3() {
    let n = TestNode::started(1);
    for args in [
        vec!["status", "999"],
        vec!["logs", "999"],
        vec!["wait", "999"],
    ] {
        let out = n.shoal(&args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("job 999 not found"),
            "{}",
            stderr(&out)
        );
    }
    // Errors go to stderr in the one format; stdout keeps only the answers.
    let ok = n.submit(&["--hold", "--", "true"]);
    for cmd in ["cancel", "release"] {
        let out = n.shoal(&[cmd, "999", &ok.to_string()]);
        assert_eq!(code(&out), 3, "{cmd}");
        assert!(
            stderr(&out).contains("shoal: job 999 not found"),
            "{cmd}: {}",
            stderr(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("999"), "{cmd}: {stdout}");
        assert!(stdout.contains(&ok.to_string()), "{cmd}: {stdout}");
    }
    let bad = n.shoal(&["status", "abc"]);
    assert_eq!(code(&bad), 2);
}

#[test]
fn missing_home_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("nope");
    let out = shoal_in(&home, &["submit", "--", "true"]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("shoal init"), "{}", stderr(&out));
    assert!(!home.exists(), "a client command must not create a home");
}

#[test]
fn node_not_running_is_reported() {
    let n = TestNode::new(1);
    let init = n.shoal(&["init"]);
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(
        said.contains("peer id:    12D3Koo"),
        "init names the libp2p identity: {said}"
    );
    let out = n.shoal(&["status", "1"]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("shoal node"), "{}", stderr(&out));
}

#[test]
fn init_twice_refuses_and_changes_nothing() {
    let n = TestNode::new(1);
    assert_eq!(code(&n.shoal(&["init"])), 0);
    let before = std::fs::read(n.home.join("private/node.key")).unwrap();
    let again = n.shoal(&["init"]);
    assert_ne!(code(&again), 0);
    assert!(
        stderr(&again).contains("already holds a Shoal home"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(n.home.join("private/node.key")).unwrap(),
        before
    );
}

#[test]
fn a_second_node_on_the_same_home_is_refused() {
    let n = TestNode::started(1);
    let out = n.shoal(&["node"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("another"), "{}", stderr(&out));
    // The first node still serves.
    n.ok(&["cluster"]);
}

#[test]
fn a_corrupt_database_is_reported_and_left_untouched() {
    let mut n = TestNode::started(1);
    let id = n.submit(&["--", "true"]);
    n.ok(&["wait", &id.to_string()]);
    assert!(n.stop().success());
    let db = n.home.join("db");
    let current = std::fs::read_to_string(db.join("CURRENT")).unwrap();
    let manifest = db.join(current.trim());
    std::fs::write(&manifest, b"this is not a manifest").unwrap();
    let listing = |p: &std::path::Path| {
        // RocksDB's own diagnostic log (LOG, LOG.old.*) rotates on every open attempt;
        // every data file must stay as it was.
        let mut v: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("LOG"))
            .collect();
        v.sort();
        v
    };
    let before = listing(&db);
    let out = n.shoal(&["node"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("corrupt") || msg.contains("Corruption"),
        "{msg}"
    );
    assert_eq!(listing(&db), before, "nothing deleted or moved");
    assert_eq!(std::fs::read(&manifest).unwrap(), b"this is not a manifest");
}

#[test]
fn an_unusable_database_path_is_reported_and_left_alone() {
    let mut n = TestNode::started(1);
    assert!(n.stop().success());
    // Replace the database directory with a plain file: RocksDB cannot open it (the
    // same path as an unreadable disk). Works as root too, unlike chmod.
    let db = n.home.join("db");
    std::fs::rename(&db, n.home.join("db.saved")).unwrap();
    std::fs::write(&db, b"not a database").unwrap();
    let out = n.shoal(&["node"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("db"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&db).unwrap(), b"not a database");
}

#[test]
fn a_network_failure_exits_8_not_6() {
    // 192.0.2.1 (TEST-NET-1) is on no interface: it cannot be bound. The store and
    // home are fine, so this is not exit 6.
    let n = TestNode::new(1);
    let out = n.shoal(&["node", "--no-mdns", "--listen", "/ip4/192.0.2.1/tcp/7420"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stderr(&out).contains("network"), "{}", stderr(&out));
}

/// A second node started on the port of a running one fails at once, naming the
/// port, instead of binding beside it (libp2p's listeners share a port through
/// SO_REUSEPORT).
#[test]
fn a_second_node_on_a_taken_port_fails_and_names_it() {
    let first = TestNode::started(1);
    let addr = first.addr();
    let port = shoal_testkit::listen::tcp_port(&addr).unwrap();
    for listen in [addr.clone(), format!("/ip4/0.0.0.0/tcp/{port}")] {
        let second = TestNode::new(1);
        let out = second.shoal(&["node", "--no-mdns", "--listen", &listen]);
        let err = stderr(&out);
        assert_eq!(code(&out), 8, "{listen}: {err}");
        assert!(
            err.contains(&format!(
                "port {port} is in use (by another Shoal node?) — pass --listen"
            )),
            "{listen}: {err}"
        );
        // Nothing was left running for the second home.
        assert!(!second.home.join("shoal.sock").exists(), "{listen}");
    }
    // The first node is untouched.
    first.ok(&["cluster"]);
}

/// Durations take the units people write; a bare number is an error that says to
/// add one, and the job's timeout shows in `status`.
#[test]
fn durations_need_a_unit_and_take_common_forms() {
    let n = TestNode::started(1);
    let out = n.shoal(&["submit", "--timeout", "30", "--", "true"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no unit"), "{}", stderr(&out));
    for t in ["90s", "5min", "1h30m", "2sec"] {
        let out = n.shoal(&["submit", "--timeout", t, "--", "true"]);
        assert_eq!(code(&out), 0, "--timeout {t}: {}", stderr(&out));
    }
    let id = n.submit(&["--timeout", "1h30m", "--", "true"]);
    let s = n.status(id);
    assert_eq!(s["timeout_ms"], 5_400_000, "{s}");
    assert!(
        n.ok(&["status", &id.to_string()]).contains("1h 30m"),
        "the timeout in status"
    );
    let out = n.shoal(&["wait", "--timeout", "5", &id.to_string()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // The node's log went to a file: plain text, no colour codes.
    let log = n.log();
    assert!(log.contains("node running"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file");
}

/// The hint after `init --home X` starts that home, not the default one.
#[test]
fn init_hint_names_the_home() {
    let n = TestNode::new(1);
    let out = n.shoal(&["init"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("`shoal node --home {}`", n.home.display())),
        "{text}"
    );
}

/// A home that was a member refuses to start on a missing or emptied database (a
/// genesis home would otherwise bootstrap a second cluster and acknowledge jobs alone),
/// names the recovery, and changes nothing.
#[test]
fn a_member_home_without_its_database_refuses_to_start() {
    let mut n = TestNode::started(1);
    let id = n.submit(&["--", "true"]);
    n.ok(&["wait", &id.to_string()]);
    let record = n.home.join("member.json");
    common::eventually(
        std::time::Duration::from_secs(10),
        "the membership recorded",
        || std::fs::read_to_string(&record).is_ok_and(|t| t.contains("stored_index_at_least")),
    );
    assert!(n.stop().success());
    let db = n.home.join("db");
    std::fs::rename(&db, n.home.join("db.moved")).unwrap();
    for round in ["missing", "emptied"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["node", "--home"])
            .arg(&n.home)
            .args(["--no-mdns", "--listen", shoal_testkit::listen::ANY_LOOPBACK])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 6, "{round}: {err}");
        assert!(err.contains("is missing or empty"), "{round}: {err}");
        assert!(err.contains("--rejoin"), "names the recovery: {err}");
        if round == "missing" {
            assert!(!db.exists(), "nothing was created");
            // An empty store where the database was (what a fresh open makes): no
            // raft state in it.
            drop(shoal_raft_store::open(&db).expect("an empty store"));
        }
    }
    // The database put back: the node starts and still knows its job.
    std::fs::remove_dir_all(&db).unwrap();
    std::fs::rename(n.home.join("db.moved"), &db).unwrap();
    n.start();
    assert_eq!(n.status(id)["state"], "succeeded");
}

/// A log shorter than the node had recorded storing (the disk dropped confirmed
/// writes; here the record is raised past the log's end, which the node cannot tell
/// apart) is refused at start, naming `--rejoin`, and nothing is changed.
#[test]
fn a_log_behind_its_membership_record_refuses_to_start() {
    let mut n = TestNode::started(1);
    let id = n.submit(&["--", "true"]);
    n.ok(&["wait", &id.to_string()]);
    let record = n.home.join("member.json");
    common::eventually(
        std::time::Duration::from_secs(10),
        "the membership recorded",
        || std::fs::read_to_string(&record).is_ok_and(|t| t.contains("stored_index_at_least")),
    );
    assert!(n.stop().success());
    let text = std::fs::read_to_string(&record).unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    rec["stored_index_at_least"] = serde_json::json!(1_000_000);
    std::fs::write(&record, rec.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["node", "--home"])
        .arg(&n.home)
        .args(["--no-mdns", "--listen", shoal_testkit::listen::ANY_LOOPBACK])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 6, "{err}");
    assert!(err.contains("lost writes"), "{err}");
    assert!(err.contains("--rejoin"), "{err}");
    // Put right, the node starts and still knows its job.
    std::fs::write(&record, text).unwrap();
    n.start();
    assert_eq!(n.status(id)["state"], "succeeded");
}

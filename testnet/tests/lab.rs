//! `shoal-testnet up`, `status` and `down` driven as a user would, with the built
//! `shoal` binaries next to `shoal-testnet`.

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
fn up_status_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("tn");
    let d = d.to_str().unwrap();
    let (ok, out, err) = run(&["up", "2", "--dir", d]);
    assert!(ok, "up failed: {out}{err}");
    let (ok, status, err) = run(&["status", "--dir", d]);
    assert!(ok, "{err}");
    assert_eq!(status.lines().count(), 3, "{status}");
    assert_eq!(status.matches("leader").count(), 1, "{status}");
    assert!(!status.contains(" no "), "a node is not alive: {status}");
    let (ok, _, err) = run(&["up", "2", "--dir", d]);
    assert!(!ok && err.contains("already up"), "{err}");
    let (ok, _, err) = run(&["down", "--dir", d]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["status", "--dir", d]);
    assert!(!ok && err.contains("no testnet"), "{err}");
    let (ok, list, _) = run(&["scenarios"]);
    assert!(ok && list.contains("leader-kill") && list.contains("bad-peer"));
}

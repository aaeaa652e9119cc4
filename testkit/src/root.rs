//! Tests that need root (network namespaces, nftables, cgroups, other users).
//!
//! CI runs as root, so they run there. Elsewhere [`needs_root`] reports the skip
//! instead of passing silently: on stderr, and as a line in the file named by
//! `SHOAL_SKIPPED_LOG` (which `scripts/test` prints at the end). With
//! `SHOAL_REQUIRE_ROOT_TESTS=1` a skip is a failure instead.

use std::io::Write;

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when the calling test can run (root); otherwise reports `test` as skipped
/// because of `why` and returns false, and the test should return.
pub fn needs_root(test: &str, why: &str) -> bool {
    if is_root() {
        return true;
    }
    let line = format!("SKIPPED (not root) {test}: {why}");
    if std::env::var_os("SHOAL_REQUIRE_ROOT_TESTS").is_some_and(|v| v == "1") {
        panic!("{line}; SHOAL_REQUIRE_ROOT_TESTS=1 makes that a failure");
    }
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("SHOAL_SKIPPED_LOG") {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            panic!("cannot record the skip in {path:?}: {e}");
        }
    }
    false
}

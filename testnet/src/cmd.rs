//! Running system tools (ip, mount, mkfs) with their stderr in the error.

use std::process::Command;

use anyhow::{bail, Context};

/// Runs `cmd ARGS` and waits; fails with its stderr when it fails.
pub fn run(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {cmd}"))?;
    if !out.status.success() {
        bail!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

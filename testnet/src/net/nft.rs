//! Running nftables scripts, on the host or inside a namespace.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::Context;

/// Runs `script` with `nft -f -`, inside namespace `ns` when given.
pub fn run(ns: Option<&str>, script: &str) -> anyhow::Result<()> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft"]);
            c
        }
        None => Command::new("nft"),
    };
    let mut child = cmd
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run nft (apt-get install nftables)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "nft{}: {}: {}",
        ns.map(|n| format!(" in {n}")).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim(),
        script.trim()
    );
    Ok(())
}

//! `shoal node`: replace this process with `shoal-node`, the binary that carries the
//! node runtime (and RocksDB), found next to `shoal`. The arguments pass unchanged.

use std::os::unix::process::CommandExt;

use crate::error::CliError;

/// Only returns on failure.
pub fn exec_node() -> CliError {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return CliError::Io(e),
    };
    let node = exe.with_file_name("shoal-node");
    if !node.is_file() {
        return CliError::Install(format!(
            "`shoal node` runs {}, which is missing: install shoal-node next to shoal \
             (scripts/run installs shoal, shoal-node and shoal-supervisor together)",
            node.display()
        ));
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "shoal".into());
    let err = std::process::Command::new(&node)
        .arg0(arg0)
        .args(args)
        .exec();
    CliError::Install(format!("cannot run {}: {err}", node.display()))
}

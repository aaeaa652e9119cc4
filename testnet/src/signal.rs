//! Signals to the node processes the testnet starts, through nix (no `unsafe`).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends signal number `sig` (`libc::SIGSTOP`, …) to `pid`; a process that is gone
/// already is not an error. A number that names no signal is ignored with a warning.
pub fn send(pid: i32, sig: i32) {
    match Signal::try_from(sig) {
        Ok(s) => {
            let _ = kill(Pid::from_raw(pid), s);
        }
        Err(e) => eprintln!("shoal-testnet: signal {sig}: {e}"),
    }
}

/// Whether a process with this pid exists (and is ours to signal).
pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

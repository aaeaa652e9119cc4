//! Signals to processes under test, through nix (no `unsafe` in the tests).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends signal number `sig` (e.g. `libc::SIGSTOP`) to `pid`. A process that is
/// already gone is not an error; a number that names no signal is.
pub fn signal(pid: u32, sig: i32) {
    let sig = Signal::try_from(sig).unwrap_or_else(|e| panic!("signal {sig}: {e}"));
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

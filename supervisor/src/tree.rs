//! Everything a job started, even what left its process group (`setsid`, daemonizing
//! tools, some MPI launchers). The supervisor is a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`): a job's orphaned descendants are re-parented to it
//! instead of to init, so every process a job started stays in the supervisor's
//! process tree, where [`descendants`] finds it by walking `/proc`. Kills go to the
//! job's group and to every descendant; at the end of an attempt, nothing the job
//! started is left running ([`kill_all`]).
//!
//! A cgroup per attempt (freeze, kill, thaw) is the stronger form; this is what works
//! without root or cgroup delegation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Whether this process is a supervisor process that became a subreaper: only then
/// are all its descendants one job's processes. (The supervisor's loop also runs
/// inside test processes, whose other children are not its to kill.) Process-wide,
/// like the subreaper bit it mirrors.
static CONTAINING: AtomicBool = AtomicBool::new(false);

/// Makes this process the subreaper of its descendants and turns the tree kills on.
/// False where the kernel refuses (then an escaped process is re-parented to init and
/// outlives its job).
pub fn become_subreaper() -> bool {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory.
    let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 };
    CONTAINING.store(ok, Ordering::Relaxed);
    ok
}

pub fn containing() -> bool {
    CONTAINING.load(Ordering::Relaxed)
}

/// The parent of every process in `/proc` (thread-group leaders only).
fn parents() -> HashMap<i32, i32> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(ppid) = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(parent_of)
        {
            out.insert(pid, ppid);
        }
    }
    out
}

/// The parent pid in a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so the fields are read
/// after its last `)`.
pub fn parent_of(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root` in `parents`, deepest last.
pub fn below(root: i32, parents: &HashMap<i32, i32>) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut next = vec![root];
    while let Some(p) = next.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(c) {
                out.push(c);
                next.push(c);
            }
        }
    }
    out
}

/// This process's descendants: the running job and whatever it started.
pub fn descendants() -> Vec<i32> {
    below(std::process::id() as i32, &parents())
}

/// `signal` to every descendant.
pub fn signal_all(signal: Signal) {
    if !containing() {
        return;
    }
    for pid in descendants() {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// SIGKILLs every descendant and reaps them, until none is left (a process may fork
/// while it is being killed), for at most about a second. Only once the job's main
/// process has been reaped: reaping here takes any child. True if anything was left.
pub fn kill_all() -> bool {
    // The common case costs one system call: no child left means no descendant left
    // (an orphan below us would have been re-parented to us).
    if !containing() || !has_children() {
        return false;
    }
    for _ in 0..100 {
        let left = descendants();
        if left.is_empty() {
            return true;
        }
        for pid in &left {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        reap_any();
        std::thread::sleep(Duration::from_millis(10));
    }
    reap_any();
    true
}

/// Whether this process has a child (running or not yet reaped); reaps those that
/// have exited on the way.
fn has_children() -> bool {
    loop {
        let mut status = 0;
        // SAFETY: `status` is valid for writes; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match r {
            0 => return true,
            r if r > 0 => continue,
            _ => return std::io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD),
        }
    }
}

/// Reaps every child that has exited (escaped processes re-parented here).
pub fn reap_any() {
    loop {
        let mut status = 0;
        // SAFETY: `status` is valid for writes; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parent_after_the_command_name() {
        assert_eq!(parent_of("42 (sh) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_of("43 (a b) c)) R 9 43 43"), Some(9));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn finds_every_process_below_a_root() {
        let parents: HashMap<i32, i32> = [(2, 1), (3, 2), (4, 3), (5, 1), (6, 99), (7, 5)]
            .into_iter()
            .collect();
        let mut b = below(1, &parents);
        b.sort();
        assert_eq!(b, [2, 3, 4, 5, 7]);
        assert!(below(4, &parents).is_empty());
    }
}

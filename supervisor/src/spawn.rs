//! Starting a job's process the cheap way, without giving up its tie to the supervisor.
//!
//! `std::process::Command` starts a child with `posix_spawn` (a `vfork`-style clone
//! that shares memory until `exec`) unless a `pre_exec` hook is set; then it uses a
//! full `fork`, which copies the page tables and makes both sides take copy-on-write
//! faults. The job needs one thing done in the child before `exec`:
//! `PR_SET_PDEATHSIG`, so it is SIGKILLed if its supervisor dies (even by SIGKILL).
//! On 2 cores the fork and its page faults were a fifth of all CPU spent per
//! trivial job, so this module does what `posix_spawn` does, plus that one call:
//! `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own, and in the child only
//! async-signal-safe system calls on memory prepared beforehand (no allocation, no
//! locks), then `execve`. A failure in the child is written to a shared slot and the
//! child exits with 127; the parent, resumed after `exec` or exit, reads the slot.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A started job: its pid (also its process group id) and the read ends of its
/// stdout and stderr pipes.
pub struct Spawned {
    pub pid: i32,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Everything the child touches, prepared in the parent.
struct ChildArgs {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    stdin: libc::c_int,
    stdout: libc::c_int,
    stderr: libc::c_int,
    parent: libc::pid_t,
    /// `cgroup.procs` files to write `0` (this process) into: the attempt's cgroup.
    join: *const libc::c_int,
    join_len: usize,
    /// errno of the step that failed (0: none; the child then exec'd).
    error: libc::c_int,
}

const CHILD_STACK: usize = 64 * 1024;

/// Starts `argv` in `cwd` with the supervisor's environment plus `env`, in a new
/// process group, stdin from /dev/null, stdout and stderr into new pipes, killed by
/// SIGKILL when the calling thread (the supervisor's main thread) ends; first of all
/// it joins the cgroups whose `cgroup.procs` descriptors are in `join`.
pub fn spawn(
    argv: &[String],
    cwd: &str,
    env: &[(String, String)],
    join: &[libc::c_int],
) -> std::io::Result<Spawned> {
    let Some(program) = argv.first() else {
        return Err(std::io::Error::other("empty command"));
    };
    let envs = merged_env(env);
    let path =
        resolve(program, &envs).ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))?;
    let c = |b: &[u8]| {
        CString::new(b).map_err(|_| {
            std::io::Error::other("a NUL byte in the command, environment or directory")
        })
    };
    let program = c(path.as_os_str().as_bytes())?;
    let argv_c = argv
        .iter()
        .map(|a| c(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let env_c = envs
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone().into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            c(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cwd_c = c(cwd.as_bytes())?;
    let mut argv_p: Vec<*const libc::c_char> = argv_c.iter().map(|s| s.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env_c.iter().map(|s| s.as_ptr()).collect();
    env_p.push(std::ptr::null());

    let null = open_null()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut args = ChildArgs {
        program: program.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: env_p.as_ptr(),
        cwd: cwd_c.as_ptr(),
        stdin: raw(&null),
        stdout: raw(&out_w),
        stderr: raw(&err_w),
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        join: join.as_ptr(),
        join_len: join.len(),
        error: 0,
    };
    // Only written by the child, so it need not be initialised.
    let mut stack: Vec<std::mem::MaybeUninit<u8>> = Vec::with_capacity(CHILD_STACK);
    // The stack grows down on every architecture Linux runs this on; 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;

    // Block every signal while the child shares our memory: no handler of ours may
    // run on its stack. The child sets its own mask before exec.
    // SAFETY: sigset_t is plain data; all-zero bytes are a valid (empty) set.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain signal-mask calls on local, initialised sets.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `child` only makes async-signal-safe calls on `args`, which outlives the
    // call: with CLONE_VFORK this thread is suspended until the child execs or exits.
    let pid = unsafe {
        libc::clone(
            child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &mut args as *mut ChildArgs as *mut libc::c_void,
        )
    };
    let clone_error = std::io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    // SAFETY: reading our own struct after the child is gone from it (see above).
    let error = unsafe { std::ptr::read_volatile(&args.error) };
    if error != 0 {
        let mut status = 0;
        // SAFETY: reaps the child that failed before exec.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(std::io::Error::from_raw_os_error(error));
    }
    drop((out_w, err_w, null));
    Ok(Spawned {
        pid,
        stdout: out_r,
        stderr: err_r,
    })
}

/// The child, between clone and exec: only system calls, on prepared memory.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended.
    let a = unsafe { &mut *(arg as *mut ChildArgs) };
    fn fail(a: &mut ChildArgs) -> ! {
        // SAFETY: the errno location is valid in this thread; _exit never returns.
        unsafe {
            std::ptr::write_volatile(&mut a.error, *libc::__errno_location());
            libc::_exit(127)
        }
    }
    // SAFETY: each call is async-signal-safe and takes pointers prepared by the parent.
    unsafe {
        // Into the attempt's cgroup before anything else: whatever it starts is in
        // it too.
        for i in 0..a.join_len {
            if libc::write(*a.join.add(i), b"0".as_ptr() as *const libc::c_void, 1) != 1 {
                fail(a);
            }
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            fail(a);
        }
        // The supervisor died before the line above: nobody would kill us later.
        if libc::getppid() != a.parent {
            *libc::__errno_location() = libc::ESRCH;
            fail(a);
        }
        if libc::setpgid(0, 0) != 0
            || libc::dup2(a.stdin, 0) < 0
            || libc::dup2(a.stdout, 1) < 0
            || libc::dup2(a.stderr, 2) < 0
            || libc::chdir(a.cwd) != 0
        {
            fail(a);
        }
        // The runtime ignores SIGPIPE, and an ignored signal stays ignored across exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(a.program, a.argv, a.envp);
    }
    fail(a)
}

/// The supervisor's environment with `env` applied over it (later entries win).
fn merged_env(env: &[(String, String)]) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (k, v) in env {
        let k = OsString::from(k);
        match vars.iter_mut().find(|(have, _)| *have == k) {
            Some(slot) => slot.1 = OsString::from(v),
            None => vars.push((k, OsString::from(v))),
        }
    }
    vars
}

/// A program name without a slash is looked up in the job's own PATH (as a shell
/// would), the others are used as given (relative ones from the job's directory).
fn resolve(program: &str, env: &[(OsString, OsString)]) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

fn executable(p: &Path) -> bool {
    let Ok(c) = CString::new(OsStr::as_bytes(p.as_os_str())) else {
        return false;
    };
    // SAFETY: a valid C string.
    p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

fn raw(fd: &OwnedFd) -> libc::c_int {
    std::os::fd::AsRawFd::as_raw_fd(fd)
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fills two descriptors, both close-on-exec.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn open_null() -> std::io::Result<OwnedFd> {
    let f = std::fs::File::open("/dev/null")?;
    Ok(OwnedFd::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn wait(pid: i32) -> i32 {
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    #[test]
    fn runs_the_command_in_its_directory_with_its_environment_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().to_str().unwrap();
        let argv: Vec<String> = [
            "sh",
            "-c",
            "echo \"$PWD $SHOAL_X $(cut -d' ' -f5 /proc/$$/stat) $$\"; echo err >&2; exit 3",
        ]
        .map(String::from)
        .to_vec();
        let s = spawn(&argv, cwd, &[("SHOAL_X".into(), "y".into())], &[]).unwrap();
        let mut out = String::new();
        std::fs::File::from(s.stdout)
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        std::fs::File::from(s.stderr)
            .read_to_string(&mut err)
            .unwrap();
        let status = wait(s.pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3);
        let real = std::fs::canonicalize(cwd).unwrap();
        assert_eq!(
            out.trim(),
            format!("{} y {} {}", real.display(), s.pid, s.pid),
            "cwd, env, own process group"
        );
        assert_eq!(err, "err\n");
    }

    #[test]
    fn a_missing_program_or_directory_is_an_error_not_a_child() {
        let e = spawn(&["no-such-program-here".into()], "/", &[], &[])
            .err()
            .unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = spawn(&["true".into()], "/no/such/dir", &[], &[])
            .err()
            .unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = spawn(&["/etc/passwd".into()], "/", &[], &[]).err().unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn the_job_dies_with_the_thread_that_started_it() {
        // PR_SET_PDEATHSIG fires when the parent *thread* ends: start a long sleep
        // from a thread that then ends, and the sleep must be SIGKILLed.
        let pid = std::thread::spawn(|| {
            spawn(&["sleep".into(), "30".into()], "/", &[], &[])
                .unwrap()
                .pid
        })
        .join()
        .unwrap();
        let status = wait(pid);
        assert!(libc::WIFSIGNALED(status), "status {status}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
    }

    #[test]
    fn sigpipe_is_default_again_in_the_job() {
        // The test harness, like the supervisor, runs with SIGPIPE ignored.
        let argv: Vec<String> = ["sh", "-c", "exec grep SigIgn /proc/self/status"]
            .map(String::from)
            .to_vec();
        let s = spawn(&argv, "/", &[], &[]).unwrap();
        let mut out = String::new();
        std::fs::File::from(s.stdout)
            .read_to_string(&mut out)
            .unwrap();
        wait(s.pid);
        let mask = u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{out}");
    }
}

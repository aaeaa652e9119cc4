//! Entering a network namespace: for a node process (before exec) and for a thread of
//! this process (the proxies and the rogue peer of `--netns` runs).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// An open handle on a named namespace (`/run/netns/NAME`).
pub struct NetNs(File);

impl NetNs {
    pub fn open(path: &Path) -> std::io::Result<NetNs> {
        Ok(NetNs(File::open(path)?))
    }

    /// Moves the calling thread into the namespace; sockets it opens afterwards
    /// live there.
    pub fn enter_thread(&self) -> std::io::Result<()> {
        setns(self.0.as_raw_fd())
    }

    /// Makes `cmd` start inside the namespace. `self` must outlive the spawn.
    pub fn apply(&self, cmd: &mut Command) {
        let fd = self.0.as_raw_fd();
        // SAFETY: setns is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || setns(fd));
        }
    }
}

fn setns(fd: i32) -> std::io::Result<()> {
    // SAFETY: a plain syscall on a descriptor we own.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `f` on a new thread inside `ns` (or here, for loopback) with its own
/// current-thread runtime; returns once the thread is in place and running.
pub fn spawn_in<F, Fut>(ns: Option<&Path>, name: &str, f: F) -> std::io::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let ns = ns.map(NetNs::open).transpose()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let ready = ns
                .as_ref()
                .map_or(Ok(()), NetNs::enter_thread)
                .and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                });
            match ready {
                Ok(rt) => {
                    let _ = tx.send(Ok(()));
                    rt.block_on(f());
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    rx.recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the thread ended at start")))
}

//! The thread that starts the jobs of a supervisor with a cgroup, living in that
//! cgroup itself (cgroup v1, where a thread may be in another cgroup than the rest
//! of its process): a process is born in the cgroup of the thread that clones it,
//! so a job starts inside without moving there. Moving a process between cgroups
//! takes the kernel's cgroup-wide thread-group lock and an RCU grace period; done by
//! every job between clone and exec it cost a sixth of one node's trivial-job
//! throughput (docs/BENCHMARKS.md).
//!
//! The thread is the jobs' parent thread for as long as the supervisor serves, so
//! `PR_SET_PDEATHSIG` (tied to the thread that started a job) still fires only when
//! the supervisor dies. Where it cannot live in the cgroup (v2, or the write was
//! refused), each job joins the cgroup itself between clone and exec, as before.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::spawn::Spawned;

struct Request {
    argv: Vec<String>,
    cwd: String,
    env: Vec<(String, String)>,
    join: Vec<RawFd>,
    reply: mpsc::Sender<std::io::Result<Spawned>>,
}

/// The spawner thread; dropping it ends the thread (after the job it is starting).
pub struct Spawner {
    tx: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    /// Whether the thread lives in the cgroup (then jobs need not join it).
    inside: bool,
}

impl Spawner {
    /// Starts the thread and moves it into the cgroup through `thread_files` (v1
    /// `tasks` files; none: it stays where it is).
    pub fn start(thread_files: Vec<PathBuf>) -> std::io::Result<Spawner> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<bool>();
        let thread = std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                let inside = !thread_files.is_empty() && join_thread(&thread_files).is_ok();
                let _ = ready_tx.send(inside);
                while let Ok(r) = rx.recv() {
                    let spawned = crate::spawn::spawn(&r.argv, &r.cwd, &r.env, &r.join);
                    let _ = r.reply.send(spawned);
                }
            })?;
        let inside = ready_rx.recv().unwrap_or(false);
        Ok(Spawner {
            tx: Some(tx),
            thread: Some(thread),
            inside,
        })
    }

    /// Whether jobs are born in the cgroup.
    pub fn inside(&self) -> bool {
        self.inside
    }

    /// [`crate::spawn::spawn`] on the spawner thread; `join` is used only when the
    /// thread is not in the cgroup itself.
    pub fn spawn(
        &self,
        argv: &[String],
        cwd: &str,
        env: &[(String, String)],
        join: &[RawFd],
    ) -> std::io::Result<Spawned> {
        let (reply, answer) = mpsc::channel();
        let req = Request {
            argv: argv.to_vec(),
            cwd: cwd.to_string(),
            env: env.to_vec(),
            join: if self.inside {
                Vec::new()
            } else {
                join.to_vec()
            },
            reply,
        };
        let gone = || std::io::Error::other("the spawner thread is gone");
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(req)
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; once it has ended it has left
        // the cgroup, which can then be removed.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the calling thread into the cgroup whose `tasks` files are given.
fn join_thread(files: &[PathBuf]) -> std::io::Result<()> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    for f in files {
        std::fs::write(f, tid.to_string())?;
    }
    Ok(())
}

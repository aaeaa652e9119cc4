//! Short tasks on threads that are kept for the next job instead of started anew.
//!
//! A supervisor runs many jobs, each needing a thread to drain its output and one to
//! wait for it; a thread start (clone, stack mapping, guard page) per task was
//! measurable with trivial jobs. [`Threads::spawn`] hands the task to an idle thread,
//! or starts one. A thread whose task never ends (output held open by a process that
//! escaped the job's group) is simply never idle again; the next task gets another
//! thread. The supervisor's serve loop owns its one [`Threads`] and lends it to each
//! attempt.

use std::sync::{mpsc, Arc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// At most this many threads wait idle; more exit after their task.
const KEEP_IDLE: usize = 4;

/// A pool of threads kept between tasks; dropping it lets the idle threads exit.
#[derive(Default)]
pub struct Threads {
    /// Threads waiting for a task: each one's inbox.
    idle: Arc<Mutex<Vec<mpsc::Sender<Task>>>>,
}

impl Threads {
    pub fn new() -> Threads {
        Threads::default()
    }

    /// How many threads wait for a task now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `task` on an idle thread, or on a new one named `name`.
    pub fn spawn(&self, name: &str, task: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let mut task: Task = Box::new(task);
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(thread) = idle else { break };
            match thread.send(task) {
                Ok(()) => return Ok(()),
                // That thread is gone; try the next, or start one.
                Err(mpsc::SendError(t)) => task = t,
            }
        }
        let (tx, rx) = mpsc::channel::<Task>();
        // Weak: an idle thread must not keep the pool (and so itself) alive.
        let pool = Arc::downgrade(&self.idle);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut next = Some(task);
                while let Some(task) = next.take() {
                    task();
                    {
                        let Some(pool) = pool.upgrade() else { return };
                        let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
                        if idle.len() >= KEEP_IDLE {
                            return;
                        }
                        idle.push(tx.clone());
                    }
                    next = rx.recv().ok();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits until `threads` has `n` idle threads (a task's thread says so just after
    /// the task returns).
    fn wait_idle(threads: &Threads, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while threads.idle() < n {
            assert!(Instant::now() < deadline, "no thread became idle");
            std::thread::yield_now();
        }
    }

    #[test]
    fn tasks_run_and_threads_are_reused() {
        let threads = Threads::new();
        let (tx, rx) = mpsc::channel();
        let mut ids = std::collections::HashSet::new();
        for i in 0..20 {
            let tx = tx.clone();
            threads
                .spawn("t", move || {
                    tx.send((i, std::thread::current().id())).unwrap();
                })
                .unwrap();
            // One at a time, as a supervisor does: the thread is idle again before
            // the next task.
            let (got, id) = rx.recv().unwrap();
            assert_eq!(got, i);
            ids.insert(id);
            wait_idle(&threads, 1);
        }
        assert_eq!(ids.len(), 1, "{} threads for 20 serial tasks", ids.len());
    }

    #[test]
    fn at_most_keep_idle_threads_wait() {
        let threads = Threads::new();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Arc::new(Mutex::new(go_rx));
        for _ in 0..KEEP_IDLE + 3 {
            let go = go_rx.clone();
            threads
                .spawn("t", move || {
                    let _ = go.lock().unwrap().recv();
                })
                .unwrap();
        }
        for _ in 0..KEEP_IDLE + 3 {
            go_tx.send(()).unwrap();
        }
        wait_idle(&threads, KEEP_IDLE);
        // Give the rest every chance to (wrongly) join the idle list.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(threads.idle(), KEEP_IDLE);
    }

    #[test]
    fn a_task_that_never_ends_does_not_block_the_next() {
        let threads = Threads::new();
        let (block_tx, block_rx) = mpsc::channel::<()>();
        threads
            .spawn("stuck", move || {
                let _ = block_rx.recv();
            })
            .unwrap();
        let (tx, rx) = mpsc::channel();
        threads.spawn("next", move || tx.send(1).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        drop(block_tx);
    }

    #[test]
    fn dropping_the_pool_lets_idle_threads_go() {
        let threads = Threads::new();
        let (tx, rx) = mpsc::channel();
        threads.spawn("t", move || tx.send(()).unwrap()).unwrap();
        rx.recv().unwrap();
        wait_idle(&threads, 1);
        let weak = Arc::downgrade(&threads.idle);
        drop(threads);
        // The thread may still hold the pool for the instant after it said it is idle.
        let deadline = Instant::now() + Duration::from_secs(5);
        while weak.upgrade().is_some() {
            assert!(Instant::now() < deadline, "an idle thread keeps the pool");
            std::thread::yield_now();
        }
    }
}

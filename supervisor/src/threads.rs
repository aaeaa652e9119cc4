//! Short tasks on threads that are kept for the next job instead of started anew.
//!
//! A supervisor runs many jobs, each needing a thread to drain its output and one to
//! wait for it; a thread start (clone, stack mapping, guard page) per task was
//! measurable with trivial jobs. [`spawn`] hands the task to an idle thread, or starts
//! one. A thread whose task never ends (output held open by a process that escaped
//! the job's group) is simply never idle again; the next task gets another thread.

use std::sync::{mpsc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// Threads waiting for a task.
static IDLE: Mutex<Vec<mpsc::Sender<Task>>> = Mutex::new(Vec::new());

/// At most this many threads wait idle; more exit after their task.
const KEEP_IDLE: usize = 4;

/// Runs `task` on an idle thread, or on a new one named `name`.
pub fn spawn(name: &str, task: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut task: Task = Box::new(task);
    loop {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let Some(thread) = idle else { break };
        match thread.send(task) {
            Ok(()) => return Ok(()),
            // That thread is gone; try the next, or start one.
            Err(mpsc::SendError(t)) => task = t,
        }
    }
    let (tx, rx) = mpsc::channel::<Task>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut next = Some(task);
            while let Some(task) = next.take() {
                task();
                {
                    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_and_threads_are_reused() {
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            spawn("t", move || {
                tx.send((i, std::thread::current().id())).unwrap();
            })
            .unwrap();
            // One at a time, as a supervisor does: the thread is idle again before
            // the next task (give it a moment to say so).
            let (got, _) = rx.recv().unwrap();
            assert_eq!(got, i);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let (tx2, rx2) = mpsc::channel();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..10 {
            let tx2 = tx2.clone();
            spawn("t", move || tx2.send(std::thread::current().id()).unwrap()).unwrap();
            ids.insert(rx2.recv().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(
            ids.len() <= KEEP_IDLE,
            "{} threads for 10 serial tasks",
            ids.len()
        );
    }

    #[test]
    fn a_task_that_never_ends_does_not_block_the_next() {
        let (block_tx, block_rx) = mpsc::channel::<()>();
        spawn("stuck", move || {
            let _ = block_rx.recv();
        })
        .unwrap();
        let (tx, rx) = mpsc::channel();
        spawn("next", move || tx.send(1).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)), Ok(1));
        drop(block_tx);
    }
}

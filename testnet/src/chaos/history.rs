//! The history of a chaos run: what clients did and saw, and what jobs did, as JSON
//! lines in files the cluster does not own. Jobs append their own events (one
//! `write` per line, `O_APPEND`), so a job's record survives its node.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A client sent a submit (key: the workload's own name for it).
    Submit {
        t: u64,
        key: String,
        node: usize,
    },
    /// The submit was acknowledged with this job id.
    Ack {
        t: u64,
        key: String,
        id: u64,
    },
    /// The submit failed (it may or may not have been committed).
    Error {
        t: u64,
        key: String,
        error: String,
    },
    /// A job's process started, is alive, or ended normally.
    Start {
        t: u64,
        job: u64,
        attempt: u32,
        node: String,
        token: u64,
        key: String,
    },
    Alive {
        t: u64,
        job: u64,
        attempt: u32,
    },
    End {
        t: u64,
        job: u64,
        attempt: u32,
    },
    /// After healing: the job's final state as the cluster reports it, and its
    /// recorded attempts in order (`lost`, `ok`, or the failure reason).
    Final {
        id: u64,
        state: String,
        #[serde(default)]
        attempts: Vec<String>,
    },
    /// A fault was injected or healed.
    Fault {
        t: u64,
        what: String,
    },
    /// Seconds from the last heal until one leader and one membership everywhere.
    Converged {
        s: f64,
    },
    /// A fault's own check failed: a node started on a wiped or damaged store, an
    /// oversized request was accepted, a node died of one, an escaped process
    /// outlived its job.
    Violation {
        t: u64,
        what: String,
    },
    /// Node `node` (its Shoal id) and everything it started was frozen from `from`
    /// until `t`.
    Thawed {
        t: u64,
        from: u64,
        node: String,
    },
    /// A job's child left its session (`setsid`) as process `pid`.
    Escapee {
        t: u64,
        pid: i32,
        job: u64,
        attempt: u32,
    },
}

/// Nanoseconds of the machine's monotonic clock (see [`monotonic_ns`]): one clock
/// for every process of the run, and one that clock-skew faults do not move.
pub use shoal_types::time::monotonic_ns as now_ns;

/// Appends events to one file.
pub struct Recorder {
    file: Mutex<std::fs::File>,
}

impl Recorder {
    pub fn open(path: &Path) -> std::io::Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Recorder {
            file: Mutex::new(file),
        })
    }

    pub fn record(&self, e: &Event) {
        // Struct variants of strings and numbers (a non-finite f64 becomes null): JSON
        // encoding cannot fail.
        let mut line = serde_json::to_vec(e).expect("a history event always encodes as JSON");
        line.push(b'\n');
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(&line);
        }
    }
}

/// Every event in the history files of `dir` (`*.jsonl`); torn lines are skipped.
pub fn read(dir: &Path) -> std::io::Result<Vec<Event>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Ok(e) = serde_json::from_str(line) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::open(&dir.path().join("a.jsonl")).unwrap();
        let e = Event::Ack {
            t: now_ns(),
            key: "k1".into(),
            id: 7,
        };
        rec.record(&e);
        rec.record(&Event::Converged { s: 0.5 });
        assert_eq!(
            read(dir.path()).unwrap(),
            vec![e, Event::Converged { s: 0.5 }]
        );
    }
}

//! Completions wait on disk until they are committed, so a node that restarts (or
//! loses its leader at the wrong moment) still reports every attempt it finished.
//!
//! One append-only file of JSON lines: `add` records finished attempts (fsynced
//! before they are proposed), `done` records that they were committed. Opening the
//! file keeps only what is still pending and rewrites it compactly.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shoal_raft_store::Completion;
use shoal_types::{FencingToken, JobId};

#[derive(Serialize, Deserialize)]
enum Line {
    Add(Box<Completion>),
    Done { job: JobId, token: FencingToken },
}

pub struct Outbox {
    path: PathBuf,
    file: File,
    lines: usize,
    pending: Vec<Completion>,
}

/// Lines after which the file is rewritten with only what is pending.
const COMPACT_AFTER: usize = 10_000;

impl Outbox {
    /// Opens (or creates) the outbox at `path`; returns it and the completions that
    /// were never committed. A torn last line (a crash mid-write) is skipped.
    pub fn open(path: &Path) -> std::io::Result<(Outbox, Vec<Completion>)> {
        let mut pending: Vec<Completion> = Vec::new();
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    match serde_json::from_str::<Line>(&line?) {
                        Ok(Line::Add(c)) => pending.push(*c),
                        Ok(Line::Done { job, token }) => {
                            pending.retain(|c| !(c.job == job && c.token == token))
                        }
                        Err(_) => continue,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = rewrite(path, &pending)?;
        let outbox = Outbox {
            path: path.to_path_buf(),
            file,
            lines: pending.len(),
            pending: pending.clone(),
        };
        Ok((outbox, pending))
    }

    /// Records finished attempts durably.
    pub fn add(&mut self, batch: &[Completion]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for c in batch {
            serde_json::to_writer(&mut buf, &Line::Add(Box::new(c.clone())))?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.lines += batch.len();
        self.pending.extend_from_slice(batch);
        Ok(())
    }

    /// Records that `batch` is committed (accepted or refused as stale: either way
    /// there is nothing left to report).
    pub fn done(&mut self, batch: &[Completion]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for c in batch {
            let line = Line::Done {
                job: c.job,
                token: c.token,
            };
            serde_json::to_writer(&mut buf, &line)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.lines += batch.len();
        self.pending
            .retain(|p| !batch.iter().any(|c| c.job == p.job && c.token == p.token));
        if self.lines > COMPACT_AFTER {
            self.file = rewrite(&self.path, &self.pending)?;
            self.lines = self.pending.len();
        }
        Ok(())
    }
}

/// Writes `pending` to a new file and renames it over `path`; returns it for appending.
fn rewrite(path: &Path, pending: &[Completion]) -> std::io::Result<File> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        for c in pending {
            serde_json::to_writer(&mut f, &Line::Add(Box::new(c.clone())))?;
            f.write_all(b"\n")?;
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::AttemptOutcome;

    fn c(job: u64, token: u64) -> Completion {
        Completion {
            job: JobId(job),
            token: FencingToken(token),
            outcome: AttemptOutcome::default(),
        }
    }

    #[test]
    fn pending_completions_survive_reopening_and_done_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let (mut o, pending) = Outbox::open(&path).unwrap();
        assert!(pending.is_empty());
        o.add(&[c(1, 10), c(2, 11), c(3, 12)]).unwrap();
        o.done(&[c(2, 11)]).unwrap();
        drop(o);
        // A torn line at the end, as after a crash mid-write.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"Add":{"job""#)
            .unwrap();
        let (mut o, pending) = Outbox::open(&path).unwrap();
        assert_eq!(pending, vec![c(1, 10), c(3, 12)]);
        o.done(&pending).unwrap();
        drop(o);
        let (_, pending) = Outbox::open(&path).unwrap();
        assert!(pending.is_empty());
    }
}

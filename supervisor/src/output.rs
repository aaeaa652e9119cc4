//! The job's stdout and stderr: pipes drained by one thread into their files.
//!
//! A file (and the job's output directory) is created on the first byte that arrives
//! for it, so a job that prints nothing costs no inode. On this kind of machine an
//! ext4 inode allocation is the largest single cost of starting a trivial job (it
//! scans for recently freed inodes), and most batch jobs of the `true` kind print
//! nothing on one of the two streams.
//!
//! A file holds at most the attempt's output cap (`LaunchSpec::output_cap`); past it
//! one marker line says so and the rest is read and dropped, so a job that prints
//! without end neither blocks nor fills the disk the node's database needs.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use shoal_types::OutputSummary;

use crate::threads::Threads;

/// One output file, opened when the first byte arrives.
pub struct Sink {
    path: PathBuf,
    file: Option<File>,
    broken: bool,
    /// Bytes the file may hold (the marker aside).
    cap: u64,
    /// Bytes written to the file.
    stored: u64,
    truncated: bool,
    bytes: u64,
    head: Vec<u8>,
    /// The last bytes seen past the head, at most `OutputSummary::KEEP`.
    tail: std::collections::VecDeque<u8>,
}

impl Sink {
    pub fn new(path: impl Into<PathBuf>) -> Sink {
        Sink::capped(path, u64::MAX)
    }

    /// A sink whose file holds at most `cap` bytes of output.
    pub fn capped(path: impl Into<PathBuf>, cap: u64) -> Sink {
        Sink {
            path: path.into(),
            file: None,
            broken: false,
            cap,
            stored: 0,
            truncated: false,
            bytes: 0,
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
        }
    }

    /// Size, head and tail of what went through this sink.
    pub fn summary(&self) -> OutputSummary {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        OutputSummary {
            bytes: self.bytes,
            head: String::from_utf8_lossy(&self.head).into_owned(),
            tail: String::from_utf8_lossy(&tail).into_owned(),
        }
    }

    fn remember(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        let keep = OutputSummary::KEEP;
        let room = keep.saturating_sub(self.head.len());
        let (to_head, rest) = data.split_at(room.min(data.len()));
        self.head.extend_from_slice(to_head);
        let rest = &rest[rest.len().saturating_sub(keep)..];
        self.tail.extend(rest.iter().copied());
        while self.tail.len() > keep {
            self.tail.pop_front();
        }
    }

    /// Writes `data`; after a failure (disk full, path taken by a symlink) further
    /// output is dropped so the job never blocks on a full pipe.
    fn write(&mut self, data: &[u8]) {
        self.remember(data);
        if self.broken || self.truncated {
            return;
        }
        let room = self.cap - self.stored;
        let (kept, over) = if data.len() as u64 > room {
            (&data[..room as usize], true)
        } else {
            (data, false)
        };
        let mut result = self.write_file(kept);
        self.stored += kept.len() as u64;
        if over && result.is_ok() {
            self.truncated = true;
            result = self.write_file(marker(self.cap).as_bytes());
        }
        if let Err(e) = result {
            self.broken = true;
            eprintln!(
                "shoal-supervisor: output to {} lost from here on: {e}",
                self.path.display()
            );
        }
    }

    fn write_file(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data),
            None => create(&self.path).and_then(|mut f| {
                let r = f.write_all(data);
                self.file = Some(f);
                r
            }),
        }
    }
}

/// The line that ends a file cut at the cap.
pub fn marker(cap: u64) -> String {
    format!(
        "\n[shoal: output cut here at the node's output cap of {cap} bytes (output_cap in \
         shoal.toml); the rest was dropped]\n"
    )
}

fn create(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // O_NOFOLLOW: a symlink planted where the output goes is refused, not followed.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Drains `(pipe, sink)` pairs until every pipe reaches end of file.
pub struct Pump {
    done: mpsc::Receiver<Vec<OutputSummary>>,
}

impl Pump {
    pub fn start(threads: &Threads, streams: Vec<(OwnedFd, Sink)>) -> std::io::Result<Pump> {
        let (tx, done) = mpsc::channel();
        threads.spawn("output", move || {
            let _ = tx.send(drain(streams));
        })?;
        Ok(Pump { done })
    }

    /// Waits until all output is written, at most `limit` (a process that left the
    /// job's group may hold a pipe open forever; its later output is dropped).
    /// Returns each stream's summary, in order, or `None` after the limit.
    pub fn finish(self, limit: Duration) -> Option<Vec<OutputSummary>> {
        self.done.recv_timeout(limit).ok()
    }
}

fn drain(streams: Vec<(OwnedFd, Sink)>) -> Vec<OutputSummary> {
    let n = streams.len();
    let mut open: Vec<(usize, File, Sink)> = streams
        .into_iter()
        .enumerate()
        .map(|(i, (fd, sink))| (i, File::from(fd), sink))
        .collect();
    let mut done: Vec<Option<OutputSummary>> = vec![None; n];
    let mut buf = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|(_, f, _)| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        let mut closed = Vec::new();
        for (i, p) in fds.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let (_, pipe, sink) = &mut open[i];
            match pipe.read(&mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => sink.write(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            let (slot, _, sink) = open.swap_remove(i);
            done[slot] = Some(sink.summary());
        }
    }
    for (slot, _, sink) in open {
        done[slot] = Some(sink.summary());
    }
    done.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn run(shell: &str, dir: &Path) -> bool {
        let mut child = Command::new("/bin/sh")
            .args(["-c", shell])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = OwnedFd::from(child.stdout.take().unwrap());
        let err = OwnedFd::from(child.stderr.take().unwrap());
        let pump = Pump::start(
            &Threads::new(),
            vec![
                (out, Sink::new(dir.join("j/1.stdout"))),
                (err, Sink::new(dir.join("j/1.stderr"))),
            ],
        )
        .unwrap();
        child.wait().unwrap();
        pump.finish(Duration::from_secs(10)).is_some()
    }

    #[test]
    fn files_appear_only_for_streams_that_got_output() {
        let dir = tempfile::tempdir().unwrap();
        assert!(run("true", dir.path()));
        assert!(!dir.path().join("j").exists());

        assert!(run(
            "echo out; i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done",
            dir.path()
        ));
        let text = std::fs::read_to_string(dir.path().join("j/1.stdout")).unwrap();
        assert!(text.starts_with("out\nline 0\n") && text.ends_with("line 1999\n"));
        assert!(!dir.path().join("j/1.stderr").exists());
    }

    #[test]
    fn a_symlink_in_place_of_the_file_is_refused_and_the_job_still_finishes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("j")).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("j/1.stdout")).unwrap();
        assert!(run(
            "i=0; while [ $i -lt 20000 ]; do echo x; i=$((i+1)); done",
            dir.path()
        ));
        assert!(!target.exists());
    }

    #[test]
    fn summary_keeps_size_head_and_tail() {
        let mut sink = Sink::new("/nonexistent/dir/file");
        sink.broken = true; // count only
        let big: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        sink.write(&big[..10]);
        sink.write(&big[10..]);
        let s = sink.summary();
        assert_eq!(s.bytes, 5000);
        assert_eq!(s.head.as_bytes(), &big[..1024]);
        assert_eq!(s.tail.as_bytes(), &big[5000 - 1024..]);
        let mut small = Sink::new("/nonexistent/x");
        small.broken = true;
        small.write(b"hi\n");
        assert_eq!(
            small.summary(),
            OutputSummary {
                bytes: 3,
                head: "hi\n".into(),
                tail: String::new()
            }
        );
    }

    #[test]
    fn a_file_stops_at_the_cap_with_a_marker_and_the_summary_counts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/1.stdout");
        let mut sink = Sink::capped(&path, 10);
        sink.write(b"0123456");
        sink.write(b"789abcdef");
        sink.write(b"more");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("0123456789{}", marker(10)));
        let s = sink.summary();
        assert_eq!(s.bytes, 20, "the summary counts what the job printed");
        assert!(s.head.ends_with("more"), "{s:?}");
        // Exactly the cap is not cut.
        let exact = dir.path().join("j/2.stdout");
        let mut sink = Sink::capped(&exact, 4);
        sink.write(b"abcd");
        assert_eq!(std::fs::read(&exact).unwrap(), b"abcd");
    }
}

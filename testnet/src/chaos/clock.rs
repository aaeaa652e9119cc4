//! The clock-skew fault: every node runs under libfaketime reading its offset from a
//! file of its own (monotonic clocks left real), so one node's wall clock can be
//! moved at run time without restarting it.

use std::path::{Path, PathBuf};

/// Where Debian's `faketime` package puts the library.
const CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

pub struct Clocks {
    files: Vec<PathBuf>,
    lib: PathBuf,
}

impl Clocks {
    /// One offset file per node under `dir`, all at +0.
    pub fn new(dir: &Path, nodes: usize) -> anyhow::Result<Clocks> {
        let lib = CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                anyhow::anyhow!("clock-skew needs libfaketime (apt-get install faketime)")
            })?;
        let c = Clocks {
            files: (0..nodes).map(|i| dir.join(format!("skew-n{i}"))).collect(),
            lib,
        };
        for i in 0..nodes {
            c.set(i, 0)?;
        }
        Ok(c)
    }

    /// The environment node `i` starts with.
    pub fn env(&self, i: usize) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.lib.to_string_lossy().into_owned()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.files[i].to_string_lossy().into_owned(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Moves node `i`'s wall clock `secs` seconds off the real one.
    pub fn set(&self, i: usize, secs: i64) -> anyhow::Result<()> {
        std::fs::write(&self.files[i], format!("{secs:+}s\n"))?;
        Ok(())
    }
}

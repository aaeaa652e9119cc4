//! Writing files that must not be readable by others: created new, mode 0600.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `path` (which must not exist) with mode 0600 and writes `data`, synced.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Creates directory `path` (which must not exist) with `mode`.
pub fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(mode).create(path)
}

//! The disk-full fault: each node's home on a small loop-mounted ext4 of its own,
//! filled with ballast files on demand and freed again. Mounted and unmounted by
//! this run only (root).

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::cmd::run;

/// Size of each node's filesystem.
const SIZE_MB: u64 = 256;

/// The loop-mounted filesystems of one run; unmounted when dropped.
pub struct Disks {
    mounts: Vec<PathBuf>,
}

impl Disks {
    /// Mounts a fresh filesystem at each of `dirs` (created if missing).
    pub fn mount(dirs: &[PathBuf]) -> anyhow::Result<Disks> {
        anyhow::ensure!(
            crate::net::is_root(),
            "disk-full needs root (it loop-mounts a small filesystem per node)"
        );
        let mut disks = Disks { mounts: Vec::new() };
        for dir in dirs {
            std::fs::create_dir_all(dir)?;
            let image = dir.with_extension("img");
            let f = std::fs::File::create(&image)?;
            f.set_len(SIZE_MB << 20)?;
            drop(f);
            let img = image.to_string_lossy();
            // No blocks reserved for root: the node runs as root here.
            run("mkfs.ext4", &["-q", "-F", "-m", "0", &img])?;
            run("mount", &["-o", "loop", &img, &dir.to_string_lossy()])?;
            disks.mounts.push(dir.clone());
        }
        Ok(disks)
    }

    /// Fills the filesystem of node `i` until writes fail with ENOSPC.
    pub fn fill(&self, i: usize) -> anyhow::Result<u64> {
        let dir = &self.mounts[i];
        let mut total = 0u64;
        for n in 0.. {
            let free = free_bytes(dir)?;
            if free < 4096 || n > 64 {
                break;
            }
            let path = dir.join(format!("ballast-{n}"));
            let f = std::fs::File::create(&path)?;
            let want = if free > (1 << 20) {
                free - (64 << 10)
            } else {
                free
            };
            use std::os::fd::AsRawFd;
            // SAFETY: fallocate on a file we own.
            let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, want as libc::off_t) };
            if r == 0 {
                total += want;
            } else {
                // What is left is smaller than asked; try again with less.
                continue;
            }
        }
        Ok(total)
    }

    /// Removes node `i`'s ballast.
    pub fn free(&self, i: usize) -> anyhow::Result<()> {
        for e in std::fs::read_dir(&self.mounts[i])?.flatten() {
            if e.file_name().to_string_lossy().starts_with("ballast-") {
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }
}

fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs is plain integers, for which all-zero bytes are a valid value.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and a zeroed struct to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        bail!(
            "statvfs {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

impl Drop for Disks {
    fn drop(&mut self) {
        for dir in &self.mounts {
            // Lazy: a node process that is still exiting must not keep it mounted.
            if let Err(e) = run("umount", &["-l", &dir.to_string_lossy()]) {
                eprintln!("shoal-testnet: {e}");
            }
            let _ = std::fs::remove_file(dir.with_extension("img"));
        }
    }
}

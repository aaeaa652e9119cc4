//! The node's disk reserve: every [`EVERY`], the free space of the home's file system
//! (where RocksDB and the jobs' output live) against `disk_reserve`. Below it the
//! worker leases no new work — running jobs go on, results are still committed —
//! and `shoal nodes` says "disk low", until space is freed. The one owner of
//! [`DiskStatus`]; the worker, adverts and the API read it.

use std::path::PathBuf;
use std::time::Duration;

use shoal_home::config::DiskReserve;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the free space is read.
pub const EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStatus {
    /// Bytes free to unprivileged users; `None` until first read (or unreadable).
    pub free_bytes: Option<u64>,
    /// Free space is below the reserve: take no new work.
    pub low: bool,
}

/// Whether `free` bytes are too few for `reserve` (`0`: no reserve).
pub fn is_low(free: u64, reserve: u64) -> bool {
    reserve > 0 && free < reserve
}

/// Free bytes on the file system holding `path` (for unprivileged users), and its
/// size.
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let block = s.fragment_size() as u64;
    Ok((
        s.blocks_available() as u64 * block,
        s.blocks() as u64 * block,
    ))
}

/// Reads the free space until `stop`, publishing each change on `tx`.
pub async fn watch(
    path: PathBuf,
    setting: DiskReserve,
    tx: watch::Sender<DiskStatus>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let p = path.clone();
        let read = match tokio::task::spawn_blocking(move || free_bytes(&p)).await {
            Ok(Ok(f)) => Some(f),
            Ok(Err(e)) => {
                warn!(path = %path.display(), error = %e, "cannot read the free disk space");
                None
            }
            Err(_) => None,
        };
        let free = read.map(|(f, _)| f);
        let reserve = read.map_or(0, |(_, total)| setting.bytes_for(total));
        let low = free.is_some_and(|f| is_low(f, reserve));
        let was = *tx.borrow();
        if low != was.low {
            let (free, reserve) = (
                shoal_types::size::format(free.unwrap_or(0) >> 20 << 20),
                shoal_types::size::format(reserve),
            );
            if low {
                warn!(%free, %reserve, "free disk space below the reserve: leasing no new work");
            } else {
                info!(%free, %reserve, "free disk space back above the reserve: leasing again");
            }
        }
        tx.send_if_modified(|s| {
            let next = DiskStatus {
                free_bytes: free,
                low,
            };
            let changed = *s != next;
            *s = next;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_reserve_is_low_and_no_reserve_never_is() {
        assert!(is_low(10, 11));
        assert!(!is_low(11, 11));
        assert!(!is_low(0, 0));
    }

    #[test]
    fn the_free_space_of_a_real_directory_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = free_bytes(dir.path()).unwrap();
        assert!(free > 0 && total >= free);
    }

    #[test]
    fn auto_keeps_a_gibibyte_or_a_twentieth_of_a_small_volume() {
        let gib = 1u64 << 30;
        assert_eq!(DiskReserve::Auto.bytes_for(100 * gib), gib);
        assert_eq!(DiskReserve::Auto.bytes_for(256 << 20), (256 << 20) / 20);
        assert_eq!(DiskReserve::Bytes(5 * gib).bytes_for(gib), 5 * gib);
        assert_eq!(DiskReserve::Bytes(0).bytes_for(gib), 0);
    }
}

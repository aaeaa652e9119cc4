//! What the bench reads about processes and directories: CPU time and resident memory
//! of a process from `/proc`, and the disk space a directory tree takes.

use std::path::Path;

use anyhow::Context;

/// User + system CPU time of process `pid` so far (`/proc/PID/stat` utime + stime), in ms.
pub fn cpu_ms(pid: i32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces; count fields
    // after its closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("{path} has no command field"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .with_context(|| format!("{path}: field {} is not a number", i + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    anyhow::ensure!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
    Ok(total * 1000.0 / hz as f64)
}

/// Resident set size of process `pid` (`/proc/PID/status` VmRSS), in bytes.
pub fn rss_bytes(pid: i32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .with_context(|| format!("{path} has no VmRSS line"))
}

/// Bytes of every file under `dir` (their lengths). Not allocated blocks as `du`
/// counts them: RocksDB preallocates its write-ahead log in large steps, which made
/// the allocated size of the same data jump by tens of MiB between runs.
pub fn disk_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += disk_bytes(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_a_directory() {
        let me = std::process::id() as i32;
        assert!(cpu_ms(me).unwrap() >= 0.0);
        assert!(rss_bytes(me).unwrap() > 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![1u8; 10_000]).unwrap();
        assert!(disk_bytes(dir.path()).unwrap() >= 20_000);
        assert!(cpu_ms(-5).is_err());
    }
}

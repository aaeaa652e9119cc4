//! A cgroup per attempt: every process the job starts is in it (a child joins it
//! between fork and exec, before it can fork), so a kill reaches all of them however
//! they left the process group or tree — freeze the cgroup, SIGKILL every member,
//! thaw — and a `pids` cap stops a fork bomb. Attempt cgroups are made under the
//! supervisor's own cgroup (the node's, from `/proc/self/cgroup`), so several nodes on
//! one host never collide and freezing a node's cgroup freezes its jobs too.
//!
//! Two layouts: cgroup v2 (one hierarchy at `/sys/fs/cgroup`, with
//! `cgroup.controllers`; `cgroup.kill` where the kernel has it, `cgroup.freeze`
//! otherwise, `pids.max` where the parent delegates `pids`), and v1 (a `freezer`
//! hierarchy, plus `pids` when mounted). Where neither can be written (not root, no
//! delegation) [`Layout::probe`] says so and the supervisor keeps to the subreaper
//! (`tree`). The layout is read from a root directory given by the caller, so the
//! tests drive both layouts against a fake cgroupfs tree in a temporary directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The name of a supervisor's cgroup: this, then its pid.
pub const PREFIX: &str = "shoal-supervisor-";

/// `SHOAL_CONTAINMENT=subreaper` in the node's environment: no cgroups, the
/// subreaper alone (for hosts where something else owns the cgroups, and for the
/// benchmark that measures what the cgroups cost).
pub fn disabled_by_env() -> bool {
    std::env::var_os("SHOAL_CONTAINMENT").is_some_and(|v| v == "subreaper")
}

/// How the cgroups of this process's attempts are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2: attempt cgroups under `dir`.
    V2 { dir: PathBuf },
    /// cgroup v1: under `freezer` (required) and `pids` (when mounted).
    V1 {
        freezer: PathBuf,
        pids: Option<PathBuf>,
    },
}

/// What `/proc/self/cgroup` says: the v2 path (`0::/…`) and each v1 controller's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfCgroup {
    pub unified: Option<String>,
    pub v1: Vec<(String, String)>,
}

/// Parses `/proc/self/cgroup` (`ID:CONTROLLERS:PATH` lines).
pub fn parse_self(text: &str) -> SelfCgroup {
    let mut out = SelfCgroup::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            out.unified = Some(path.to_string());
        } else {
            for c in controllers.split(',') {
                out.v1.push((c.to_string(), path.to_string()));
            }
        }
    }
    out
}

fn join(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

impl Layout {
    /// The layout under cgroupfs `root` (`/sys/fs/cgroup`) for a process in
    /// `me`, if its directories exist. v2 is used only where `root` itself is the
    /// unified hierarchy (an empty v2 mount beside v1 hierarchies has no freezer).
    pub fn detect(root: &Path, me: &SelfCgroup) -> Option<Layout> {
        if root.join("cgroup.controllers").is_file() {
            let dir = join(root, me.unified.as_deref()?);
            return dir.is_dir().then_some(Layout::V2 { dir });
        }
        let path_of = |c: &str| me.v1.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
        let freezer = join(&root.join("freezer"), &path_of("freezer")?);
        if !freezer.join("freezer.state").exists() && !freezer.join("cgroup.procs").exists() {
            return None;
        }
        let pids = path_of("pids")
            .map(|p| join(&root.join("pids"), &p))
            .filter(|d| d.join("cgroup.procs").exists());
        Some(Layout::V1 { freezer, pids })
    }

    /// This machine's layout, if an attempt cgroup can really be made and removed
    /// there (a probe cgroup is created and removed at once).
    pub fn probe() -> Option<Layout> {
        if disabled_by_env() {
            return None;
        }
        let me = parse_self(&fs::read_to_string("/proc/self/cgroup").ok()?);
        let layout = Layout::detect(Path::new("/sys/fs/cgroup"), &me)?;
        let name = format!("shoal-probe-{}", std::process::id());
        let cg = AttemptCgroup::create(&layout, &name, None).ok()?;
        cg.remove();
        layout.sweep();
        Some(layout)
    }

    /// How `shoal nodes` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "cgroup-v2",
            Layout::V1 { .. } => "cgroup-v1",
        }
    }

    /// Removes the empty cgroups of supervisors that are gone (killed before they
    /// could remove their own).
    pub fn sweep(&self) {
        for parent in self.dirs("") {
            let Ok(entries) = fs::read_dir(&parent) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = name
                    .strip_prefix(PREFIX)
                    .and_then(|p| p.parse::<i32>().ok())
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
    }

    fn dirs(&self, name: &str) -> Vec<PathBuf> {
        match self {
            Layout::V2 { dir } => vec![dir.join(name)],
            Layout::V1 { freezer, pids } => std::iter::once(freezer.join(name))
                .chain(pids.iter().map(|p| p.join(name)))
                .collect(),
        }
    }
}

/// One attempt's cgroup (in each v1 hierarchy used).
pub struct AttemptCgroup {
    layout: Layout,
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, open for the child to write itself into.
    procs: Vec<File>,
    /// Threads of this process that live in the cgroup (the spawner thread on v1),
    /// which `pids.max` counts too.
    resident: u64,
    /// The `pids.max` cap last written (so an unchanged one costs no file access per
    /// attempt).
    pids_cap: std::cell::Cell<Option<Option<u64>>>,
}

impl AttemptCgroup {
    /// Makes the cgroup `name` (a `pids.max` of `pids_max` where there is a pids
    /// controller) and opens its `cgroup.procs`. A failure part way removes what was
    /// made.
    pub fn create(layout: &Layout, name: &str, pids_max: Option<u64>) -> std::io::Result<Self> {
        let mut cg = AttemptCgroup {
            layout: layout.clone(),
            dirs: Vec::new(),
            procs: Vec::new(),
            resident: 0,
            pids_cap: std::cell::Cell::new(None),
        };
        for dir in layout.dirs(name) {
            if let Err(e) = fs::create_dir(&dir) {
                cg.remove();
                return Err(e);
            }
            cg.dirs.push(dir.clone());
            match OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
            {
                Ok(f) => cg.procs.push(f),
                Err(e) => {
                    cg.remove();
                    return Err(e);
                }
            }
        }
        if let Some(max) = pids_max {
            for dir in &cg.dirs {
                let file = dir.join("pids.max");
                if file.exists() {
                    if let Err(e) = fs::write(&file, max.to_string()) {
                        cg.remove();
                        return Err(e);
                    }
                }
            }
        }
        Ok(cg)
    }

    /// Sets `pids.max` (where there is one) for the next attempt; `None`: no cap.
    /// The cap is the job's: threads of this process living in the cgroup are added.
    pub fn set_pids_max(&self, max: Option<u64>) {
        if self.pids_cap.get() == Some(max) {
            return;
        }
        self.pids_cap.set(Some(max));
        let value = max.map_or("max".to_string(), |m| (m + self.resident).to_string());
        for dir in &self.dirs {
            let file = dir.join("pids.max");
            if file.exists() && fs::read_to_string(&file).is_ok_and(|v| v.trim() != value) {
                let _ = fs::write(&file, &value);
            }
        }
    }

    /// The descriptors a child writes `0` to (itself) before exec.
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Where a thread of this process writes its id to live in the cgroup, so that
    /// the processes it starts are born there (no migration per job): v1's `tasks`
    /// files. Empty on v2, where the threads of a process share one cgroup.
    pub fn thread_files(&self) -> Vec<PathBuf> {
        match self.layout {
            Layout::V1 { .. } => self.dirs.iter().map(|d| d.join("tasks")).collect(),
            Layout::V2 { .. } => Vec::new(),
        }
    }

    /// Says that `threads` threads of this process now live in the cgroup.
    pub fn set_resident(&mut self, threads: u64) {
        if self.resident != threads {
            self.resident = threads;
            // The cap on file no longer holds the job's own: written again next time.
            self.pids_cap.set(None);
        }
    }

    /// The processes in the cgroup now, but for this one (whose spawner thread may
    /// live there).
    pub fn members(&self) -> Vec<i32> {
        let Some(dir) = self.dirs.first() else {
            return Vec::new();
        };
        let me = std::process::id() as i32;
        fs::read_to_string(dir.join("cgroup.procs"))
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .filter(|p| *p != me)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGKILLs every process in the cgroup, none able to fork meanwhile: v2's
    /// `cgroup.kill` where it exists, else freeze, kill each member, thaw. (This
    /// process's spawner thread, if it lives there, is frozen and thawed with them;
    /// it is never the caller.)
    pub fn kill_all(&self) {
        let Some(dir) = self.dirs.first() else {
            return;
        };
        if let Layout::V2 { .. } = self.layout {
            let kill = dir.join("cgroup.kill");
            if kill.exists() && fs::write(&kill, "1").is_ok() {
                return;
            }
        }
        self.freeze(true);
        for pid in self.members() {
            // SAFETY: kill(2) takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        self.freeze(false);
    }

    /// Freezes or thaws the cgroup, waiting (at most a second) until the kernel
    /// says it is done.
    pub fn freeze(&self, frozen: bool) {
        let Some(dir) = self.dirs.first() else {
            return;
        };
        let (file, value, done): (PathBuf, &str, &str) = match self.layout {
            Layout::V2 { .. } => (
                dir.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
                if frozen { "frozen 1" } else { "frozen 0" },
            ),
            Layout::V1 { .. } => (
                dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
                if frozen { "FROZEN" } else { "THAWED" },
            ),
        };
        if fs::write(&file, value).is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let state = match self.layout {
                Layout::V2 { .. } => fs::read_to_string(dir.join("cgroup.events")),
                Layout::V1 { .. } => fs::read_to_string(&file),
            };
            match state {
                Ok(s) if s.contains(done) => return,
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => return,
            }
        }
    }

    /// Removes the cgroup's directories (once empty; a directory that will not go
    /// is left for the next attempt's cleanup and named on stderr).
    pub fn remove(&self) {
        for dir in self.dirs.iter().rev() {
            for _ in 0..100 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    // EBUSY while the last members are being reaped.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            if dir.exists() {
                let _ = writeln!(
                    std::io::stderr(),
                    "shoal-supervisor: cannot remove cgroup {}",
                    dir.display()
                );
            }
        }
    }
}

impl Drop for AttemptCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "9:name=systemd:/\n8:pids:/\n6:freezer:/\n4:memory:/process_api/x\n0::/\n";
    const V2: &str = "0::/system.slice/shoal.service\n";

    #[test]
    fn reads_v1_and_v2_lines() {
        let s = parse_self(V1);
        assert_eq!(s.unified.as_deref(), Some("/"));
        assert!(s.v1.contains(&("freezer".into(), "/".into())));
        assert!(s.v1.contains(&("memory".into(), "/process_api/x".into())));
        let s = parse_self(V2);
        assert_eq!(s.unified.as_deref(), Some("/system.slice/shoal.service"));
        assert!(s.v1.is_empty());
    }

    /// A fake cgroup v2 tree: the root with `cgroup.controllers`, the node's
    /// cgroup below it. (This machine kind has cgroup v1, so the v2 path runs only
    /// against this fake; the kernel's side of the files is not exercised here.)
    fn fake_v2() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        let node = root.path().join("system.slice/shoal.service");
        fs::create_dir_all(&node).unwrap();
        (root, node)
    }

    #[test]
    fn v2_attempt_cgroups_go_under_the_nodes_own() {
        let (root, node) = fake_v2();
        let layout = Layout::detect(root.path(), &parse_self(V2)).unwrap();
        assert_eq!(layout, Layout::V2 { dir: node.clone() });
        assert_eq!(layout.name(), "cgroup-v2");
        // A real cgroupfs makes these files with the directory; the fake cannot.
        let dir = node.join("shoal-7");
        let made = AttemptCgroup::create(&layout, "shoal-7", Some(64));
        assert!(made.is_err(), "no cgroup.procs in a plain directory");
        assert!(!dir.exists(), "a failed create leaves nothing");
    }

    #[test]
    fn v2_kill_writes_cgroup_kill_and_the_pids_cap() {
        let (root, node) = fake_v2();
        let layout = Layout::detect(root.path(), &parse_self(V2)).unwrap();
        let dir = node.join("shoal-8");
        // Pre-made as the kernel would make them on mkdir.
        let cg = AttemptCgroup {
            layout,
            dirs: vec![dir.clone()],
            procs: Vec::new(),
            resident: 0,
            pids_cap: std::cell::Cell::new(None),
        };
        fs::create_dir(&dir).unwrap();
        for f in ["cgroup.procs", "cgroup.kill", "pids.max"] {
            fs::write(dir.join(f), "").unwrap();
        }
        cg.kill_all();
        assert_eq!(fs::read_to_string(dir.join("cgroup.kill")).unwrap(), "1");
        for f in ["cgroup.procs", "cgroup.kill", "pids.max"] {
            fs::remove_file(dir.join(f)).unwrap();
        }
        cg.remove();
        assert!(!dir.exists());
    }

    #[test]
    fn v1_uses_the_freezer_and_pids_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        for c in ["freezer", "pids"] {
            fs::create_dir_all(root.path().join(c)).unwrap();
            fs::write(root.path().join(c).join("cgroup.procs"), "").unwrap();
        }
        fs::write(root.path().join("freezer/freezer.state"), "THAWED").unwrap();
        let layout = Layout::detect(root.path(), &parse_self(V1)).unwrap();
        assert_eq!(
            layout,
            Layout::V1 {
                freezer: root.path().join("freezer"),
                pids: Some(root.path().join("pids")),
            }
        );
        assert_eq!(layout.name(), "cgroup-v1");
        // An empty v2 mount beside v1 (this machine kind) is not taken for v2.
        fs::create_dir_all(root.path().join("unified")).unwrap();
        assert!(matches!(
            Layout::detect(root.path(), &parse_self(V1)),
            Some(Layout::V1 { .. })
        ));
        // No freezer hierarchy: no cgroup containment.
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(Layout::detect(bare.path(), &parse_self(V1)), None);
    }
}

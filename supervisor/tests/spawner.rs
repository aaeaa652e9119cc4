//! The spawner thread on a real cgroup (root; this machine kind has cgroup v1): a
//! job is born inside its slot's cgroup without moving there, the supervisor itself
//! is never counted as a member, a kill reaches the job with the spawner thread
//! frozen beside it, and the cgroup can be removed once the spawner has ended.

use shoal_supervisor::cgroup::{AttemptCgroup, Layout};
use shoal_supervisor::spawner::Spawner;
use shoal_testkit::root::needs_root;

#[test]
fn jobs_are_born_in_the_cgroup_and_die_with_it() {
    if !needs_root(
        "spawner::jobs_are_born_in_the_cgroup_and_die_with_it",
        "making cgroups needs root",
    ) {
        return;
    }
    let Some(layout) = Layout::probe() else {
        panic!("root, but no cgroup freezer could be written on this host");
    };
    let name = format!("shoal-spawner-test-{}", std::process::id());
    let mut cg = AttemptCgroup::create(&layout, &name, None).unwrap();
    let spawner = Spawner::start(cg.thread_files()).unwrap();
    // Threads may live in another cgroup than their process only on v1.
    assert_eq!(spawner.inside(), matches!(layout, Layout::V1 { .. }));
    cg.set_resident(u64::from(spawner.inside()));
    let job = spawner
        .spawn(&["sleep".into(), "30".into()], "/", &[], &cg.join_fds())
        .unwrap();
    let members = cg.members();
    assert_eq!(members, vec![job.pid], "the job alone, never this process");
    let cgroup_of_job = std::fs::read_to_string(format!("/proc/{}/cgroup", job.pid)).unwrap();
    assert!(cgroup_of_job.contains(&name), "{cgroup_of_job}");
    cg.kill_all();
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(job.pid, &mut status, 0) }, job.pid);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    assert!(cg.members().is_empty());
    // The spawner still works after being frozen and thawed with the job.
    let again = spawner
        .spawn(&["true".into()], "/", &[], &cg.join_fds())
        .unwrap();
    // SAFETY: as above.
    let reaped = unsafe { libc::waitpid(again.pid, &mut status, 0) };
    assert_eq!(reaped, again.pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let dirs: Vec<_> = cg
        .thread_files()
        .iter()
        .filter_map(|f| f.parent().map(|p| p.to_path_buf()))
        .collect();
    drop(spawner);
    cg.remove();
    for d in dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

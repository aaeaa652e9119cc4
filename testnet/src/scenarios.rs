//! The chaos scenarios, by name, and what each does.

/// Name and what the scenario does.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "leader-kill",
        "kill -9 the leader repeatedly under load; restart it",
    ),
    (
        "partition-minority",
        "cut a minority of nodes off from the rest",
    ),
    ("partition-leader", "isolate the leader from everyone"),
    (
        "worker-stop",
        "SIGSTOP a worker with running jobs for longer than a lease",
    ),
    ("worker-kill", "kill -9 a worker with running jobs"),
    (
        "restart-all",
        "stop every node at once and start them again",
    ),
    ("disk-full", "fill one node's filesystem"),
    ("clock-skew", "skew one node's wall clock by seconds"),
    (
        "flapping-partition",
        "cut and heal a partition over and over",
    ),
    ("rolling-restart", "restart the nodes one after another"),
    ("slow-network", "delay and drop traffic through a proxy"),
    (
        "bad-peer",
        "a rogue process with forged envelopes and certificates",
    ),
    (
        "leader-pause",
        "SIGSTOP the leader past the election timeout, then SIGCONT",
    ),
    (
        "wiped-disk",
        "a follower, then the genesis node, loses its db/; must refuse, then --rejoin",
    ),
    (
        "corrupt-follower",
        "a byte flipped in a stopped follower's WAL or table file; must refuse",
    ),
    (
        "membership-churn",
        "a node joins and the dead or cut-off one is removed while the fault lasts",
    ),
    (
        "escape",
        "jobs whose children call setsid, ended by cancel, timeout and fencing",
    ),
    (
        "freeze",
        "freeze a worker's node and its jobs (cgroup freezer) for two leases",
    ),
    (
        "poison",
        "a certified rogue forwards oversized arrays, batches, leases, cancels",
    ),
];

pub fn table() -> String {
    let mut out = String::from("SCENARIO            WHAT\n");
    for (name, what) in SCENARIOS {
        out.push_str(&format!("{name:<19} {what}\n"));
    }
    out
}

//! Three node runtimes in one process, talking over real libp2p connections on
//! loopback with real RocksDB stores: joining, forwarded writes, what a peer may
//! ask, and linearizable reads on followers.

mod common;

use std::time::Duration;

use common::{addr, cluster_homes, eventually, options, start_three, voters};
use shoal_node::start;
use shoal_raft_store::{Request, Response};
use shoal_types::api::ReleaseOutcome;
use shoal_types::{JobId, NodeId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_forward_writes_and_act_only_for_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let homes = cluster_homes(dir.path(), 3);
    let (a, _, b, c) = start_three(&homes).await;

    // The leader adds both as learners and promotes them: three voters.
    eventually("3 voters", || voters(&a) == 3).await;
    let leader = a.raft.metrics().borrow().current_leader.unwrap();
    let follower = [&a, &b, &c]
        .into_iter()
        .find(|n| n.identity.node_id.0 != leader)
        .unwrap();

    // A write at a follower is forwarded to the leader and answered after commit.
    let r = follower
        .proposer
        .propose_patiently(
            Request::Release {
                ids: vec![JobId(42)],
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(
        r,
        Response::Released {
            results: vec![(JobId(42), ReleaseOutcome::NotFound)]
        }
    );

    // A node may lease only for itself: the leader refuses a lease for another.
    let other = [&a, &b, &c]
        .into_iter()
        .find(|n| n.identity.node_id != follower.identity.node_id)
        .unwrap();
    let refused = follower
        .proposer
        .propose(Request::Lease {
            node: other.identity.node_id,
            max_jobs: 1,
            now_ms: 1,
        })
        .await;
    let err = refused
        .expect_err("a lease for another node was accepted")
        .to_string();
    assert!(err.contains("may not act for node"), "{err}");

    // A read barrier on a follower sees everything committed before it began.
    let committed_before = [&a, &b, &c]
        .into_iter()
        .find(|n| n.identity.node_id == NodeId(leader))
        .unwrap()
        .view
        .last_applied()
        .unwrap();
    follower
        .proposer
        .read_barrier(&follower.view, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(follower.view.last_applied().unwrap() >= committed_before);

    for n in [c, b, a] {
        n.stop().await;
    }
}

/// A node that joins after the log it needs was purged gets the state machine as a
/// snapshot, serialized from the leader's store when it is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_after_the_log_was_purged_gets_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let homes = cluster_homes(dir.path(), 2);
    // Snapshots every 100 entries; openraft keeps 1,000 entries behind the latest.
    let toml = homes[0].config();
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("snapshot_after_logs = 50000", "snapshot_after_logs = 100");
    assert!(text.contains("snapshot_after_logs = 100"), "{text}");
    std::fs::write(&toml, text).unwrap();
    let a = start(options(homes[0].clone(), None)).await.unwrap();
    let a_addr = addr(&a).await;
    eventually("a leader", || {
        a.raft.metrics().borrow().current_leader.is_some()
    })
    .await;
    // 1,300 entries that each change the state: drain marks for made-up node ids.
    for round in 0..13u64 {
        let writes = (0..100u64).map(|i| {
            a.proposer.propose_patiently(
                Request::SetDrain {
                    node: NodeId(1_000 + round * 100 + i),
                    drained: true,
                },
                Duration::from_secs(10),
            )
        });
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
    }
    eventually("log purged", || {
        a.raft
            .metrics()
            .borrow()
            .purged
            .is_some_and(|p| p.index > 10)
    })
    .await;
    let want = a.view.drained().unwrap();
    assert_eq!(want.len(), 1_300);

    let b = start(options(homes[1].clone(), Some(&a_addr)))
        .await
        .unwrap();
    eventually("the joiner has the drained set", || {
        b.view.drained().is_ok_and(|d| d == want)
    })
    .await;
    // The log before the purge is gone, so only a snapshot can have brought it; the
    // joiner's metrics say so a moment after the install is written.
    eventually("the joiner reports an installed snapshot", || {
        b.raft.metrics().borrow().snapshot.is_some()
    })
    .await;
    for n in [b, a] {
        n.stop().await;
    }
}

/// An entry over the bounds of one entry, committed by the leader as a rogue or
/// buggy one could (straight to raft, past every check a proposer makes), is
/// refused by `apply` on every node: nothing of it is applied, no node stops, and
/// the log goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_entry_is_refused_by_apply_on_every_node() {
    use shoal_types::{JobSpec, JobState};
    let dir = tempfile::tempdir().unwrap();
    let homes = cluster_homes(dir.path(), 3);
    let (a, _, b, c) = start_three(&homes).await;
    eventually("3 voters", || voters(&a) == 3).await;
    let nodes = [&a, &b, &c];
    let leader = a.raft.metrics().borrow().current_leader.unwrap();
    let leader = nodes
        .into_iter()
        .find(|n| n.identity.node_id.0 == leader)
        .unwrap();
    let mut spec = JobSpec::argv(vec!["true".into()], "/");
    spec.hold = true;
    let r = leader
        .proposer
        .propose(Request::Submit {
            envelope: shoal_testkit::fixtures::envelope_of(spec),
            now_ms: 1,
        })
        .await
        .unwrap();
    let Response::Submitted { id } = r else {
        panic!("{r:?}")
    };
    let ids: Vec<JobId> = (0..=shoal_raft_store::limits::MAX_IDS as u64)
        .map(|i| JobId(id.0 + i))
        .collect();
    let oversized = Request::Cancel { ids, now_ms: 2 };
    // The proposer refuses it before raft sees it...
    let err = leader
        .proposer
        .propose(oversized.clone())
        .await
        .expect_err("an oversized cancel was proposed");
    assert!(err.to_string().contains("at most 100000"), "{err}");
    // ...and apply refuses it once it is in the log.
    let written = leader.raft.client_write(oversized).await.unwrap();
    match &written.data {
        Response::Refused { reason } => assert_eq!(reason.what, "job ids"),
        // Not the response itself: it would list 100,001 ids.
        other => panic!(
            "the oversized cancel was applied: {}",
            format!("{other:?}").chars().take(200).collect::<String>()
        ),
    }
    let index = written.log_id.index;
    for n in nodes {
        eventually("the entry applied everywhere", || {
            n.view.last_applied().is_some_and(|i| i >= index)
        })
        .await;
        assert!(n.raft.metrics().borrow().running_state.is_ok());
        let rec = n.view.get_job(id).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Held, "the refused cancel was applied");
    }
    for n in [c, b, a] {
        n.stop().await;
    }
}

/// A node that joins 60 MiB of log behind (entries of almost 1 MiB, more than one
/// network frame's worth in openraft's default batch) catches up: batches over the
/// frame limit are cut to fit instead of failing forever as "unreachable".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_60_mib_behind_catches_up() {
    use shoal_types::{JobCommand, JobSpec};
    let dir = tempfile::tempdir().unwrap();
    let homes = cluster_homes(dir.path(), 2);
    let a = start(options(homes[0].clone(), None)).await.unwrap();
    let a_addr = addr(&a).await;
    eventually("a leader", || {
        a.raft.metrics().borrow().current_leader.is_some()
    })
    .await;
    let mut bytes = 0;
    let mut i = 0;
    while bytes < 60 << 20 {
        let mut spec = JobSpec::argv(vec!["true".into()], "/");
        spec.hold = true;
        spec.command = JobCommand::Shell(format!("{i} {}", "x".repeat(950_000)));
        let envelope = shoal_testkit::fixtures::envelope_of(spec);
        bytes += envelope.body.len();
        a.proposer
            .propose(Request::SubmitBatch {
                envelopes: vec![envelope],
                now_ms: i,
            })
            .await
            .unwrap();
        i += 1;
    }
    let target = a.view.last_applied().unwrap();
    let b = start(options(homes[1].clone(), Some(&a_addr)))
        .await
        .unwrap();
    wait_for(Duration::from_secs(60), "the joiner caught up", || {
        b.view.last_applied().is_some_and(|i| i >= target)
    })
    .await;
    assert_eq!(b.view.list_jobs(None, 1000).unwrap().len(), i as usize);
    for n in [b, a] {
        n.stop().await;
    }
}

async fn wait_for(limit: Duration, what: &str, check: impl FnMut() -> bool) {
    shoal_testkit::wait::eventually_async(limit, what, check).await;
}

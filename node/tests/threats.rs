//! Threats from a certified peer that is not a member (issue 16; CHAOS.md T5 and the
//! identity takeover): three node runtimes on loopback and a rogue libp2p peer that
//! holds a real certificate — anyone with a simple-mode bundle can mint one — and
//! speaks the node protocol directly.
//!
//! - **Takeover through `Join`**: the rogue sends a join for a member's id, with
//!   that member's (public) certificate and the rogue's own peer id. It must be
//!   refused and the member's entry must not change.
//! - **Non-member raft messages** (T5): a vote with a huge term, a heartbeat and a
//!   lease for itself. All are dropped before openraft sees them: no term change,
//!   no leader change. (An append from a non-member is not refused yet: see
//!   docs/SECURITY.md.)

mod common;

use std::time::Duration;

use common::{addr, cluster_homes, eventually, start_three, voters};
use ed25519_dalek::SigningKey;
use openraft::raft::VoteRequest;
use openraft::{CommittedLeaderId, LogId, Vote};
use shoal_home::Home;
use shoal_node::net::message::{NetRequest, NetResponse};
use shoal_node::RunningNode;
use shoal_p2p::{Addr, P2pConfig, P2pEvent, P2pHandle, PeerId};
use shoal_raft_store::Request;
use shoal_types::join::JoinProof;
use shoal_types::{keys, Certificate, NodeId};

/// The rogue: a fresh key certified by the cluster's authority; the peers that
/// admitted it.
async fn rogue(genesis: &Home, bootstrap: Vec<Addr>) -> (SigningKey, P2pHandle, Vec<PeerId>) {
    let b = shoal_home::bundle::Bundle::load(&genesis.bundle()).unwrap();
    let authority = keys::verifying_from_hex(&b.authority_public_key).unwrap();
    let secret = keys::signing_from_hex(b.authority_secret_key.as_deref().unwrap()).unwrap();
    let key = keys::generate();
    let cert = Certificate::issue(&secret, &b.cluster_id, &key.verifying_key(), 1);
    let mut c = P2pConfig::new(key.to_bytes(), cert, &b.cluster_id, authority);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c.bootstrap = bootstrap;
    c.mdns = false;
    c.request_timeout = Duration::from_secs(5);
    let (h, mut events, _task) = shoal_p2p::start(c, tokio_util::sync::CancellationToken::new())
        .expect("the rogue's swarm starts");
    let mut peers = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while peers.len() < 3 {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(P2pEvent::PeerAdmitted { peer, .. })) => peers.push(peer),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    assert!(!peers.is_empty(), "no node admitted the certified rogue");
    (key, h, peers)
}

async fn ask(h: &P2pHandle, peer: PeerId, req: &NetRequest) -> NetResponse {
    let bytes = h
        .request(peer, serde_json::to_vec(req).unwrap())
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn term(n: &RunningNode) -> u64 {
    n.raft.metrics().borrow().current_term
}

fn leader(n: &RunningNode) -> Option<u64> {
    n.raft.metrics().borrow().current_leader
}

fn entry_of(n: &RunningNode, node: u64) -> Option<String> {
    n.raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&node)
        .map(|b| b.addr.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_non_member_can_neither_take_an_identity_nor_drive_raft() {
    let dir = tempfile::tempdir().unwrap();
    let homes = cluster_homes(dir.path(), 3);
    let (a, a_addr, b, c) = start_three(&homes).await;
    let nodes = [&a, &b, &c];
    eventually("3 voters and one leader", || {
        nodes.iter().all(|n| voters(n) == 3 && leader(n).is_some())
    })
    .await;
    let bootstrap = vec![
        a_addr.parse().unwrap(),
        addr(&b).await.parse().unwrap(),
        addr(&c).await.parse().unwrap(),
    ];
    let (key, h, peers) = rogue(&homes[0], bootstrap).await;
    let me = NodeId::from_public_key(key.verifying_key().as_bytes());
    let my_peer = keys::peer_id_of(&key.verifying_key());
    let terms: Vec<u64> = nodes.iter().map(|n| term(n)).collect();
    let leaders: Vec<Option<u64>> = nodes.iter().map(|n| leader(n)).collect();
    let victim = b.identity.node_id.0;
    let victim_entry = entry_of(&a, victim).unwrap();

    // The takeover: the victim's certificate, the rogue's peer id, to every node
    // (a follower passes it on to the leader).
    let addr = format!("{my_peer}@/ip4/127.0.0.1/tcp/1");
    let b_cluster = b.identity.cluster_id.clone();
    for peer in &peers {
        for proof in [
            None,
            Some(JoinProof::sign(
                &key,
                &b_cluster,
                victim,
                &addr,
                shoal_types::time::now_ms(),
            )),
        ] {
            let join = NetRequest::Join {
                node_id: victim,
                addr: addr.clone(),
                certificate: b.identity.certificate.clone(),
                proof,
            };
            match ask(&h, *peer, &join).await {
                NetResponse::Joined(Err(e)) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("proof") || e.contains("not signed") || e.contains("peer"),
                        "{e}"
                    )
                }
                other => panic!("the takeover join was not refused: {other:?}"),
            }
        }
    }

    // Raft from a non-member: a vote and an append with a huge term.
    let huge = terms.iter().max().unwrap() + 1_000;
    let vote = NetRequest::Vote(VoteRequest::new(
        Vote::new(huge, me.0),
        Some(LogId::new(CommittedLeaderId::new(huge, me.0), 1 << 40)),
    ));
    let heartbeat = NetRequest::Heartbeat { node: me };
    let lease = NetRequest::Forward(Request::Lease {
        node: me,
        max_jobs: 1,
        now_ms: shoal_types::time::now_ms(),
    });
    for peer in &peers {
        for (what, req) in [
            ("vote", &vote),
            ("heartbeat", &heartbeat),
            ("lease", &lease),
        ] {
            match ask(&h, *peer, req).await {
                NetResponse::Refused(why) => {
                    assert!(why.contains("not a member"), "{what}: {why}")
                }
                other => panic!("a non-member's {what} was not dropped: {other:?}"),
            }
        }
    }

    // Nothing moved: the victim's entry, every term, every leader.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(entry_of(&a, victim).as_deref(), Some(victim_entry.as_str()));
    assert_eq!(
        nodes.iter().map(|n| term(n)).collect::<Vec<_>>(),
        terms,
        "a term changed"
    );
    assert_eq!(
        nodes.iter().map(|n| leader(n)).collect::<Vec<_>>(),
        leaders,
        "the leader changed"
    );
    for n in [a, b, c] {
        n.stop().await;
    }
}

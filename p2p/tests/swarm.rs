//! Real swarms on loopback: the certificate gate, requests, gossip, stopping.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use shoal_p2p::{start, Addr, P2pConfig, P2pError, P2pEvent, P2pEvents, P2pHandle};
use shoal_types::Certificate;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

fn config(authority: &SigningKey, cluster: &str, seed: u8, bootstrap: Vec<Addr>) -> P2pConfig {
    let node = SigningKey::from_bytes(&[seed; 32]);
    let cert = Certificate::issue(authority, cluster, &node.verifying_key(), 1);
    let mut c = P2pConfig::new(node.to_bytes(), cert, cluster, authority.verifying_key());
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c.bootstrap = bootstrap;
    c.mdns = false;
    c.request_timeout = Duration::from_secs(2);
    c
}

/// A swarm that stops when its handles are dropped (its task is not awaited).
fn run(c: P2pConfig) -> (P2pHandle, P2pEvents) {
    let (handle, events, _task) = start(c, CancellationToken::new()).unwrap();
    (handle, events)
}

async fn listen_addr(h: &P2pHandle) -> Addr {
    for _ in 0..100 {
        if let Some(a) = h.reachable_addrs().await.unwrap().into_iter().next() {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no listen address");
}

/// Answers every request with "echo:" + body; forwards other events.
fn echo(mut events: P2pEvents) -> mpsc::Receiver<P2pEvent> {
    let (tx, rx) = mpsc::channel(100);
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                P2pEvent::Request { body, reply, .. } => {
                    let mut out = b"echo:".to_vec();
                    out.extend(body);
                    let _ = reply.send(out);
                }
                other => {
                    let _ = tx.send(other).await;
                }
            }
        }
    });
    rx
}

async fn next_admitted(rx: &mut mpsc::Receiver<P2pEvent>) -> shoal_p2p::PeerId {
    loop {
        match timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(P2pEvent::PeerAdmitted { peer, .. })) => return peer,
            Ok(Some(_)) => continue,
            other => panic!("no admission: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_talk_and_strangers_are_dropped() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let (b, b_events) = run(config(&authority, "c1", 2, vec![]));
    let mut b_events = echo(b_events);
    let b_addr = listen_addr(&b).await;

    let (a, a_events) = run(config(&authority, "c1", 3, vec![b_addr.clone()]));
    let mut a_events = echo(a_events);
    assert_eq!(next_admitted(&mut a_events).await, b.local_peer_id());
    assert_eq!(next_admitted(&mut b_events).await, a.local_peer_id());

    let answer = a
        .request(b.local_peer_id(), b"ping".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"echo:ping");

    // Gossip reaches the other member (the mesh needs a heartbeat or two).
    let mut got = false;
    for _ in 0..40 {
        a.publish(b"advert".to_vec()).await.unwrap();
        if let Ok(Some(P2pEvent::Gossip { from, body })) =
            timeout(Duration::from_millis(250), b_events.recv()).await
        {
            assert_eq!(from, a.local_peer_id());
            assert_eq!(body, b"advert");
            got = true;
            break;
        }
    }
    assert!(got, "gossip never arrived");

    // A node certified by another authority is refused and disconnected, and
    // cannot get a request through.
    let rogue_authority = SigningKey::from_bytes(&[9; 32]);
    let (rogue, rogue_events) = run(config(&rogue_authority, "c1", 4, vec![b_addr.clone()]));
    let _rogue_events = echo(rogue_events);
    // Whichever side checks the other's certificate first refuses and hangs up.
    let refused = async {
        let count = |h: &P2pHandle| {
            h.gate_metrics()
                .refused
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        while count(&b) + count(&rogue) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(Duration::from_secs(5), refused)
        .await
        .expect("rogue not refused within 5 s");
    assert_eq!(
        b.gate_metrics()
            .admitted
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "only the member was ever admitted"
    );
    let r = rogue
        .request(b.local_peer_id(), b"let me in".to_vec())
        .await;
    assert!(r.is_err(), "rogue got an answer: {r:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let peers = b.connected_peers().await.unwrap();
    assert!(
        !peers.contains(&rogue.local_peer_id()),
        "rogue still connected"
    );
    assert!(peers.contains(&a.local_peer_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_an_empty_certificate_is_refused_and_a_raw_socket_gets_nothing() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let (b, _b_events) = run(config(&authority, "c1", 2, vec![]));
    let b_addr = listen_addr(&b).await;
    // A raw TCP connection that never completes the noise handshake (it never
    // becomes a connection), then a libp2p peer with an empty certificate. (The
    // hello timeout itself is covered by the gate's unit test.)
    let addr = b_addr.to_string();
    let port: u16 = addr.rsplit('/').next().unwrap().parse().unwrap();
    let _raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();

    let mut c = config(&authority, "c1", 5, vec![b_addr]);
    c.certificate = Certificate {
        cluster_id: "c1".into(),
        node_key: String::new(),
        issued_at_ms: 0,
        signature: String::new(),
    };
    let (bare, _bare_events) = run(c);
    let t0 = std::time::Instant::now();
    loop {
        let refused = b
            .gate_metrics()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed);
        if refused >= 1
            && !b
                .connected_peers()
                .await
                .unwrap()
                .contains(&bare.local_peer_id())
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "peer without a certificate stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_node_refuses_fails_at_once_for_the_asker() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let (b, mut b_events) = run(config(&authority, "c1", 2, vec![]));
    // b refuses every request by dropping its reply, as the network does with a
    // request it cannot queue for a lagging node.
    tokio::spawn(async move { while b_events.recv().await.is_some() {} });
    let b_addr = listen_addr(&b).await;
    let (a, a_events) = run(config(&authority, "c1", 3, vec![b_addr]));
    let mut a_events = echo(a_events);
    assert_eq!(next_admitted(&mut a_events).await, b.local_peer_id());
    let t0 = std::time::Instant::now();
    let r = a.request(b.local_peer_id(), b"ping".to_vec()).await;
    assert!(r.is_err(), "{r:?}");
    // Well before the request timeout (2 s in these tests).
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_while_the_peer_is_being_dialled_all_wait_for_it() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let (b, b_events) = run(config(&authority, "c1", 2, vec![]));
    let _b_events = echo(b_events);
    let b_addr = listen_addr(&b).await;
    let (a, _a_events) = run(config(&authority, "c1", 3, vec![]));
    a.add_addresses(b.local_peer_id(), vec![b_addr])
        .await
        .unwrap();
    // The first request dials b; the others find that dial under way and wait too.
    let asks = (0..5u8).map(|i| a.request(b.local_peer_id(), vec![i]));
    let answers = timeout(Duration::from_secs(10), futures::future::join_all(asks))
        .await
        .expect("requests hung");
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap(), [b"echo:".as_slice(), &[i as u8]].concat());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_a_peer_that_never_answers_its_dial_are_capped() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    // A socket that accepts TCP (in its backlog) and never speaks: the dial hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (a, _a_events) = run(config(&authority, "c1", 3, vec![]));
    let ghost = shoal_p2p::peer_id_of([7; 32]).unwrap();
    let addr: Addr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    a.add_addresses(ghost, vec![addr]).await.unwrap();

    // Polling them once sends all 64 (none can be answered before the dial ends);
    // a round trip after that orders after them in the actor.
    let mut waiting = Box::pin(futures::future::join_all(
        (0..64).map(|_| a.request(ghost, b"hi".to_vec())),
    ));
    assert!(timeout(Duration::from_millis(100), &mut waiting)
        .await
        .is_err());
    a.connected_peers().await.unwrap();
    let over = timeout(
        Duration::from_millis(500),
        a.request(ghost, b"one more".to_vec()),
    )
    .await
    .expect("a request over the cap is answered at once");
    assert!(matches!(over, Err(P2pError::Overloaded { .. })), "{over:?}");
    // The parked ones fail at their timeout (2 s in these tests), not later.
    let parked = timeout(Duration::from_secs(5), waiting)
        .await
        .expect("parked requests hung");
    for r in parked {
        assert!(matches!(r, Err(P2pError::Unreachable { .. })), "{r:?}");
    }
}

/// The port of a `/ip4/.../tcp/PORT` address.
fn port_of(addr: &Addr) -> u16 {
    let text = addr.to_string();
    let mut parts = text.split('/');
    parts.find(|p| *p == "tcp").expect("a TCP address");
    parts.next().unwrap().parse().unwrap()
}

/// Waits until `task` has ended, within 5 s.
async fn ended(task: tokio::task::JoinHandle<()>) {
    timeout(Duration::from_secs(5), task)
        .await
        .expect("the swarm task did not end")
        .expect("the swarm task panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_swarm_closes_its_port_and_connections_and_its_task_ends() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let cancel = CancellationToken::new();
    let (b, b_events, b_task) = start(config(&authority, "c1", 2, vec![]), cancel.clone()).unwrap();
    let mut b_events = echo(b_events);
    let b_addr = listen_addr(&b).await;
    let port = port_of(&b_addr);
    let (a, a_events) = run(config(&authority, "c1", 3, vec![b_addr]));
    let mut a_events = echo(a_events);
    assert_eq!(next_admitted(&mut a_events).await, b.local_peer_id());
    assert_eq!(next_admitted(&mut b_events).await, a.local_peer_id());
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "the port should be taken while the swarm runs"
    );

    // Handles to b stay alive: cancelling alone stops it.
    let b2 = b.clone();
    cancel.cancel();
    ended(b_task).await;
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the listen port is free again");
    assert!(matches!(b2.connected_peers().await, Err(P2pError::Stopped)));
    assert!(matches!(
        b.request(a.local_peer_id(), b"ping".to_vec()).await,
        Err(P2pError::Stopped)
    ));
    // b's events end; a saw b go.
    let rest = timeout(Duration::from_secs(5), async {
        while b_events.recv().await.is_some() {}
    });
    rest.await.expect("b's events did not end");
    loop {
        match timeout(Duration::from_secs(5), a_events.recv()).await {
            Ok(Some(P2pEvent::PeerGone { peer })) if peer == b.local_peer_id() => break,
            Ok(Some(_)) => continue,
            other => panic!("a never saw b go: {other:?}"),
        }
    }
    assert!(!a
        .connected_peers()
        .await
        .unwrap()
        .contains(&b.local_peer_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_or_dropping_every_handle_also_stops_a_swarm() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let cancel = CancellationToken::new();

    // shutdown() stops this swarm, and not the token it was started with.
    let (b, _b_events, b_task) =
        start(config(&authority, "c1", 2, vec![]), cancel.clone()).unwrap();
    let port = port_of(&listen_addr(&b).await);
    b.clone().shutdown();
    ended(b_task).await;
    assert!(!cancel.is_cancelled());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the listen port is free again");
    assert!(matches!(b.reachable_addrs().await, Err(P2pError::Stopped)));

    // Dropping every handle stops it too.
    let (c, _c_events, c_task) =
        start(config(&authority, "c1", 3, vec![]), cancel.clone()).unwrap();
    let port = port_of(&listen_addr(&c).await);
    let c2 = c.clone();
    drop(c);
    // One handle left: still running.
    assert!(c2.reachable_addrs().await.is_ok());
    drop(c2);
    ended(c_task).await;
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the listen port is free again");
}

#[cfg(feature = "quic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_talk_over_quic() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let mut cb = config(&authority, "c1", 2, vec![]);
    cb.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
    let (b, b_events) = run(cb);
    let _b_events = echo(b_events);
    let b_addr = listen_addr(&b).await;
    assert!(b_addr.to_string().contains("quic-v1"), "{b_addr}");
    let mut ca = config(&authority, "c1", 3, vec![b_addr]);
    ca.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
    let (a, a_events) = run(ca);
    let mut a_events = echo(a_events);
    assert_eq!(next_admitted(&mut a_events).await, b.local_peer_id());
    let answer = a
        .request(b.local_peer_id(), b"ping".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"echo:ping");
}

/// T8: a flood of raw TCP connections that never finish a handshake. Past the
/// pending-incoming cap the node closes them at once; a member already connected
/// keeps talking through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_capped_and_members_keep_talking() {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let mut cb = config(&authority, "c1", 2, vec![]);
    cb.limits.pending_incoming = 8;
    let (b, b_events) = run(cb);
    let mut b_events = echo(b_events);
    let b_addr = listen_addr(&b).await;
    let (a, a_events) = run(config(&authority, "c1", 3, vec![b_addr.clone()]));
    let _a_events = echo(a_events);
    assert_eq!(next_admitted(&mut b_events).await, a.local_peer_id());

    let port = b_addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // Denied connections are closed by the node: a read sees the end (or a reset).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut closed = 0;
    for s in &mut flood {
        let mut buf = [0u8; 64];
        use tokio::io::AsyncReadExt;
        // A pending connection gets the node's side of the handshake, or nothing.
        if let Ok(r) = timeout(Duration::from_millis(5), s.read(&mut buf)).await {
            if matches!(r, Ok(0) | Err(_)) {
                closed += 1;
            }
        }
    }
    assert!(
        closed >= 200 - 8 - 4,
        "only {closed} of 200 unfinished handshakes were refused with a cap of 8"
    );
    // The member is served all along.
    let answer = a
        .request(b.local_peer_id(), b"still there".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"echo:still there");
}

//! The bad peer of the `bad-peer` scenario: a libp2p node that tries to get forged
//! jobs run.
//!
//! Two rogues: one certified by another authority (it must never be admitted), and
//! one that holds a real certificate — anyone with the bundle can mint one in simple
//! mode — and forwards forged envelopes: a body edited after signing, a body signed
//! by a key other than the certified one, and a body for another cluster. Every
//! attempt is recorded; if a forged job ever runs, its own start event carries a
//! `forged-` key and the checker counts it.

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use shoal_p2p::{start, Addr, P2pConfig, P2pEvent, P2pEvents, P2pHandle, PeerId};
use shoal_types::envelope::fresh_nonce;
use shoal_types::{keys, Certificate, EnvelopeBody, JobSpec, NodeId, SignedEnvelope};

use super::history::{now_ns, Event, Recorder};

pub(super) fn rogue(
    key: &SigningKey,
    cert: Certificate,
    cluster: &str,
    authority: ed25519_dalek::VerifyingKey,
    bootstrap: Vec<Addr>,
    listen: &Addr,
) -> anyhow::Result<(P2pHandle, P2pEvents)> {
    let mut c = P2pConfig::new(key.to_bytes(), cert, cluster, authority);
    c.listen = vec![listen.clone()];
    c.bootstrap = bootstrap;
    c.mdns = false;
    c.request_timeout = Duration::from_secs(3);
    // The swarm stops when the rogue drops its handle; nothing waits for it.
    let (handle, events, _task) = start(c, tokio_util::sync::CancellationToken::new())?;
    Ok((handle, events))
}

/// Peers that admitted the rogue within `wait`; requests from other peers are
/// answered with nothing.
pub(super) async fn admitted(events: &mut P2pEvents, wait: Duration) -> Vec<PeerId> {
    admitted_with_certificates(events, wait)
        .await
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// [`admitted`], with the certificate each peer showed (certificates are public).
async fn admitted_with_certificates(
    events: &mut P2pEvents,
    wait: Duration,
) -> Vec<(PeerId, Certificate)> {
    let mut peers = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let P2pEvent::PeerAdmitted { peer, certificate } = ev {
            peers.push((peer, certificate));
        }
    }
    peers
}

/// The cluster's bundle and its authority's public and secret keys: what a rogue
/// needs to mint itself a real certificate (anyone with a simple-mode bundle can).
pub(super) fn authority_of(
    bundle: &Path,
    scenario: &str,
) -> anyhow::Result<(
    shoal_home::bundle::Bundle,
    ed25519_dalek::VerifyingKey,
    SigningKey,
)> {
    let b = shoal_home::bundle::Bundle::load(bundle)?;
    let public = keys::verifying_from_hex(&b.authority_public_key)?;
    let secret =
        keys::signing_from_hex(b.authority_secret_key.as_deref().ok_or_else(|| {
            anyhow::anyhow!("the {scenario} scenario needs a simple-mode bundle")
        })?)?;
    Ok((b, public, secret))
}

/// One round of attacks from a peer listening on `listen`; returns how many forged
/// submissions or admissions a node accepted.
pub async fn attack(
    bundle: &Path,
    bootstrap: Vec<Addr>,
    listen: &Addr,
    job_events: &Path,
    exe: &str,
    clients: &Recorder,
    round: u64,
) -> anyhow::Result<usize> {
    let (b, authority, authority_secret) = authority_of(bundle, "bad-peer")?;

    // A stranger: certified by another authority. It must not be admitted.
    let stranger_key = keys::generate();
    let other_authority = keys::generate();
    let foreign = Certificate::issue(
        &other_authority,
        &b.cluster_id,
        &stranger_key.verifying_key(),
        1,
    );
    let (_s, mut s_events) = rogue(
        &stranger_key,
        foreign,
        &b.cluster_id,
        other_authority.verifying_key(),
        bootstrap.clone(),
        listen,
    )?;
    let stranger_in = admitted(&mut s_events, Duration::from_secs(2)).await;
    clients.record(&Event::Fault {
        t: now_ns(),
        what: format!(
            "stranger with a foreign certificate admitted by {} nodes",
            stranger_in.len()
        ),
    });

    // An insider: a valid certificate, forged envelopes.
    let key = keys::generate();
    let cert = Certificate::issue(&authority_secret, &b.cluster_id, &key.verifying_key(), 1);
    let (h, mut events) = rogue(
        &key,
        cert.clone(),
        &b.cluster_id,
        authority,
        bootstrap,
        listen,
    )?;
    let shown = admitted_with_certificates(&mut events, Duration::from_secs(3)).await;
    let peers: Vec<PeerId> = shown.iter().map(|(p, _)| *p).collect();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let me = NodeId::from_public_key(key.verifying_key().as_bytes());
    let mut accepted = stranger_in.len();
    accepted += impostor(&h, &shown, &key, &b.cluster_id, clients).await?;
    for (i, variant) in ["edited", "wrong-key", "other-cluster"].iter().enumerate() {
        let tag = format!("forged-{round}-{i}");
        let spec = JobSpec::argv(
            vec![
                exe.into(),
                "__job".into(),
                job_events.to_string_lossy().into_owned(),
                tag.clone(),
                "100".into(),
            ],
            "/",
        );
        let body = EnvelopeBody {
            cluster_id: if *variant == "other-cluster" {
                "not-this-cluster".into()
            } else {
                b.cluster_id.clone()
            },
            spec,
            submitter: me,
            certificate: cert.clone(),
            timestamp_ms: 0,
            nonce: fresh_nonce(),
        };
        let signer = if *variant == "wrong-key" {
            keys::generate()
        } else {
            key.clone()
        };
        let mut env = SignedEnvelope::sign(&body, &signer);
        if *variant == "edited" {
            env.body = env.body.replace("\"100\"", "\"101\"");
        }
        let req = serde_json::json!({ "Forward": { "Submit": { "envelope": env, "now_ms": 0 } } });
        for peer in &peers {
            clients.record(&Event::Submit {
                t: now_ns(),
                key: tag.clone(),
                node: 99,
            });
            let answer = h.request(*peer, serde_json::to_vec(&req)?).await;
            let v: serde_json::Value = answer
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            match v["Forwarded"]["Ok"]["Submitted"]["id"].as_u64() {
                Some(id) => {
                    accepted += 1;
                    clients.record(&Event::Ack {
                        t: now_ns(),
                        key: tag.clone(),
                        id,
                    });
                }
                None => clients.record(&Event::Error {
                    t: now_ns(),
                    key: tag.clone(),
                    error: format!("{variant}: {v}"),
                }),
            }
        }
    }
    Ok(accepted)
}

/// The certified rogue as an impostor: a join for a member's id with that member's
/// certificate (shown in its hello) and the rogue's own peer id, and a vote with a
/// huge term as a non-member. Each must be refused for the right reason; one that
/// is not is recorded as a violation. Returns how many were not refused.
async fn impostor(
    h: &P2pHandle,
    shown: &[(PeerId, Certificate)],
    key: &SigningKey,
    cluster: &str,
    clients: &Recorder,
) -> anyhow::Result<usize> {
    let me = NodeId::from_public_key(key.verifying_key().as_bytes());
    let Some(victim) = shown.iter().find_map(|(_, c)| c.node_id().ok()) else {
        return Ok(0);
    };
    let addr = format!(
        "{}@/ip4/127.0.0.1/tcp/1",
        keys::peer_id_of(&key.verifying_key())
    );
    let victim_cert = &shown
        .iter()
        .find(|(_, c)| c.node_id().ok() == Some(victim))
        .unwrap()
        .1;
    let proof = shoal_types::join::JoinProof::sign(
        key,
        cluster,
        victim.0,
        &addr,
        shoal_types::time::now_ms(),
    );
    let join = serde_json::json!({ "Join": {
        "node_id": victim.0, "addr": addr, "certificate": victim_cert, "proof": proof } });
    let huge = u64::MAX >> 8;
    let vote = serde_json::json!({ "Vote": {
        "vote": { "leader_id": { "term": huge, "node_id": me.0 }, "committed": false },
        "last_log_id": { "leader_id": { "term": huge, "node_id": me.0 }, "index": huge } } });
    let mut taken = 0;
    for (peer, _) in shown {
        for (what, req, refused) in [
            ("takeover join", &join, "not signed by the certified key"),
            ("non-member vote", &vote, "not a member"),
        ] {
            let answer = h.request(*peer, serde_json::to_vec(req)?).await;
            let v: serde_json::Value = answer
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let text = v.to_string();
            anyhow::ensure!(
                !text.contains("unreadable"),
                "the rogue's {what} could not be read by {peer}: {text}"
            );
            if !text.contains(refused) {
                taken += 1;
                clients.record(&Event::Violation {
                    t: now_ns(),
                    what: format!("{what} was not refused by {peer}: {text}"),
                });
            }
        }
    }
    clients.record(&Event::Fault {
        t: now_ns(),
        what: format!(
            "impostor: a join as node {victim} and a vote with term {huge} to {} nodes, {taken} not refused",
            shown.len()
        ),
    });
    Ok(taken)
}

/// Which rogue [`attack_from`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rogue {
    /// Forged envelopes and certificates ([`attack`]).
    Forger,
    /// Oversized requests ([`super::poison::attack`]).
    Poisoner,
}

/// Runs a rogue against the world's nodes: from the rogue's own namespace in netns
/// mode (a thread that entered it), from 127.0.0.1 on loopback. How many of its
/// requests a node accepted.
pub async fn attack_from(
    w: &super::world::World,
    ctx: &super::Ctx,
    round: u64,
    which: Rogue,
) -> anyhow::Result<usize> {
    let bootstrap: Vec<Addr> = w
        .net
        .places
        .iter()
        .filter_map(|p| p.reachable().parse().ok())
        .collect();
    let (ns, ip) = match &w.rogue_at {
        Some((path, ip)) => (Some(path.clone()), *ip),
        None => (None, std::net::Ipv4Addr::LOCALHOST),
    };
    let listen: Addr = format!("/ip4/{ip}/tcp/0").parse()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (bundle, jobs, exe, history) = (
        w.bundle.clone(),
        ctx.jobs_file.clone(),
        ctx.exe.clone(),
        ctx.clients_file.clone(),
    );
    crate::net::enter::spawn_in(ns.as_deref(), "rogue", move || async move {
        let result = async {
            // Its own handle on the clients' history (appends of whole lines).
            let rec = Recorder::open(&history)?;
            match which {
                Rogue::Forger => {
                    attack(&bundle, bootstrap, &listen, &jobs, &exe, &rec, round).await
                }
                Rogue::Poisoner => super::poison::attack(&bundle, bootstrap, &listen, &rec).await,
            }
        }
        .await;
        let _ = tx.send(result);
    })?;
    rx.await
        .map_err(|_| anyhow::anyhow!("the rogue's thread ended without an answer"))?
}

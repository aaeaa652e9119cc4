//! The `poison` scenario's rogue: a peer with a real certificate (anyone with a
//! simple-mode bundle can mint one) that forwards requests over the bounds of one
//! raft entry — an array of more tasks than allowed, a batch of too many envelopes
//! and one of too many bytes, a lease of `u32::MAX` jobs, a cancel and a release of
//! more ids than allowed — and a frame over the network's limit. Every one of them
//! must be refused; one that is accepted, or a node that dies of one, is a violation.
//! Whatever it asks is held, so nothing it submits runs even if it were accepted.

use std::path::Path;
use std::time::Duration;

use shoal_p2p::{Addr, P2pHandle, PeerId};
use shoal_types::envelope::fresh_nonce;
use shoal_types::{keys, Certificate, EnvelopeBody, JobId, JobSpec, NodeId, SignedEnvelope};

use super::history::{now_ns, Event, Recorder};

/// The oversized requests, by name, as the JSON of a forwarded `Request`.
fn requests(
    key: &ed25519_dalek::SigningKey,
    cert: &Certificate,
    cluster: &str,
) -> Vec<(&'static str, serde_json::Value)> {
    let me = NodeId::from_public_key(key.verifying_key().as_bytes());
    let now = shoal_types::time::now_ms();
    let envelope = |spec: JobSpec| {
        let body = EnvelopeBody {
            cluster_id: cluster.to_string(),
            spec,
            submitter: me,
            certificate: cert.clone(),
            timestamp_ms: now,
            nonce: fresh_nonce(),
        };
        SignedEnvelope::sign(&body, key)
    };
    let held = |array: Option<u32>, env: Vec<(String, String)>| {
        let mut s = JobSpec::argv(vec!["true".into()], "/");
        s.hold = true;
        s.array = array;
        s.env = env;
        s
    };
    let many_ids: Vec<JobId> = (1..=150_000).map(JobId).collect();
    // Five specs just under the 1 MiB a spec may be: over the 4 MiB of one entry.
    let big = || vec![("POISON".to_string(), "x".repeat(1_000_000))];
    vec![
        (
            "an array of 100,001 tasks",
            serde_json::json!({ "Submit": {
                "envelope": envelope(held(Some(100_001), Vec::new())), "now_ms": now } }),
        ),
        (
            "a batch of 4,097 envelopes",
            serde_json::json!({ "SubmitBatch": {
                "envelopes": (0..4_097).map(|_| envelope(held(None, Vec::new()))).collect::<Vec<_>>(),
                "now_ms": now } }),
        ),
        (
            "a batch of 5 MB of envelopes",
            serde_json::json!({ "SubmitBatch": {
                "envelopes": (0..5).map(|_| envelope(held(None, big()))).collect::<Vec<_>>(),
                "now_ms": now } }),
        ),
        (
            "a lease of u32::MAX jobs",
            serde_json::json!({ "Lease": { "node": me, "max_jobs": u32::MAX, "now_ms": now } }),
        ),
        (
            "a cancel of 150,000 ids",
            serde_json::json!({ "Cancel": { "ids": many_ids, "now_ms": now } }),
        ),
        (
            "a release of 150,000 ids",
            serde_json::json!({ "Release": { "ids": many_ids } }),
        ),
    ]
}

/// Whether a node's answer means it took the request: anything but a refusal.
pub fn accepted(answer: &serde_json::Value) -> bool {
    let Some(ok) = answer["Forwarded"].get("Ok") else {
        // An error answer, or none at all.
        return false;
    };
    if ok.get("Refused").is_some() || ok.get("SubmitRejected").is_some() {
        return false;
    }
    match ok["SubmittedBatch"]["results"].as_array() {
        // Every envelope rejected on its own.
        Some(results) => results.iter().any(|r| r.get("Ok").is_some()),
        None => true,
    }
}

/// One round from a certified rogue on `listen`; how many requests were accepted.
pub async fn attack(
    bundle: &Path,
    bootstrap: Vec<Addr>,
    listen: &Addr,
    clients: &Recorder,
) -> anyhow::Result<usize> {
    let (b, authority, authority_secret) = super::rogue::authority_of(bundle, "poison")?;
    let key = keys::generate();
    let cert = Certificate::issue(&authority_secret, &b.cluster_id, &key.verifying_key(), 1);
    let (h, mut events) = super::rogue::rogue(
        &key,
        cert.clone(),
        &b.cluster_id,
        authority,
        bootstrap,
        listen,
    )?;
    let peers = super::rogue::admitted(&mut events, Duration::from_secs(3)).await;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    anyhow::ensure!(!peers.is_empty(), "no node admitted the certified rogue");
    let mut taken = 0;
    for (what, req) in requests(&key, &cert, &b.cluster_id) {
        let bytes = serde_json::to_vec(&serde_json::json!({ "Forward": req }))?;
        for peer in &peers {
            let answer = ask(&h, *peer, bytes.clone()).await;
            if accepted(&answer) {
                taken += 1;
                clients.record(&Event::Violation {
                    t: now_ns(),
                    what: format!("{what} was accepted by {peer}: {}", short(&answer)),
                });
            }
        }
        clients.record(&Event::Fault {
            t: now_ns(),
            what: format!("rogue sent {what} ({} KiB)", bytes.len() >> 10),
        });
    }
    // Over the frame limit: the node must drop it (and the stream), nothing more.
    let frame = vec![b' '; 17 << 20];
    for peer in &peers {
        let answer = ask(&h, *peer, frame.clone()).await;
        if accepted(&answer) {
            taken += 1;
        }
    }
    clients.record(&Event::Fault {
        t: now_ns(),
        what: "rogue sent a 17 MiB frame".into(),
    });
    Ok(taken)
}

async fn ask(h: &P2pHandle, peer: PeerId, bytes: Vec<u8>) -> serde_json::Value {
    h.request(peer, bytes)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    s.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::accepted;
    use serde_json::json;

    #[test]
    fn only_refusals_count_as_refused() {
        assert!(!accepted(&json!(null)));
        assert!(!accepted(&json!({"Forwarded": {"Err": "x"}})));
        assert!(!accepted(
            &json!({"Forwarded": {"Ok": {"Refused": {"reason": {}}}}})
        ));
        assert!(!accepted(
            &json!({"Forwarded": {"Ok": {"SubmitRejected": {"reason": "x"}}}})
        ));
        assert!(!accepted(
            &json!({"Forwarded": {"Ok": {"SubmittedBatch": {"results": [{"Err": "x"}]}}}})
        ));
        assert!(accepted(
            &json!({"Forwarded": {"Ok": {"SubmittedBatch": {"results": [{"Err": "x"}, {"Ok": 3}]}}}})
        ));
        assert!(accepted(
            &json!({"Forwarded": {"Ok": {"Leased": {"jobs": []}}}})
        ));
        assert!(accepted(
            &json!({"Forwarded": {"Ok": {"Cancelled": {"results": []}}}})
        ));
    }
}

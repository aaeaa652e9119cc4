//! The chaos workload: a seeded stream of submits at random nodes, every one with a
//! dedup key; a submit that fails or times out is retried with the same key at
//! another node, as a careful client would. Everything is recorded.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shoal_types::api::{SubmitRequest, SubmitResponse};
use shoal_types::JobSpec;

use super::history::{now_ns, Event, Recorder};
use super::Rng;

/// How long one submit may take before the client gives up on it (its effect is
/// then unknown) and retries.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per submit, the first included.
const TRIES: u32 = 4;

pub struct Workload {
    /// The nodes' API sockets, by node index; membership churn replaces one.
    pub sockets: Arc<RwLock<Vec<PathBuf>>>,
    pub exe: String,
    pub jobs_file: PathBuf,
    pub seed: u64,
    /// Every job starts a child that escapes its process group (`__job --escape`).
    pub escape: bool,
}

/// The spec of workload job `key`, running `millis` ms (with an escaping child
/// when `escape`).
pub fn job_spec(
    exe: &str,
    jobs_file: &std::path::Path,
    key: &str,
    millis: u64,
    escape: bool,
) -> JobSpec {
    let mut argv = vec![
        exe.to_string(),
        "__job".into(),
        jobs_file.to_string_lossy().into_owned(),
        key.to_string(),
        millis.to_string(),
    ];
    if escape {
        argv.push("--escape".into());
    }
    let mut spec = JobSpec::argv(argv, "/");
    spec.dedup_key = Some(key.to_string());
    // The chaos runs check that no acknowledged job is lost however often its nodes
    // die; giving up after a few losses is another rule (tested in raft-store).
    spec.max_lost = Some(shoal_types::job::MAX_MAX_LOST);
    spec
}

impl Workload {
    /// Submits every 100 ms until `stop`; waits for the submits in flight.
    pub async fn run(self, clients: Arc<Recorder>, stop: Arc<AtomicBool>) {
        let mut rng = Rng::new(self.seed);
        let mut tasks = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let sockets = self.sockets.read().map(|s| s.clone()).unwrap_or_default();
            let first = rng.below(sockets.len() as u64) as usize;
            // Mostly short jobs; one in forty outlives a lease, so faults catch
            // jobs mid-run and fencing has something to do.
            let millis = if rng.below(40) == 0 {
                8_000 + rng.below(4_000)
            } else {
                100 + rng.below(600)
            };
            let key = format!("k{n}");
            let spec = job_spec(&self.exe, &self.jobs_file, &key, millis, self.escape);
            let clients = clients.clone();
            let step = 1 + rng.below(sockets.len() as u64 - 1) as usize;
            tasks.push(tokio::spawn(async move {
                for attempt in 0..TRIES {
                    let node = (first + step * attempt as usize) % sockets.len();
                    clients.record(&Event::Submit {
                        t: now_ns(),
                        key: key.clone(),
                        node,
                    });
                    let client = shoal_client::Client::new(&sockets[node]);
                    let req = SubmitRequest { spec: spec.clone() };
                    let sent = tokio::time::timeout(
                        SUBMIT_TIMEOUT,
                        client.post::<_, SubmitResponse>("/v1/jobs", &req),
                    )
                    .await;
                    match sent {
                        Ok(Ok(r)) => {
                            clients.record(&Event::Ack {
                                t: now_ns(),
                                key,
                                id: r.id.0,
                            });
                            return;
                        }
                        Ok(Err(e)) => clients.record(&Event::Error {
                            t: now_ns(),
                            key: key.clone(),
                            error: e.to_string(),
                        }),
                        Err(_) => clients.record(&Event::Error {
                            t: now_ns(),
                            key: key.clone(),
                            error: "timeout".into(),
                        }),
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

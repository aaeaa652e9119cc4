//! Group commit for submissions: one task gathers every envelope that arrives while
//! earlier batches are being committed into one `SubmitBatch` raft entry.
//!
//! openraft 0.9 appends and commits one client entry per round, so proposing each
//! submit alone caps throughput at one job per fsync round. Here a request waits
//! only while the batches already in flight commit; under light load a batch is one
//! envelope and costs no extra latency.

use std::sync::Arc;
use std::time::Duration;

use shoal_raft_store::{limits, Request, Response, SubmitRejection};
use shoal_types::{time::now_ms, JobId, SignedEnvelope};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, Instrument};

use super::proposer::{ProposeError, Proposer};

/// Batches in flight at once. More than one lets the next batch be appended while
/// the previous one is still being applied.
const MAX_IN_FLIGHT: usize = 2;
/// A batch closes before it would pass the bounds of one raft entry
/// (`shoal_raft_store::limits`): envelopes, their bytes, and the jobs they make.
const MAX_BATCH_LEN: usize = limits::MAX_ENVELOPES;
const MAX_BATCH_BYTES: usize = limits::MAX_ENVELOPE_BYTES;
const MAX_BATCH_TASKS: u64 = limits::MAX_TASKS;
/// Submissions waiting for a batch; beyond this, callers wait to enqueue.
const QUEUE: usize = 16_384;

/// The outcome of one submission: committed (accepted or rejected by the state
/// machine), or not committed at all.
pub type SubmitResult = Result<Result<JobId, SubmitRejection>, ProposeError>;

struct Pending {
    envelope: SignedEnvelope,
    /// The jobs it makes (an array's size, else 1).
    tasks: u64,
    reply: oneshot::Sender<SubmitResult>,
}

impl Pending {
    fn bytes(&self) -> usize {
        self.envelope.body.len() + self.envelope.signature.len()
    }
}

/// A cloneable handle to the batching task.
#[derive(Clone)]
pub struct SubmitBatcher {
    tx: mpsc::Sender<Pending>,
    in_flight: Arc<Semaphore>,
    proposer: Proposer,
    patience: Duration,
}

impl SubmitBatcher {
    /// Starts the batching task in `tasks`; it ends on `stop` (answering what waits
    /// with an error) or when every handle is dropped. `patience` is how long a
    /// batch waits for a leader to be elected.
    pub fn start(
        proposer: Proposer,
        patience: Duration,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> SubmitBatcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let batcher = Batcher {
            proposer: proposer.clone(),
            patience,
            in_flight: in_flight.clone(),
            tasks: tasks.clone(),
        };
        tasks.spawn(batcher.run(rx, stop).in_current_span());
        SubmitBatcher {
            tx,
            in_flight,
            proposer,
            patience,
        }
    }

    /// Submits one verified envelope that makes `tasks` jobs (an array's size, else
    /// 1); answers once its batch is committed and applied.
    pub async fn submit(&self, envelope: SignedEnvelope, tasks: u32) -> SubmitResult {
        // Idle: propose from this task, sparing the two task hand-offs of a batch
        // (each costs a wake-up; on an idle virtual machine that is not free).
        if self.tx.capacity() == self.tx.max_capacity() {
            if let Ok(_permit) = self.in_flight.clone().try_acquire_owned() {
                return self.propose_one(envelope).await;
            }
        }
        let (reply, answer) = oneshot::channel();
        let stopped = || ProposeError::Fatal("the submit batcher has stopped".into());
        self.tx
            .send(Pending {
                envelope,
                tasks: u64::from(tasks),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl SubmitBatcher {
    async fn propose_one(&self, envelope: SignedEnvelope) -> SubmitResult {
        let req = Request::SubmitBatch {
            envelopes: vec![envelope],
            now_ms: now_ms(),
        };
        match self.proposer.propose_patiently(req, self.patience).await? {
            Response::SubmittedBatch { mut results } if results.len() == 1 => Ok(results.remove(0)),
            other => Err(ProposeError::unexpected("a submit batch of 1", other)),
        }
    }
}

struct Batcher {
    proposer: Proposer,
    patience: Duration,
    in_flight: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl Batcher {
    async fn run(self, mut rx: mpsc::Receiver<Pending>, stop: CancellationToken) {
        // The submission that did not fit the last batch opens the next one.
        let mut carry: Option<Pending> = None;
        loop {
            let first = match carry.take() {
                Some(p) => p,
                None => tokio::select! {
                    _ = stop.cancelled() => break,
                    p = rx.recv() => match p { Some(p) => p, None => break },
                },
            };
            // Waiting for a free slot first is what lets a batch grow under load.
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return;
            };
            let (mut bytes, mut tasks) = (first.bytes(), first.tasks);
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_LEN {
                let Ok(p) = rx.try_recv() else { break };
                if bytes + p.bytes() > MAX_BATCH_BYTES || tasks + p.tasks > MAX_BATCH_TASKS {
                    carry = Some(p);
                    break;
                }
                bytes += p.bytes();
                tasks += p.tasks;
                batch.push(p);
            }
            let proposer = self.proposer.clone();
            let patience = self.patience;
            self.tasks.spawn(
                async move {
                    commit(&proposer, batch, patience).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        // Dropping `rx` answers every waiting submitter: "the submit batcher has stopped".
    }
}

/// Proposes one batch and answers every submitter in it.
async fn commit(proposer: &Proposer, batch: Vec<Pending>, patience: Duration) {
    let (envelopes, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.envelope, p.reply)).unzip();
    let n = envelopes.len();
    let req = Request::SubmitBatch {
        envelopes,
        now_ms: now_ms(),
    };
    match proposer.propose_patiently(req, patience).await {
        Ok(Response::SubmittedBatch { results }) if results.len() == n => {
            debug!(jobs = n, "submit batch committed");
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(other) => {
            let e = ProposeError::unexpected("a submit batch", other);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

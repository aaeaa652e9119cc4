//! The one owner of the leader's liveness record: a task that takes signs of life
//! from everyone else through a [`LivenessHandle`] (the worker, the heartbeat and
//! lease handlers, the peer events), and four times a second asks [`Lapse`] which
//! workers to re-queue and proposes those requeues.

use std::time::{Duration, Instant};

use openraft::{Raft, ServerState};
use shoal_raft_store::{Request, Response, StoreView, TypeConfig};
use shoal_types::time::now_ms;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::lapse::{Lapse, Sign};
use super::LeaseTiming;
use crate::raft::proposer::Proposer;

/// How often the keeper judges.
const EVERY: Duration = Duration::from_millis(250);

/// Sends signs of life to the keeper. Cheap to clone. The channel is unbounded so
/// that no sign is ever dropped; it holds one entry per heartbeat, lease request or
/// connection change and is drained every 250 ms.
#[derive(Clone)]
pub struct LivenessHandle {
    tx: mpsc::UnboundedSender<(Sign, Instant)>,
}

impl LivenessHandle {
    fn send(&self, sign: Sign) {
        // Stamped here, when it happened, not when the keeper reads it. After the
        // keeper stopped there is nobody to tell.
        let _ = self.tx.send((sign, Instant::now()));
    }
    /// An acknowledged heartbeat or a lease request from `node`. Sent before the
    /// lease is proposed, so a lease the keeper's judgement sees applied was asked
    /// for by a worker the keeper has seen.
    pub fn seen(&self, node: u64) {
        self.send(Sign::Seen(node));
    }
    pub fn connected(&self, node: u64) {
        self.send(Sign::Connected(node));
    }
    pub fn disconnected(&self, node: u64) {
        self.send(Sign::Disconnected(node));
    }
}

/// On the leader: re-queues the jobs of workers that went silent.
pub struct LeaseKeeper {
    pub raft: Raft<TypeConfig>,
    pub view: StoreView,
    pub proposer: Proposer,
    pub timing: LeaseTiming,
    rx: mpsc::UnboundedReceiver<(Sign, Instant)>,
}

impl LeaseKeeper {
    pub fn new(
        raft: Raft<TypeConfig>,
        view: StoreView,
        proposer: Proposer,
        timing: LeaseTiming,
    ) -> (LeaseKeeper, LivenessHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let keeper = LeaseKeeper {
            raft,
            view,
            proposer,
            timing,
            rx,
        };
        (keeper, LivenessHandle { tx })
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let mut record = Lapse::default();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let leading = self.raft.metrics().borrow().state == ServerState::Leader;
            // Read before the signs are brought up to date: a lease applied by now
            // was asked for (and its sign sent) before this point, and a later one is
            // not taken back by a requeue below.
            let judged_at = self.view.last_applied().unwrap_or(0);
            while let Ok((sign, at)) = self.rx.try_recv() {
                record.record(sign, at);
            }
            record.leading(leading, Instant::now());
            if !leading {
                continue;
            }
            let running = match self.view.nodes_running() {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, "cannot read running jobs");
                    continue;
                }
            };
            for v in record.judge(Instant::now(), &running, judged_at, self.timing) {
                let req = Request::RequeueNode {
                    node: v.node,
                    now_ms: now_ms(),
                    leased_up_to: Some(v.leased_up_to),
                };
                match self.proposer.propose(req).await {
                    Ok(Response::Requeued { ids }) => {
                        warn!(node = %v.node, jobs = ids.len(), silent_ms = v.silent_for.as_millis() as u64, gone = v.gone, "lease lapsed: worker silent; its jobs are re-queued");
                        record.requeued(v.node, Instant::now());
                    }
                    Ok(other) => debug!(?other, "unexpected answer to a requeue"),
                    Err(e) => debug!(error = %e, "requeue not committed"),
                }
            }
        }
    }
}

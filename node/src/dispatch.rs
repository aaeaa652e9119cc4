//! What this node answers its peers: the [`Handler`] the node registers with the net
//! server. Raft RPCs go to the local raft, forwarded writes are checked and proposed
//! (only by the leader), joins go to the membership's desk, heartbeats to the lease
//! code, output reads to the output module.
//!
//! A forwarded write is held to what its sender may ask ([`may_write`]): envelopes
//! must verify (the leader checks every job before proposing it), and a node may
//! lease, complete or re-queue only its own work.

use std::sync::Arc;

use openraft::Raft;
use shoal_home::{Home, Identity};
use shoal_p2p::PeerId;
use shoal_raft_store::{Request, Response, TypeConfig};
use shoal_types::{EnvelopeVerifier, NodeId};
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::adverts::AdvertTable;
use crate::leases::{heartbeat, LeaseTiming, LivenessHandle};
use crate::membership::join::JoinDesk;
use crate::membership::vouch::Vouchers;
use crate::net::message::{self, NetRequest, NetResponse};
use crate::net::server::Handler;
use crate::net::{addr, ForwardError, Net};
use crate::raft::fast_election;

/// Everything answering a peer needs.
pub struct Dispatch {
    pub raft: Raft<TypeConfig>,
    pub net: Net,
    pub liveness: LivenessHandle,
    pub timing: LeaseTiming,
    pub home: Home,
    pub identity: Arc<Identity>,
    pub verifier: Arc<EnvelopeVerifier>,
    pub adverts: AdvertTable,
    pub view: shoal_raft_store::StoreView,
    /// Where the short-lived tasks it starts (a delayed election) are tracked.
    pub tasks: TaskTracker,
    /// Senders of raft messages that members vouched for (see `membership::vouch`).
    pub vouchers: Vouchers,
}

impl Handler for Dispatch {
    fn admit(&self, node: u64, peer: PeerId) -> bool {
        // A removed node is cut off: its stale log must not call elections here.
        if self.view.retired().is_ok_and(|r| r.contains(&node)) {
            warn!(node = %NodeId(node), "connection from a removed node refused");
            return false;
        }
        let m = self.raft.metrics().borrow().membership_config.clone();
        let recorded = m
            .membership()
            .get_node(&node)
            .and_then(|n| addr::decode(&n.addr))
            .map(|(p, _)| p);
        recorded.is_none_or(|p| p == peer)
    }

    fn connected(&self, node: u64) {
        self.liveness.connected(node);
    }

    fn disconnected(&self, node: u64) {
        self.liveness.disconnected(node);
        self.leader_gone(node);
    }

    fn gossip(&self, node: Option<u64>, body: &[u8]) {
        self.adverts.receive(node, body);
    }

    async fn request(&self, sender: Option<u64>, req: NetRequest) -> NetResponse {
        let for_members = match &req {
            // Appends and snapshots are not gated yet: a node whose view lags (a new
            // learner replaying old configurations) must take them from a leader it
            // does not know yet, and vouching for it was not shown reliable under
            // membership churn (soak, 2026-12-08). Open: docs/SECURITY.md.
            NetRequest::Vote(_) => Some("vote"),
            NetRequest::Heartbeat { .. } => Some("heartbeat"),
            NetRequest::Forward(
                Request::Lease { .. } | Request::Start { .. } | Request::Complete { .. },
            ) => Some("worker"),
            _ => None,
        };
        if let Some(what) = for_members {
            if let Err(why) = self.member(sender).await {
                warn!(?sender, what, reason = %why, "message from a non-member dropped");
                return NetResponse::Refused(why);
            }
        }
        match req {
            NetRequest::Append(rpc) => NetResponse::Append(self.raft.append_entries(rpc).await),
            NetRequest::Vote(rpc) => NetResponse::Vote(self.raft.vote(rpc).await),
            NetRequest::Snapshot(rpc) => {
                NetResponse::Snapshot(self.raft.install_snapshot(rpc).await)
            }
            NetRequest::Forward(req) => NetResponse::Forwarded(self.forwarded(sender, req).await),
            NetRequest::Join {
                node_id,
                addr,
                certificate,
                proof,
            } => {
                let desk = JoinDesk {
                    raft: &self.raft,
                    net: &self.net,
                    identity: &self.identity,
                    view: &self.view,
                };
                let req = message::Join {
                    node_id,
                    addr,
                    certificate,
                    proof,
                };
                NetResponse::Joined(desk.accept(req).await)
            }
            NetRequest::ReadIndex => NetResponse::ReadIndex(
                self.raft
                    .ensure_linearizable()
                    .await
                    .map(|id| id.map_or(0, |l| l.index))
                    .map_err(ForwardError::from_raft),
            ),
            NetRequest::Heartbeat { node } => {
                if sender != Some(node.0) {
                    warn!(?sender, %node, "heartbeat for another node refused");
                    return NetResponse::Refused(format!("a peer may not heartbeat for {node}"));
                }
                NetResponse::HeartbeatAck(heartbeat::accept(
                    &self.raft,
                    &self.liveness,
                    self.timing,
                    node,
                ))
            }
            NetRequest::IsMember { node } => NetResponse::IsMember(
                self.raft
                    .metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .get_node(&node)
                    .is_some(),
            ),
            NetRequest::Logs {
                job,
                attempt,
                stream,
                offset,
                len,
            } => {
                let home = self.home.clone();
                NetResponse::Logs(
                    tokio::task::spawn_blocking(move || {
                        crate::output::read_chunk(&home, job, attempt, stream, offset, len)
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("the read failed: {e}"))),
                )
            }
        }
    }
}

impl Dispatch {
    /// Whether `sender` is a member (voter or learner): raft messages, heartbeats
    /// and a worker's writes count only from members, so a certified node that is
    /// not one cannot inflate terms, pose as the leader or take work. A sender this
    /// node's (possibly lagging) view does not list is asked about
    /// ([`Vouchers::admit`]).
    async fn member(&self, sender: Option<u64>) -> Result<(), String> {
        let Some(sender) = sender else {
            return Err("a peer whose node id is unknown".into());
        };
        let members: Vec<u64> = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().nodes().map(|(id, _)| *id).collect()
        };
        self.vouchers
            .admit(&self.net, sender, self.identity.node_id.0, &members)
            .await
    }

    async fn forwarded(&self, sender: Option<u64>, req: Request) -> Result<Response, ForwardError> {
        if let Err(why) = may_write(sender.map(NodeId), &req, &self.verifier) {
            warn!(?sender, reason = %why, "forwarded write refused");
            return Err(ForwardError::Refused(why));
        }
        if let Request::Lease { node, .. } = &req {
            // Asking for work is a sign of life, recorded before the lease can exist:
            // the lease keeper must not take back a lease it has not seen the worker
            // ask for (its supervisor's fence clock starts with the job).
            self.liveness.seen(node.0);
        }
        self.raft
            .client_write(req)
            .await
            .map(|r| r.data)
            .map_err(ForwardError::from_raft)
    }

    /// Every connection to the leader closed (its process most likely died: a live
    /// but unreachable leader keeps its connections until they time out). Rather than
    /// wait out the election timeout, a voter stands for election after a delay set by
    /// its rank among the voters ([`fast_election::delay`]), unless the leader is back.
    fn leader_gone(&self, node: u64) {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(node) {
            return;
        }
        let voters = m.membership_config.membership().voter_ids();
        let Some(delay) = fast_election::delay(self.identity.node_id.0, node, voters) else {
            return;
        };
        let raft = self.raft.clone();
        let peers = self.net.peers.clone();
        self.tasks.spawn(
            async move {
                tokio::time::sleep(delay).await;
                let still = raft.metrics().borrow().current_leader == Some(node);
                if still && !peers.is_connected(node) {
                    info!(leader = %NodeId(node), "lost every connection to the leader; calling an election");
                    let _ = raft.trigger().elect().await;
                }
            }
            .in_current_span(),
        );
    }
}

/// What a peer (`sender`, `None` if its node id is unknown) may ask the leader to
/// write.
pub fn may_write(
    sender: Option<NodeId>,
    req: &Request,
    verifier: &EnvelopeVerifier,
) -> Result<(), String> {
    let sender = sender.ok_or_else(|| "unknown sender".to_string())?;
    shoal_raft_store::limits::check(req).map_err(|e| e.to_string())?;
    let own = |node: &NodeId| {
        if *node == sender {
            Ok(())
        } else {
            Err(format!("node {sender} may not act for node {node}"))
        }
    };
    let envelope = |e| {
        verifier
            .verify(e)
            .map(|_| ())
            .map_err(|e| format!("forged or bad envelope: {e}"))
    };
    match req {
        Request::Submit { envelope: e, .. } => envelope(e),
        Request::SubmitBatch { envelopes, .. } => envelopes.iter().try_for_each(envelope),
        Request::Lease { node, .. }
        | Request::Start { node, .. }
        | Request::Complete { node, .. }
        | Request::RequeueNode { node, .. } => own(node),
        // Users' operations, which any node's API may pass on.
        Request::Cancel { .. }
        | Request::Release { .. }
        | Request::SetDrain { .. }
        | Request::Retire { .. } => Ok(()),
    }
}

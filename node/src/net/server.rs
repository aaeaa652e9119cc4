//! Answers peers: raft RPCs go to the local raft, forwarded writes are checked and
//! proposed (only by the leader), joins become learners. Also keeps the peer book
//! current from the swarm's admission events.
//!
//! A forwarded write is held to what its sender may ask: envelopes must verify
//! (the leader checks every job before proposing it), and a node may lease,
//! complete or re-queue only its own work.

use std::sync::Arc;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use std::collections::BTreeMap;

use openraft::{BasicNode, ChangeMembers, Raft};
use shoal_home::{Home, Identity};
use shoal_p2p::{P2pEvent, P2pHandle, PeerId};
use shoal_raft_store::{Request, TypeConfig};
use shoal_types::{Certificate, EnvelopeVerifier, NodeId};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

use super::adverts::AdvertTable;
use super::leases::{accept_heartbeat, LeaseTiming, Liveness};
use super::message::{decode, encode, ForwardError, NetRequest, NetResponse};
use super::peers::PeerBook;

/// What the server needs; cheap to clone into each request's task.
#[derive(Clone)]
pub struct Server {
    pub raft: Raft<TypeConfig>,
    pub adverts: AdvertTable,
    pub liveness: Arc<Liveness>,
    pub timing: LeaseTiming,
    pub home: Home,
    pub identity: Arc<Identity>,
    pub verifier: Arc<EnvelopeVerifier>,
    pub peers: PeerBook,
    pub p2p: P2pHandle,
}

impl Server {
    /// Handles network events until the swarm stops.
    pub async fn run(self, mut events: mpsc::Receiver<P2pEvent>) {
        while let Some(ev) = events.recv().await {
            match ev {
                P2pEvent::PeerAdmitted { peer, certificate } => match certificate.node_id() {
                    Ok(node) if self.recorded_peer(node.0).is_some_and(|p| p != peer) => {
                        // The membership knows this node id under another key: not the
                        // same node, whatever its certificate says. Not trusted.
                        warn!(%node, %peer, "a peer claims the id of a member with another key; ignored");
                    }
                    Ok(node) => {
                        self.peers.learn(node.0, peer);
                        self.peers.set_connected(peer, true);
                        self.liveness.connected(node.0);
                        info!(%node, %peer, "peer connected");
                    }
                    Err(e) => warn!(%peer, error = %e, "admitted peer with an unreadable key"),
                },
                P2pEvent::PeerGone { peer } => {
                    self.peers.set_connected(peer, false);
                    if let Some(node) = self.peers.node_of(&peer) {
                        self.liveness.disconnected(node);
                        self.leader_gone(node);
                    }
                    debug!(%peer, "peer disconnected");
                }
                P2pEvent::Request { peer, body, reply } => {
                    let this = self.clone();
                    tokio::spawn(
                        async move {
                            let resp = this.handle(peer, &body).await;
                            let _ = reply.send(encode(&resp));
                        }
                        .in_current_span(),
                    );
                }
                P2pEvent::Gossip { from, body } => self.adverts.receive(&self.peers, from, &body),
            }
        }
    }

    /// Every connection to the leader closed (its process most likely died: a live
    /// but unreachable leader keeps its connections until they time out). Rather than
    /// wait out the election timeout, a voter stands for election after a short
    /// random delay (so voters rarely split the vote), unless the leader is back.
    fn leader_gone(&self, node: u64) {
        let m = self.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.identity.node_id.0);
        if m.current_leader != Some(node) || !voter {
            return;
        }
        let raft = self.raft.clone();
        let peers = self.peers.clone();
        let delay = std::time::Duration::from_millis(50 + rand::random::<u64>() % 200);
        tokio::spawn(
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

    /// The peer id the membership records for `node`, if any.
    fn recorded_peer(&self, node: u64) -> Option<PeerId> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .get_node(&node)
            .and_then(|n| super::addr::decode(&n.addr))
            .map(|(p, _)| p)
    }

    async fn handle(&self, peer: PeerId, body: &[u8]) -> NetResponse {
        let req: NetRequest = match decode(body) {
            Ok(r) => r,
            Err(e) => {
                warn!(%peer, error = %e, "unreadable request");
                return NetResponse::Refused(e);
            }
        };
        // A raft message must come from the node it speaks for (the leader or the
        // candidate in its vote): a certified node cannot pose as another.
        let claimed = match &req {
            NetRequest::Append(rpc) => rpc.vote.leader_id().voted_for(),
            NetRequest::Vote(rpc) => rpc.vote.leader_id().voted_for(),
            NetRequest::Snapshot(rpc) => rpc.vote.leader_id().voted_for(),
            _ => None,
        };
        if let Some(claimed) = claimed {
            if self.peers.node_of(&peer) != Some(claimed) {
                warn!(%peer, claimed = %NodeId(claimed), "raft message for another node refused");
                return NetResponse::Refused(format!(
                    "{peer} may not speak for node {}",
                    NodeId(claimed)
                ));
            }
        }
        match req {
            NetRequest::Append(rpc) => NetResponse::Append(self.raft.append_entries(rpc).await),
            NetRequest::Vote(rpc) => NetResponse::Vote(self.raft.vote(rpc).await),
            NetRequest::Snapshot(rpc) => {
                NetResponse::Snapshot(self.raft.install_snapshot(rpc).await)
            }
            NetRequest::Forward(req) => NetResponse::Forwarded(self.forwarded(peer, req).await),
            NetRequest::Join {
                node_id,
                addr,
                certificate,
            } => NetResponse::Joined(self.join(node_id, addr, certificate).await),
            NetRequest::ReadIndex => {
                NetResponse::ReadIndex(match self.raft.ensure_linearizable().await {
                    Ok(id) => Ok(id.map_or(0, |l| l.index)),
                    Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                        Err(ForwardError::NotLeader {
                            leader: f.leader_id,
                        })
                    }
                    Err(e) => Err(ForwardError::Failed(e.to_string())),
                })
            }
            NetRequest::Heartbeat { node } => {
                if self.peers.node_of(&peer) != Some(node.0) {
                    warn!(%peer, %node, "heartbeat for another node refused");
                    return NetResponse::Refused(format!("{peer} may not heartbeat for {node}"));
                }
                NetResponse::HeartbeatAck(accept_heartbeat(
                    &self.raft,
                    &self.liveness,
                    self.timing,
                    node,
                ))
            }
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
                        super::logs::read_chunk(&home, job, attempt, stream, offset, len)
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
                )
            }
        }
    }

    async fn forwarded(
        &self,
        peer: PeerId,
        req: Request,
    ) -> Result<shoal_raft_store::Response, ForwardError> {
        if let Err(why) = self.allowed(peer, &req) {
            warn!(%peer, reason = %why, "forwarded write refused");
            return Err(ForwardError::Failed(why));
        }
        if let Request::Lease { node, .. } = &req {
            // Asking for work is a sign of life, recorded before the lease can exist:
            // the lapse watch must not take back a lease it has not seen the worker
            // ask for (its supervisor's fence clock starts with the job).
            self.liveness.seen(node.0);
        }
        match self.raft.client_write(req).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ForwardError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ForwardError::Failed(e.to_string())),
        }
    }

    /// What a peer may ask the leader to write.
    fn allowed(&self, peer: PeerId, req: &Request) -> Result<(), String> {
        let sender = self
            .peers
            .node_of(&peer)
            .map(NodeId)
            .ok_or_else(|| format!("unknown sender {peer}"))?;
        let own = |node: &NodeId| {
            if *node == sender {
                Ok(())
            } else {
                Err(format!("node {sender} may not act for node {node}"))
            }
        };
        match req {
            Request::Submit { envelope, .. } => self
                .verifier
                .verify(envelope)
                .map(|_| ())
                .map_err(|e| format!("forged or bad envelope: {e}")),
            Request::SubmitBatch { envelopes, .. } => envelopes.iter().try_for_each(|e| {
                self.verifier
                    .verify(e)
                    .map(|_| ())
                    .map_err(|e| format!("forged or bad envelope: {e}"))
            }),
            Request::Lease { node, .. }
            | Request::Complete { node, .. }
            | Request::RequeueNode { node, .. } => own(node),
            // Users' operations, which any node's API may pass on.
            Request::Cancel { .. } | Request::Release { .. } | Request::SetDrain { .. } => Ok(()),
        }
    }

    async fn join(
        &self,
        node_id: u64,
        addr: String,
        certificate: Certificate,
    ) -> Result<(), ForwardError> {
        let certified = certificate
            .verify(&self.identity.authority, &self.identity.cluster_id)
            .map(|k| NodeId::from_public_key(k.as_bytes()));
        if certified.as_ref().ok() != Some(&NodeId(node_id)) {
            warn!(node = %NodeId(node_id), "join refused: no valid certificate for that node");
            return Err(ForwardError::Failed(format!(
                "no valid certificate for node {}",
                NodeId(node_id)
            )));
        }
        let members = self.raft.metrics().borrow().membership_config.clone();
        let result = match members.membership().get_node(&node_id) {
            Some(known) if known.addr == addr => return Ok(()),
            // Same node (its certificate says so), new listen addresses.
            Some(_) => self
                .raft
                .change_membership(
                    ChangeMembers::SetNodes(BTreeMap::from([(
                        node_id,
                        BasicNode { addr: addr.clone() },
                    )])),
                    true,
                )
                .await
                .map(|_| "updated its addresses"),
            None => self
                .raft
                .add_learner(node_id, BasicNode { addr: addr.clone() }, false)
                .await
                .map(|_| "added as a learner"),
        };
        match result {
            Ok(what) => {
                info!(node = %NodeId(node_id), "{what}");
                Ok(())
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let leader = f.leader_id;
                match leader
                    .filter(|l| *l != self.identity.node_id.0)
                    .and_then(|l| self.peers.peer_of(l))
                {
                    // Pass it on, once: the leader answers for itself.
                    Some(peer) => {
                        let req = NetRequest::Join {
                            node_id,
                            addr,
                            certificate,
                        };
                        match self
                            .p2p
                            .request(peer, encode(&req))
                            .await
                            .map(|b| decode::<NetResponse>(&b))
                        {
                            Ok(Ok(NetResponse::Joined(r))) => r,
                            _ => Err(ForwardError::NotLeader { leader }),
                        }
                    }
                    None => Err(ForwardError::NotLeader { leader }),
                }
            }
            Err(e) => Err(ForwardError::Failed(e.to_string())),
        }
    }
}

//! Joining and the voter set: one task that, once a second, learns every member's
//! address, asks to join (or to have this node's addresses updated), and on the
//! leader carries out the [`autopilot`]'s decision; [`fleet`] decides `--expect N`
//! fleet starts; [`join`] answers other nodes' requests to join.
//!
//! A node that is not yet a member asks a connected node (the leader if it knows
//! it) to add it; any node passes the request on to its leader.

pub mod autopilot;
pub mod fleet;
pub mod join;
pub mod vouch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, Raft, RaftMetrics, ServerState};
use shoal_home::{Identity, NodeConfig};
use shoal_raft_store::{StoreView, TypeConfig};
use shoal_types::join::JoinProof;
use shoal_types::{Certificate, NodeId};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::adverts::AdvertTable;
use crate::net::{addr, message, Net};
use autopilot::{Change, Members, Retirement};

type Metrics = RaftMetrics<u64, BasicNode>;

pub struct Membership {
    raft: Raft<TypeConfig>,
    net: Net,
    node_id: u64,
    certificate: Certificate,
    /// Signs this node's joins (the proof that it holds the certified key).
    node_key: ed25519_dalek::SigningKey,
    cluster_id: String,
    voter_grace: Duration,
    /// Fleet start: create the cluster once this many fresh nodes see each other.
    expect: u32,
    adverts: AdvertTable,
    /// Where the retired nodes are read (`shoal node remove`).
    view: StoreView,
    leader_since: Option<Instant>,
    /// When each member not connected was last dialled.
    last_dial: HashMap<u64, Instant>,
}

/// How often a member this node has no connection to is dialled.
const REDIAL: Duration = Duration::from_secs(5);

impl Membership {
    pub fn new(
        raft: Raft<TypeConfig>,
        net: Net,
        adverts: AdvertTable,
        view: StoreView,
        identity: &Identity,
        config: &NodeConfig,
    ) -> Membership {
        Membership {
            raft,
            net,
            node_id: identity.node_id.0,
            certificate: identity.certificate.clone(),
            node_key: identity.node_key.clone(),
            cluster_id: identity.cluster_id.clone(),
            voter_grace: Duration::from_millis(config.voter_grace_ms),
            expect: config.expect,
            adverts,
            view,
            leader_since: None,
            last_dial: HashMap::new(),
        }
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => self.step().await,
            }
        }
    }

    async fn step(&mut self) {
        let m = self.raft.metrics().borrow().clone();
        self.learn_members(&m).await;
        let recorded = m
            .membership_config
            .membership()
            .get_node(&self.node_id)
            .map(|n| n.addr.clone());
        let leading = m.state == ServerState::Leader;
        self.leader_since = match (leading, self.leader_since) {
            (true, None) => Some(Instant::now()),
            (true, since) => since,
            (false, _) => None,
        };
        let Some(recorded) = recorded else {
            if self.expect > 0 && self.fleet_start(&m).await {
                return;
            }
            self.ask_to_join(&m).await;
            return;
        };
        // Keep this node's entry pointing at where it listens now (ports can change
        // across restarts; the peer id, which is what is trusted, does not).
        let mine = self.own_addr().await;
        if addr::decode(&recorded) != addr::decode(&mine) {
            if leading {
                info!("recording this node's listen addresses in the membership");
                let nodes = BTreeMap::from([(self.node_id, BasicNode { addr: mine })]);
                self.change(ChangeMembers::SetNodes(nodes)).await;
            } else {
                self.ask_to_join(&m).await;
            }
        }
        if let (true, Some(since)) = (leading, self.leader_since) {
            self.autopilot(&m, since).await;
        }
    }

    /// Every member's peer id and addresses, so any node can reach any other (for
    /// forwarding and job output), and a connection to each: the gossip mesh (adverts)
    /// spans all members, not a star through the leader, and survives its loss. A
    /// member not connected is dialled at most every [`REDIAL`].
    async fn learn_members(&mut self, m: &Metrics) {
        let now = Instant::now();
        for (id, node) in m.membership_config.membership().nodes() {
            if *id == self.node_id {
                continue;
            }
            self.net.learn_member(*id, &node.addr).await;
            if self.net.peers.is_connected(*id) {
                continue;
            }
            let due = self
                .last_dial
                .get(id)
                .is_none_or(|t| now.saturating_duration_since(*t) >= REDIAL);
            if let (true, Some((peer, _))) = (due, addr::decode(&node.addr)) {
                self.last_dial.insert(*id, now);
                let _ = self.net.p2p.connect(peer).await;
            }
        }
    }

    /// The address other nodes should use for this one.
    pub async fn own_addr(&self) -> String {
        own_addr(&self.net).await
    }

    /// `init --expect N` (see [`fleet`]). True if this node created the cluster.
    async fn fleet_start(&self, m: &Metrics) -> bool {
        let sight = fleet::Sight {
            me: self.node_id,
            expect: self.expect,
            has_cluster: m.current_leader.is_some()
                || m.membership_config.membership().nodes().next().is_some(),
            adverts_know_a_leader: self.adverts.all().iter().any(|(a, _)| a.leader.is_some()),
            connected: self.net.peers.connected_nodes(),
        };
        let Some(voters) = fleet::decide(&sight) else {
            debug!(
                seen = sight.connected.len() + 1,
                expect = self.expect,
                "fleet start: not creating the cluster (yet)"
            );
            return false;
        };
        let mut members = BTreeMap::new();
        for id in voters {
            let addr = if id == self.node_id {
                self.own_addr().await
            } else {
                match self.net.peers.peer_of(id) {
                    Some(peer) => addr::encode(&peer, &[]),
                    None => continue,
                }
            };
            members.insert(id, BasicNode { addr });
        }
        info!(
            nodes = members.len(),
            "fleet start: creating the cluster with every node in sight"
        );
        match self.raft.initialize(members).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, "fleet start: could not create the cluster");
                false
            }
        }
    }

    async fn ask_to_join(&self, m: &Metrics) {
        let mut targets: Vec<u64> = m.current_leader.into_iter().collect();
        for n in self.net.peers.connected_nodes() {
            if !targets.contains(&n) {
                targets.push(n);
            }
        }
        if targets.is_empty() {
            debug!("not a member yet and no peer found; still looking");
            return;
        }
        let addr = self.own_addr().await;
        for t in targets {
            let proof = JoinProof::sign(
                &self.node_key,
                &self.cluster_id,
                self.node_id,
                &addr,
                shoal_types::time::now_ms(),
            );
            let req = message::Join {
                node_id: self.node_id,
                addr: addr.clone(),
                certificate: self.certificate.clone(),
                proof: Some(proof),
            };
            match self.net.call(t, req, None).await {
                Ok(Ok(())) => {
                    info!(via = %NodeId(t), "asked the cluster to add this node");
                    return;
                }
                Ok(Err(e)) => debug!(via = %NodeId(t), error = %e, "join not taken"),
                Err(e) => debug!(via = %NodeId(t), error = %e, "join request failed"),
            }
        }
    }

    async fn autopilot(&self, m: &Metrics, since: Instant) {
        let membership = m.membership_config.membership();
        let retired = self.view.retired().unwrap_or_default();
        let mut members = Members {
            me: self.node_id,
            voters: membership.voter_ids().collect::<BTreeSet<u64>>(),
            learners: membership.learner_ids().collect(),
            joint: membership.get_joint_config().len() > 1,
            last_log: m.last_log_index.unwrap_or(0),
            matched: m
                .replication
                .iter()
                .flatten()
                .filter_map(|(id, l)| l.as_ref().map(|l| (*id, l.index)))
                .collect(),
            last_ok: membership
                .nodes()
                .filter_map(|(id, _)| self.net.peers.last_ok(*id).map(|t| (*id, t)))
                .collect(),
        };
        match autopilot::retire(&members, &retired, Instant::now()) {
            Some(Retirement::Voters { gone, voters }) => {
                let names: Vec<String> = gone.iter().map(|v| NodeId(*v).to_string()).collect();
                info!(removed = %names.join(","), voters = voters.len(), "taking removed nodes out of the voters");
                // Without retaining them: they leave the membership.
                if let Err(e) = self
                    .raft
                    .change_membership(ChangeMembers::ReplaceAllVoters(voters), false)
                    .await
                {
                    warn!(error = %e, "membership change failed");
                }
                return;
            }
            Some(Retirement::Learners(ids)) => {
                let names: Vec<String> = ids.iter().map(|v| NodeId(*v).to_string()).collect();
                info!(removed = %names.join(","), "taking removed learners out of the membership");
                self.change(ChangeMembers::RemoveNodes(ids)).await;
                return;
            }
            None => {}
        }
        // A retired node is never promoted.
        members.learners.retain(|l| !retired.contains(l));
        match autopilot::decide(&members, Instant::now(), since, self.voter_grace) {
            None => {}
            Some(Change::Promote(ids)) => {
                let names: Vec<String> = ids.iter().map(|l| NodeId(*l).to_string()).collect();
                info!(nodes = %names.join(","), voters = members.voters.len() + ids.len(), "promoting caught-up learners to voters");
                self.change(ChangeMembers::AddVoterIds(ids)).await;
            }
            Some(Change::Blocked { gone }) => {
                warn!(dead = %NodeId(gone), "a voter is unreachable but replacing it would not leave a healthy majority");
            }
            Some(Change::Replace {
                gone,
                fresh,
                voters,
            }) => {
                warn!(dead = %NodeId(gone), replacement = %NodeId(fresh), "replacing an unreachable voter");
                self.change(ChangeMembers::ReplaceAllVoters(voters)).await;
            }
        }
    }

    async fn change(&self, change: ChangeMembers<u64, BasicNode>) {
        if let Err(e) = self.raft.change_membership(change, true).await {
            warn!(error = %e, "membership change failed");
        }
    }
}

/// The address other nodes should use for this one: its peer id and the addresses
/// it is reachable on now.
pub async fn own_addr(net: &Net) -> String {
    let addrs = net.p2p.reachable_addrs().await.unwrap_or_default();
    addr::encode(&net.p2p.local_peer_id(), &addrs)
}

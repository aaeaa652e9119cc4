//! Joining and the voter set.
//!
//! A node that is not yet a member asks, once a second, a connected node (the
//! leader if it knows it) to add it; any node passes the request on to its leader.
//! A member whose listen addresses changed asks the same way to have its entry
//! updated.
//! The leader adds it as a learner, promotes caught-up learners until there are 3
//! voters (5 once 5 or more nodes are healthy), and replaces a voter that has not
//! answered for `voter_grace_ms` with a caught-up learner — only when the new voter
//! set still has a healthy majority, so a change never risks quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, Raft, RaftMetrics, ServerState};
use shoal_home::{Identity, NodeConfig};
use shoal_p2p::P2pHandle;
use shoal_raft_store::TypeConfig;
use shoal_types::{Certificate, NodeId};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::addr;
use super::adverts::AdvertTable;
use super::message::{decode, encode, NetRequest, NetResponse};
use super::peers::PeerBook;

/// A learner within this many entries of the leader's log counts as caught up.
const CAUGHT_UP: u64 = 100;
/// A member that answered a raft RPC this recently is healthy.
const HEALTHY: Duration = Duration::from_secs(3);

pub struct Membership {
    pub raft: Raft<TypeConfig>,
    pub peers: PeerBook,
    pub p2p: P2pHandle,
    pub node_id: u64,
    pub certificate: Certificate,
    pub voter_grace: Duration,
    /// Fleet start: create the cluster once this many fresh nodes see each other.
    pub expect: u32,
    pub adverts: AdvertTable,
    leader_since: Mutex<Option<Instant>>,
}

impl Membership {
    pub fn new(
        raft: Raft<TypeConfig>,
        peers: PeerBook,
        p2p: P2pHandle,
        adverts: AdvertTable,
        identity: &Identity,
        config: &NodeConfig,
    ) -> Membership {
        Membership {
            raft,
            peers,
            p2p,
            node_id: identity.node_id.0,
            certificate: identity.certificate.clone(),
            voter_grace: Duration::from_millis(config.voter_grace_ms),
            expect: config.expect,
            adverts,
            leader_since: Mutex::new(None),
        }
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => self.step().await,
            }
        }
    }

    async fn step(&self) {
        let m = self.raft.metrics().borrow().clone();
        self.learn_members(&m).await;
        let recorded = m
            .membership_config
            .membership()
            .get_node(&self.node_id)
            .map(|n| n.addr.clone());
        let is_member = recorded.is_some();
        let leading = m.state == ServerState::Leader;
        if let Ok(mut since) = self.leader_since.lock() {
            match (leading, *since) {
                (true, None) => *since = Some(Instant::now()),
                (false, Some(_)) => *since = None,
                _ => {}
            }
        }
        if !is_member {
            if self.expect > 0 && self.fleet_start(&m).await {
                return;
            }
            self.ask_to_join(&m).await;
            return;
        }
        // Keep this node's entry pointing at where it listens now (ports can change
        // across restarts; the peer id, which is what is trusted, does not).
        let mine = self.own_addr().await;
        if recorded.as_deref().map(addr::decode) != Some(addr::decode(&mine)) {
            if leading {
                info!("recording this node's listen addresses in the membership");
                let nodes = BTreeMap::from([(self.node_id, BasicNode { addr: mine })]);
                self.change(ChangeMembers::SetNodes(nodes), true).await;
            } else {
                self.ask_to_join(&m).await;
            }
        }
        if leading {
            self.autopilot(&m).await;
        }
    }

    /// Every member's peer id and addresses, so any node can reach any other (for
    /// forwarding and job output), not only those it happens to be connected to.
    async fn learn_members(&self, m: &RaftMetrics<u64, openraft::BasicNode>) {
        for (id, node) in m.membership_config.membership().nodes() {
            if *id == self.node_id {
                continue;
            }
            if let Some((peer, addrs)) = addr::decode(&node.addr) {
                self.peers.learn(*id, peer);
                if !addrs.is_empty() {
                    let _ = self.p2p.add_addresses(peer, addrs).await;
                }
            }
        }
    }

    /// The address other nodes should use for this one.
    pub async fn own_addr(&self) -> String {
        let addrs = self.p2p.reachable_addrs().await.unwrap_or_default();
        addr::encode(&self.p2p.local_peer_id(), &addrs)
    }

    /// `init --expect N`: if no cluster is visible and this node has the lowest id
    /// among at least N connected fresh nodes (itself included), creates the cluster
    /// with all of them. True if it did.
    async fn fleet_start(&self, m: &RaftMetrics<u64, openraft::BasicNode>) -> bool {
        if m.current_leader.is_some() || m.membership_config.membership().nodes().next().is_some() {
            return false;
        }
        // Anyone who knows a leader means a cluster exists: join it instead.
        let adverts = self.adverts.all();
        if adverts.iter().any(|(a, _)| a.leader.is_some()) {
            return false;
        }
        let mut seen: BTreeSet<u64> = self.peers.connected_nodes().into_iter().collect();
        seen.insert(self.node_id);
        if (seen.len() as u32) < self.expect {
            debug!(
                seen = seen.len(),
                expect = self.expect,
                "fleet start: waiting for more nodes"
            );
            return false;
        }
        if seen.first() != Some(&self.node_id) {
            return false; // the lowest id creates it
        }
        // At most 5 voters; anyone beyond joins as a learner afterwards.
        let mut members = BTreeMap::new();
        for id in seen.iter().take(5) {
            let addr = if *id == self.node_id {
                self.own_addr().await
            } else {
                match self.peers.peer_of(*id) {
                    Some(peer) => addr::encode(&peer, &[]),
                    None => continue,
                }
            };
            members.insert(*id, BasicNode { addr });
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

    async fn ask_to_join(&self, m: &RaftMetrics<u64, openraft::BasicNode>) {
        let mut targets: Vec<u64> = m.current_leader.into_iter().collect();
        for n in self.peers.connected_nodes() {
            if !targets.contains(&n) {
                targets.push(n);
            }
        }
        if targets.is_empty() {
            debug!("not a member yet and no peer found; still looking");
            return;
        }
        let req = NetRequest::Join {
            node_id: self.node_id,
            addr: self.own_addr().await,
            certificate: self.certificate.clone(),
        };
        let body = encode(&req);
        for t in targets {
            let Some(peer) = self.peers.peer_of(t) else {
                continue;
            };
            match self
                .p2p
                .request(peer, body.clone())
                .await
                .map(|b| decode::<NetResponse>(&b))
            {
                Ok(Ok(NetResponse::Joined(Ok(())))) => {
                    info!(via = %NodeId(t), "asked the cluster to add this node");
                    return;
                }
                Ok(Ok(other)) => debug!(via = %NodeId(t), answer = ?other, "join not taken"),
                Ok(Err(e)) => debug!(via = %NodeId(t), error = %e, "join answer unreadable"),
                Err(e) => debug!(via = %NodeId(t), error = %e, "join request failed"),
            }
        }
    }

    fn healthy(&self, id: u64) -> bool {
        id == self.node_id
            || self
                .peers
                .last_ok(id)
                .is_some_and(|t| t.elapsed() < HEALTHY)
    }

    async fn autopilot(&self, m: &RaftMetrics<u64, openraft::BasicNode>) {
        let membership = m.membership_config.membership();
        if membership.get_joint_config().len() > 1 {
            return; // a change is in progress
        }
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let learners: Vec<u64> = membership.learner_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let matched = |id: u64| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id))
                .and_then(|l| l.as_ref())
                .map(|l| l.index)
        };
        let caught_up =
            |id: u64| self.healthy(id) && matched(id).is_some_and(|i| i + CAUGHT_UP >= last);
        let healthy_nodes = membership
            .nodes()
            .filter(|(id, _)| self.healthy(**id))
            .count();
        let target = if healthy_nodes >= 5 { 5 } else { 3 };

        if voters.len() < target {
            if let Some(&l) = learners.iter().find(|l| caught_up(**l)) {
                info!(node = %NodeId(l), voters = voters.len() + 1, "promoting a caught-up learner to voter");
                self.change(ChangeMembers::AddVoterIds(BTreeSet::from([l])), true)
                    .await;
                return;
            }
        }

        let led_long_enough = self
            .leader_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .is_some_and(|t| t.elapsed() >= self.voter_grace);
        if !led_long_enough {
            return;
        }
        let dead: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|v| {
                *v != self.node_id
                    && self
                        .peers
                        .last_ok(*v)
                        .is_none_or(|t| t.elapsed() >= self.voter_grace)
            })
            .collect();
        let (Some(&gone), Some(&fresh)) = (dead.first(), learners.iter().find(|l| caught_up(**l)))
        else {
            return;
        };
        let mut next = voters.clone();
        next.remove(&gone);
        next.insert(fresh);
        let healthy_in_next = next.iter().filter(|v| self.healthy(**v)).count();
        if healthy_in_next * 2 <= next.len() {
            warn!(dead = %NodeId(gone), "a voter is unreachable but replacing it would not leave a healthy majority");
            return;
        }
        warn!(dead = %NodeId(gone), replacement = %NodeId(fresh), "replacing an unreachable voter");
        self.change(ChangeMembers::ReplaceAllVoters(next), true)
            .await;
    }

    async fn change(&self, change: ChangeMembers<u64, openraft::BasicNode>, retain: bool) {
        if let Err(e) = self.raft.change_membership(change, retain).await {
            warn!(error = %e, "membership change failed");
        }
    }
}

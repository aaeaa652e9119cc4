//! `GET /v1/cluster` and `GET /v1/nodes`: raft membership, and the node table from
//! membership and gossip adverts.

use axum::extract::State;
use axum::Json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use shoal_raft_store::{Request, Response};
use shoal_types::api::{
    ClusterStatus, DrainRequest, DrainResponse, NodeCounters, NodeStatus, RemoveNodeRequest,
    RemoveNodeResponse,
};
use shoal_types::NodeId;

use super::commit::write;
use super::jobs::parse_body;
use super::AppState;
use crate::adverts::{Advert, ALIVE_FOR};
use crate::error::ApiError;
use crate::net::addr;

fn node_name(id: u64) -> String {
    NodeId(id).to_string()
}

pub async fn cluster(State(s): State<AppState>) -> Json<ClusterStatus> {
    let m = s.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    // Bounded inside p2p: a stuck listener leaves the list empty, not the API stuck.
    let listen = s.net.p2p.listen_addrs().await.unwrap_or_default();
    let gate = s.net.p2p.gate_metrics();
    let counters = NodeCounters {
        peers_admitted: gate.admitted.load(Ordering::Relaxed),
        peers_refused: gate.refused.load(Ordering::Relaxed),
        completions_refused: s.worker.borrow().completions_refused,
    };
    Json(ClusterStatus {
        listen: listen.iter().map(ToString::to_string).collect(),
        counters,
        node_id: s.identity.node_id.to_string(),
        cluster_id: s.identity.cluster_id.clone(),
        leader: m.current_leader.map(node_name),
        voters: membership.voter_ids().map(node_name).collect(),
        learners: membership.learner_ids().map(node_name).collect(),
        term: m.current_term,
        last_applied: m.last_applied.map(|l| l.index),
        commit_index: commit_index(&m),
        last_log_index: m.last_log_index,
    })
}

/// The leader's commit index: the highest index held by a majority of voters (its own
/// log counts as holding everything it has). Elsewhere: the last applied index.
fn commit_index(m: &openraft::RaftMetrics<u64, openraft::BasicNode>) -> Option<u64> {
    let applied = m.last_applied.map(|l| l.index);
    let Some(replication) = m.replication.as_ref() else {
        return applied;
    };
    let mut held: Vec<u64> = m
        .membership_config
        .membership()
        .voter_ids()
        .map(|v| {
            if v == m.id {
                m.last_log_index.unwrap_or(0)
            } else {
                replication
                    .get(&v)
                    .and_then(|l| l.as_ref())
                    .map_or(0, |l| l.index)
            }
        })
        .collect();
    if held.is_empty() {
        return applied;
    }
    held.sort_unstable_by(|a, b| b.cmp(a));
    held.get(held.len() / 2).copied().max(applied)
}

/// Every node the membership or the gossip knows, with its latest advert.
pub async fn nodes(State(s): State<AppState>) -> Json<Vec<NodeStatus>> {
    let m = s.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let adverts: BTreeMap<u64, (Advert, Duration)> = s
        .adverts
        .all()
        .into_iter()
        .map(|(a, age)| (a.node.0, (a, age)))
        .collect();
    let drained = s.view.drained().unwrap_or_default();
    let mut ids: BTreeSet<u64> = membership.nodes().map(|(id, _)| *id).collect();
    ids.extend(adverts.keys());
    ids.insert(s.identity.node_id.0);
    let rows = ids
        .into_iter()
        .map(|id| {
            let role = if m.current_leader == Some(id) {
                "leader"
            } else if voters.contains(&id) {
                "follower"
            } else if membership.get_node(&id).is_some() {
                "learner"
            } else {
                "none"
            };
            let advert = adverts.get(&id);
            let addrs = match advert {
                Some((a, _)) => a.addrs.clone(),
                None => membership
                    .get_node(&id)
                    .and_then(|n| addr::decode(&n.addr))
                    .map(|(_, a)| a.iter().map(|x| x.to_string()).collect())
                    .unwrap_or_default(),
            };
            let alive =
                id == s.identity.node_id.0 || advert.is_some_and(|(_, age)| *age < ALIVE_FOR);
            let a = advert.map(|(a, _)| a.clone());
            // This node's own slots are read live, not from its last advert.
            let (slots, slots_free) = if id == s.identity.node_id.0 {
                let w = *s.worker.borrow();
                (w.slots, w.slots.saturating_sub(w.running))
            } else {
                a.as_ref().map_or((0, 0), |a| (a.slots, a.slots_free))
            };
            let disk_low = if id == s.identity.node_id.0 {
                s.disk.borrow().low
            } else {
                a.as_ref().is_some_and(|a| a.disk_low)
            };
            let containment = if id == s.identity.node_id.0 {
                s.containment.clone()
            } else {
                a.as_ref()
                    .map(|a| a.containment.clone())
                    .unwrap_or_default()
            };
            NodeStatus {
                id: node_name(id),
                containment,
                addrs,
                raft_role: role.to_string(),
                alive,
                slots,
                slots_free,
                cpus: a.as_ref().map_or(0, |a| a.cpus),
                memory_mb: a.as_ref().map_or(0, |a| a.memory_mb),
                load1: a.as_ref().map_or(0.0, |a| a.load1),
                labels: a.as_ref().map(|a| a.labels.clone()).unwrap_or_default(),
                version: a.map(|a| a.version).unwrap_or_default(),
                drained: drained.contains(&id),
                disk_low,
                last_seen_ms_ago: advert.map(|(_, age)| age.as_millis() as u64),
                listening_ms: s.adverts.listening_for().as_millis() as u64,
            }
        })
        .collect();
    Json(rows)
}

/// Drains or undrains a node: a drained node finishes its running jobs and leases
/// no new ones.
pub async fn drain(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<shoal_types::api::WriteQuery>,
    body: axum::body::Bytes,
) -> Result<Json<DrainResponse>, ApiError> {
    let req: DrainRequest = parse_body(&body, "drain request")?;
    let node = match req.node.as_deref() {
        None => s.identity.node_id,
        Some(text) => text
            .parse::<NodeId>()
            .map_err(|e| ApiError::BadRequest(format!("{text:?} is not a node id: {e}")))?,
    };
    let members = s.raft.metrics().borrow().membership_config.clone();
    if members.membership().get_node(&node.0).is_none()
        && s.adverts.all().iter().all(|(a, _)| a.node != node)
    {
        return Err(ApiError::BadRequest(format!(
            "no node {node} in this cluster (see `shoal nodes`)"
        )));
    }
    let req = Request::SetDrain {
        node,
        drained: req.drained,
    };
    let drained = matches!(req, Request::SetDrain { drained: true, .. });
    match write(&s, req, &q).await? {
        Response::DrainSet { changed } => Ok(Json(DrainResponse {
            node: node.to_string(),
            drained,
            changed,
        })),
        other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
    }
}

/// Takes a node out of the cluster for good: commits `Retire` (it gets no more work
/// and may never join again), then waits, within the commit timeout, for the leader
/// to take it out of the membership. Refused for a node that is alive unless
/// `force`, for an unknown node, and for the only voter.
pub async fn remove(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<shoal_types::api::WriteQuery>,
    body: axum::body::Bytes,
) -> Result<Json<RemoveNodeResponse>, ApiError> {
    let req: RemoveNodeRequest = parse_body(&body, "remove request")?;
    let text = &req.node;
    let node = text
        .parse::<NodeId>()
        .map_err(|e| ApiError::BadRequest(format!("{text:?} is not a node id: {e}")))?;
    let m = s.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let retired = s.view.retired()?;
    if membership.get_node(&node.0).is_none() && !retired.contains(&node.0) {
        return Err(ApiError::BadRequest(format!(
            "node {node} is not a member of this cluster (see `shoal nodes`)"
        )));
    }
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    if voters.len() == 1 && voters.contains(&node.0) {
        return Err(ApiError::BadRequest(format!(
            "node {node} is this cluster's only voter: removing it would leave no cluster"
        )));
    }
    let seen = s
        .adverts
        .all()
        .into_iter()
        .find(|(a, _)| a.node == node)
        .map(|(_, age)| age);
    let alive = node == s.identity.node_id
        || s.net.peers.is_connected(node.0)
        || seen.is_some_and(|age| age < ALIVE_FOR);
    if alive && !req.force {
        return Err(ApiError::BadRequest(format!(
            "node {node} is alive{}; stop it first, or remove it anyway with --force",
            seen.map(|a| format!(
                " (heard from {} ago)",
                shoal_types::duration::format_ms(a.as_millis() as u64)
            ))
            .unwrap_or_default()
        )));
    }
    let changed = match write(&s, Request::Retire { node }, &q).await? {
        Response::Retired { changed } => changed,
        other => return Err(ApiError::Internal(format!("unexpected response {other:?}"))),
    };
    let deadline = tokio::time::Instant::now() + q.commit_timeout();
    let mut metrics = s.raft.metrics();
    let out_of_membership = loop {
        let gone = metrics
            .borrow_and_update()
            .membership_config
            .membership()
            .get_node(&node.0)
            .is_none();
        if gone {
            break true;
        }
        match tokio::time::timeout_at(deadline, metrics.changed()).await {
            Ok(Ok(())) => {}
            _ => break false,
        }
    };
    Ok(Json(RemoveNodeResponse {
        node: node.to_string(),
        changed,
        out_of_membership,
    }))
}

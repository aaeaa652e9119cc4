//! Answering a node that asks to join (or to have its addresses updated): the
//! leader adds it as a learner once its certificate proves its id; any other node
//! passes the request on to its leader, once.

use std::collections::BTreeMap;

use openraft::{BasicNode, ChangeMembers, Raft};
use shoal_home::Identity;
use shoal_raft_store::{StoreView, TypeConfig};
use shoal_types::NodeId;
use tracing::{info, warn};

use crate::net::{message, ForwardError, Net};

/// What answering a join needs: this node's identity (the certificate's authority
/// and cluster) and how to reach the leader.
pub struct JoinDesk<'a> {
    pub raft: &'a Raft<TypeConfig>,
    pub net: &'a Net,
    pub identity: &'a Identity,
    /// Where the retired nodes are read: they may never join again.
    pub view: &'a StoreView,
}

impl JoinDesk<'_> {
    pub async fn accept(&self, req: message::Join) -> Result<(), ForwardError> {
        let node = NodeId(req.node_id);
        let certified = req
            .certificate
            .verify(&self.identity.authority, &self.identity.cluster_id)
            .map(|k| NodeId::from_public_key(k.as_bytes()));
        if certified.as_ref().ok() != Some(&node) {
            warn!(%node, "join refused: no valid certificate for that node");
            return Err(ForwardError::Refused(format!(
                "no valid certificate for node {node}"
            )));
        }
        if self.view.retired().is_ok_and(|r| r.contains(&req.node_id)) {
            warn!(%node, "join refused: the node was removed from the cluster");
            return Err(ForwardError::Refused(format!(
                "node {node} was removed from this cluster for good (shoal node remove); a host \
                 that should come back needs a new identity: shoal node --rejoin"
            )));
        }
        let members = self.raft.metrics().borrow().membership_config.clone();
        let entry = BasicNode {
            addr: req.addr.clone(),
        };
        let result = match members.membership().get_node(&req.node_id) {
            Some(known) if known.addr == req.addr => return Ok(()),
            // Same node (its certificate says so), new listen addresses.
            Some(_) => self
                .raft
                .change_membership(
                    ChangeMembers::SetNodes(BTreeMap::from([(req.node_id, entry)])),
                    true,
                )
                .await
                .map(|_| "updated its addresses"),
            None => self
                .raft
                .add_learner(req.node_id, entry, false)
                .await
                .map(|_| "added as a learner"),
        };
        match result.map_err(ForwardError::from_raft) {
            Ok(what) => {
                info!(%node, "{what}");
                Ok(())
            }
            // Pass it on, once: the leader answers for itself.
            Err(ForwardError::NotLeader {
                leader: Some(leader),
            }) if leader != self.identity.node_id.0 => {
                match self.net.call(leader, req, None).await {
                    Ok(answer) => answer,
                    Err(_) => Err(ForwardError::NotLeader {
                        leader: Some(leader),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }
}

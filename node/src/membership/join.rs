//! Answering a node that asks to join (or to have its addresses updated): the
//! leader adds it as a learner once its certificate ties its id to a key, the join
//! is signed by that key (possession, not paper: certificates are public), and the
//! peer id in its addresses is that key's, so no node can be recorded under another
//! one's id; any other node passes the request on to its leader, once.

use std::collections::BTreeMap;

use openraft::{BasicNode, ChangeMembers, Raft};
use shoal_home::Identity;
use shoal_raft_store::{StoreView, TypeConfig};
use shoal_types::{keys, NodeId};
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
        if let Err(why) = possession(&req, self.identity, shoal_types::time::now_ms()) {
            warn!(%node, reason = %why, "join refused");
            return Err(ForwardError::Refused(why));
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

/// Whether `req` proves possession: a certificate of this cluster for a key whose
/// node id is the one asked for, a proof signed by that key over this very join,
/// and addresses under that key's peer id. Else why not.
pub fn possession(req: &message::Join, identity: &Identity, now_ms: u64) -> Result<(), String> {
    let node = NodeId(req.node_id);
    let key = req
        .certificate
        .verify(&identity.authority, &identity.cluster_id)
        .map_err(|e| format!("no valid certificate for node {node}: {e}"))?;
    if NodeId::from_public_key(key.as_bytes()) != node {
        return Err(format!("the certificate is not for node {node}"));
    }
    let proof = req.proof.as_ref().ok_or_else(|| {
        format!("the join of node {node} carries no proof that it holds its key (a node older than this one?)")
    })?;
    proof
        .verify(&key, &identity.cluster_id, req.node_id, &req.addr, now_ms)
        .map_err(|e| format!("join of node {node}: {e}"))?;
    let expected = keys::peer_id_of(&key);
    match crate::net::addr::decode(&req.addr) {
        Some((peer, _)) if peer.to_string() == expected => Ok(()),
        Some((peer, _)) => Err(format!(
            "node {node}'s addresses name peer {peer}, not its key's peer {expected}"
        )),
        None => Err(format!(
            "node {node}'s address {:?} names no peer",
            req.addr
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::join::JoinProof;
    use shoal_types::Certificate;

    fn identity(authority: &ed25519_dalek::SigningKey) -> Identity {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        Identity {
            cluster_id: "c1".into(),
            authority: authority.verifying_key(),
            node_id: NodeId::from_public_key(key.verifying_key().as_bytes()),
            certificate: Certificate::issue(authority, "c1", &key.verifying_key(), 1),
            node_key: key,
        }
    }

    fn join(
        key: &ed25519_dalek::SigningKey,
        authority: &ed25519_dalek::SigningKey,
        addr_key: &ed25519_dalek::SigningKey,
        now: u64,
    ) -> message::Join {
        let node_id = NodeId::from_public_key(key.verifying_key().as_bytes()).0;
        let addr = format!(
            "{}@/ip4/10.0.0.1/tcp/7420",
            keys::peer_id_of(&addr_key.verifying_key())
        );
        message::Join {
            node_id,
            proof: Some(JoinProof::sign(key, "c1", node_id, &addr, now)),
            addr,
            certificate: Certificate::issue(authority, "c1", &key.verifying_key(), 1),
        }
    }

    #[test]
    fn a_join_counts_only_from_the_holder_of_the_certified_key() {
        let authority = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let me = identity(&authority);
        let victim = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let rogue = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let now = 2_000_000_000_000;
        assert_eq!(
            possession(&join(&victim, &authority, &victim, now), &me, now),
            Ok(())
        );

        // The takeover: the victim's (public) certificate, the rogue's peer id.
        let mut takeover = join(&victim, &authority, &rogue, now);
        let e = possession(&takeover, &me, now).unwrap_err();
        assert!(e.contains("not its key's peer"), "{e}");
        // ... signed by the rogue over its own address: not the certified key.
        takeover.proof = Some(JoinProof::sign(
            &rogue,
            "c1",
            takeover.node_id,
            &takeover.addr,
            now,
        ));
        assert!(possession(&takeover, &me, now)
            .unwrap_err()
            .contains("not signed by the certified key"));
        // No proof at all, an old proof, another authority.
        let mut bare = join(&victim, &authority, &victim, now);
        bare.proof = None;
        assert!(possession(&bare, &me, now)
            .unwrap_err()
            .contains("no proof"));
        let old = join(&victim, &authority, &victim, now - 3_600_000);
        assert!(possession(&old, &me, now).is_err());
        let foreign = join(&victim, &rogue, &victim, now);
        assert!(possession(&foreign, &me, now)
            .unwrap_err()
            .contains("no valid certificate"));
        // A proof for one address does not cover another.
        let mut moved = join(&victim, &authority, &victim, now);
        moved.addr.push_str(",/ip4/10.0.0.2/tcp/7420");
        assert!(possession(&moved, &me, now).is_err());
    }
}

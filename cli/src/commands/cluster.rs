//! `shoal cluster` and `shoal nodes`: raft state and the node table.

use shoal_home::Home;
use shoal_types::api::{ClusterStatus, DrainRequest, DrainResponse, NodeStatus};
use shoal_types::exit_code;

use crate::args::{DrainArgs, JsonArgs};
use crate::client;
use crate::error::CliError;
use crate::output::{self, table};

pub async fn cluster(home: &Home, a: JsonArgs) -> Result<i32, CliError> {
    let c: ClusterStatus = client::for_home(home)?.get("/v1/cluster").await?;
    if a.json {
        output::json(&c)?;
        return Ok(exit_code::OK);
    }
    let voters = format!("{} ({})", c.voters.len(), c.voters.join(", "));
    output::line(&format!(
        "cluster:      {}\nnode:         {}\nleader:       {}\nvoters:       {}\nlearners:     {}\nterm:         {}\ncommit index: {}\nlast applied: {}\nlistening:    {}",
        c.cluster_id,
        c.node_id,
        c.leader.as_deref().unwrap_or("none"),
        voters,
        if c.learners.is_empty() { "-".into() } else { c.learners.join(", ") },
        c.term,
        c.commit_index.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        c.last_applied.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        if c.listen.is_empty() { "-".into() } else { c.listen.join(", ") },
    ))?;
    Ok(exit_code::OK)
}

pub async fn nodes(home: &Home, a: JsonArgs) -> Result<i32, CliError> {
    let nodes: Vec<NodeStatus> = client::for_home(home)?.get("/v1/nodes").await?;
    if a.json {
        output::json(&nodes)?;
        return Ok(exit_code::OK);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.id.clone(),
                n.raft_role.clone(),
                alive_text(n),
                format!("{}/{}", n.slots_free, n.slots),
                match (n.drained, n.disk_low) {
                    (true, _) => "yes".into(),
                    (false, true) => "disk low".into(),
                    _ => "-".into(),
                },
                format!("{:.2}", n.load1),
                if n.containment.is_empty() {
                    "-".into()
                } else {
                    n.containment.clone()
                },
                if n.labels.is_empty() {
                    "-".into()
                } else {
                    n.labels.join(",")
                },
                if n.version.is_empty() {
                    "-".into()
                } else {
                    n.version.clone()
                },
                if n.addrs.is_empty() {
                    "-".into()
                } else {
                    n.addrs.join(",")
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "ID",
                "ROLE",
                "ALIVE",
                "FREE/SLOTS",
                "DRAINED",
                "LOAD",
                "CONTAINMENT",
                "LABELS",
                "VERSION",
                "ADDRS"
            ],
            &rows
        )
    );
    Ok(exit_code::OK)
}

/// `shoal drain [NODE]` and `shoal undrain [NODE]`.
pub async fn drain(
    home: &Home,
    a: DrainArgs,
    drained: bool,
    commit_timeout_ms: u64,
) -> Result<i32, CliError> {
    if let Some(text) = &a.node {
        if text.parse::<shoal_types::NodeId>().is_err() {
            return Err(CliError::Usage(format!(
                "{text:?} is not a node id: expected the 16 hex digits `shoal nodes` shows"
            )));
        }
    }
    let r: DrainResponse = client::post_write(
        &client::for_home(home)?,
        "/v1/drain",
        &DrainRequest {
            node: a.node,
            drained,
        },
        commit_timeout_ms,
        "Retrying is safe: the mark is set, not toggled.",
    )
    .await?;
    if a.json {
        output::json(&r)?;
        return Ok(exit_code::OK);
    }
    let what = match (drained, r.changed) {
        (true, true) => "drained: it finishes its running jobs and takes no new ones",
        (true, false) => "was already drained",
        (false, true) => "undrained: it takes new work again",
        (false, false) => "was not drained",
    };
    output::line(&format!("node {} {what}", r.node))?;
    Ok(exit_code::OK)
}

/// `shoal node remove NODE`.
pub async fn remove(
    home: &Home,
    a: crate::args::RemoveNodeArgs,
    commit_timeout_ms: u64,
) -> Result<i32, CliError> {
    if a.node.parse::<shoal_types::NodeId>().is_err() {
        return Err(CliError::Usage(format!(
            "{:?} is not a node id: expected the 16 hex digits `shoal nodes` shows",
            a.node
        )));
    }
    let r: shoal_types::api::RemoveNodeResponse = client::post_write(
        &client::for_home(home)?,
        "/v1/nodes/remove",
        &shoal_types::api::RemoveNodeRequest {
            node: a.node,
            force: a.force,
        },
        commit_timeout_ms,
        "Retrying is safe: removing a removed node changes nothing.",
    )
    .await?;
    if a.json {
        output::json(&r)?;
        return Ok(exit_code::OK);
    }
    let what = match (r.changed, r.out_of_membership) {
        (_, true) if !r.changed => "was removed already",
        (_, true) => "removed from the cluster for good",
        (_, false) => {
            "is removed for good; the leader has not taken it out of the membership yet \
             and will"
        }
    };
    output::line(&format!("node {} {what}", r.node))?;
    Ok(exit_code::OK)
}

/// `yes`, or how long the node has been silent: `no, gone 5m 12s`, `no, not seen in
/// 3m (since this node started)`.
fn alive_text(n: &NodeStatus) -> String {
    let round = |ms: u64| shoal_types::duration::format_ms(ms / 1000 * 1000);
    match n.gone_for_ms() {
        None => "yes".into(),
        Some((ms, false)) => format!("no, gone {}", round(ms)),
        Some((ms, true)) => format!("no, not seen in {} (since this node started)", round(ms)),
    }
}

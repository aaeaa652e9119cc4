//! The operator's calls the faults make through a node's API, as `shoal` would make
//! them: take a dead node out of the membership, cancel jobs, wait for a job's state.

use std::time::{Duration, Instant};

use anyhow::Context;
use shoal_client::Client;
use shoal_types::api::{
    CancelRequest, CancelResponse, JobStatus, RemoveNodeRequest, RemoveNodeResponse,
};
use shoal_types::{JobId, JobState};

/// `shoal node remove NODE` until the leader accepts it: refused while the node
/// still counts as alive (it was heard from within the last seconds), so retried
/// for `within`; with `force`, removed even so.
pub async fn remove_node(
    api: &Client,
    node: &str,
    force: bool,
    within: Duration,
) -> anyhow::Result<RemoveNodeResponse> {
    let deadline = Instant::now() + within;
    loop {
        let req = RemoveNodeRequest {
            node: node.to_string(),
            force,
        };
        match api
            .post::<_, RemoveNodeResponse>("/v1/nodes/remove", &req)
            .await
        {
            Ok(r) => return Ok(r),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "removing node {node} was refused for {} s",
                        within.as_secs()
                    )
                })
            }
        }
    }
}

/// `shoal cancel ID`.
pub async fn cancel(api: &Client, id: u64) -> anyhow::Result<()> {
    let _: CancelResponse = api
        .post(
            "/v1/cancel",
            &CancelRequest {
                ids: vec![JobId(id)],
                whole_arrays: false,
            },
        )
        .await?;
    Ok(())
}

/// Waits until job `id` is in a state `done` accepts; its status then.
pub async fn wait_job(
    api: &Client,
    id: u64,
    within: Duration,
    done: impl Fn(JobState) -> bool,
) -> anyhow::Result<JobStatus> {
    let deadline = Instant::now() + within;
    loop {
        let s: JobStatus = api.get(&format!("/v1/jobs/{id}")).await?;
        if done(s.state) {
            return Ok(s);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "job {id} still {} after {} s",
            s.state,
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

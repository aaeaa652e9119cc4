//! A probe job placed on one chosen node: the other nodes are drained, the probe is
//! submitted ahead of the workload's backlog and waited for until it runs, then the
//! others are undrained. Recorded like any workload submit, so the checker judges it.

use std::time::Duration;

use shoal_types::api::{DrainRequest, DrainResponse, SubmitRequest, SubmitResponse};
use shoal_types::{JobSpec, JobState};

use super::history::{now_ns, Event, Recorder};
use super::world::World;
use super::Ctx;

/// What the probe is.
pub struct Probe {
    pub key: String,
    pub millis: u64,
    /// Its job starts a child that leaves its session.
    pub escape: bool,
    pub timeout_ms: Option<u64>,
}

impl Probe {
    /// A probe of `millis` ms named for the round.
    pub fn new(what: &str, round: u64, millis: u64) -> Probe {
        Probe {
            key: format!("{what}-{round}"),
            millis,
            escape: false,
            timeout_ms: None,
        }
    }

    fn spec(&self, ctx: &Ctx) -> JobSpec {
        let mut spec = super::workload::job_spec(
            &ctx.exe,
            &ctx.jobs_file,
            &self.key,
            self.millis,
            self.escape,
        );
        // Ahead of the workload's backlog, which the one undrained node cannot keep
        // up with.
        spec.priority = 100;
        spec.timeout_ms = self.timeout_ms;
        spec
    }
}

/// Runs `probe` on node `target`; returns its job id once it is running there.
pub async fn probe_on(
    w: &World,
    leader: usize,
    target: usize,
    clients: &Recorder,
    ctx: &Ctx,
    probe: &Probe,
) -> anyhow::Result<u64> {
    let api = w.nodes[leader].client();
    let drain = |node: String, drained: bool| {
        let api = api.clone();
        async move {
            api.post::<_, DrainResponse>(
                "/v1/drain",
                &DrainRequest {
                    node: Some(node),
                    drained,
                },
            )
            .await
        }
    };
    let mut ids = Vec::new();
    for n in &w.nodes {
        ids.push(n.status().await?.node_id);
    }
    for (i, id) in ids.iter().enumerate() {
        if i != target {
            drain(id.clone(), true).await?;
        }
    }
    clients.record(&Event::Submit {
        t: now_ns(),
        key: probe.key.clone(),
        node: leader,
    });
    let spec = probe.spec(ctx);
    let r: SubmitResponse = api.post("/v1/jobs", &SubmitRequest { spec }).await?;
    clients.record(&Event::Ack {
        t: now_ns(),
        key: probe.key.clone(),
        id: r.id.0,
    });
    let running = super::admin::wait_job(&api, r.id.0, Duration::from_secs(30), |s| {
        s == JobState::Running
    })
    .await;
    for (i, id) in ids.iter().enumerate() {
        if i != target {
            drain(id.clone(), false).await?;
        }
    }
    running?;
    Ok(r.id.0)
}

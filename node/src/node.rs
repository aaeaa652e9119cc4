//! Running a node: load the home, open the store, start raft, the worker and the API,
//! and stop them in order on SIGTERM or SIGINT.

use std::sync::Arc;

use openraft::Raft;
use shoal_p2p::{P2pConfig, P2pHandle};
use shoal_raft_store::{StoreView, TypeConfig};

use shoal_types::EnvelopeVerifier;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, info_span, warn, Instrument};

use shoal_home::{init_genesis, init_join, Home, HomeError, Identity, NodeConfig, Overrides};

use crate::adverts::{AdvertTable, Publisher};
use crate::api::{self, AppState};
use crate::dispatch::Dispatch;
use crate::error::FatalError;
use crate::leases::{LeaderLink, LeaseKeeper, LeaseTiming};
use crate::membership::Membership;
use crate::net::peers::PeerBook;
use crate::net::raft_network::P2pRaftNetwork;
use crate::net::Net;
use crate::raft::proposer::Proposer;
use crate::raft::start::start as start_raft;
use crate::raft::submit_batcher::SubmitBatcher;
use crate::status::WorkerStatus;
use crate::worker::launch::{SupervisorCommand, Supervisors};
use crate::worker::{StopSignals, Worker};

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub home: Home,
    pub overrides: Overrides,
    /// How every job's supervisor process is started.
    pub supervisor: SupervisorCommand,
    /// Create a home first if there is none: a genesis home (the one-command
    /// default), or one that joins the cluster of `join_bundle`.
    pub init_if_missing: bool,
    pub join_bundle: Option<std::path::PathBuf>,
    /// Make this home a new member first (`rejoin`): its database is lost or damaged.
    pub rejoin: bool,
}

/// Runs a node until SIGTERM or SIGINT: the first stops it in order (no new work,
/// running jobs may finish for the stop grace, the rest are handed back to the
/// queue), a second one at once.
pub async fn run(opts: NodeOptions) -> Result<(), FatalError> {
    let node = start(opts).await?;
    let Some(mut signals) = Signals::install() else {
        warn!("cannot install signal handlers; stop the node with SIGKILL");
        std::future::pending::<()>().await;
        return Ok(());
    };
    tokio::select! {
        _ = signals.next() => {}
        failed = node.raft_failed() => {
            // Raft stopped under the node (its store failed a read or a write): no
            // orderly stop can commit anything now.
            error!(error = %failed, "raft stopped; the node stops");
            node.stop().await;
            return Err(failed);
        }
    }
    tokio::select! {
        _ = node.finish_jobs() => {}
        _ = signals.next() => warn!("second signal: stopping now; running jobs are killed"),
    }
    node.stop().await;
    Ok(())
}

/// After the stop grace, how long the last kills and the last commit may take before
/// the node stops anyway (its outbox keeps uncommitted results for the next start).
const LAST_COMMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long stopping waits for the node's tasks before it shuts raft down under them.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A started node: handles to its parts, and [`RunningNode::stop`].
pub struct RunningNode {
    pub identity: Arc<Identity>,
    pub home: Home,
    pub raft: Raft<TypeConfig>,
    pub proposer: Proposer,
    pub view: StoreView,
    pub p2p: P2pHandle,
    /// The one stop signal of every task the node started.
    stop: CancellationToken,
    /// Every task the node started, awaited by [`RunningNode::stop`].
    tasks: TaskTracker,
    /// The worker's side of an orderly stop.
    stopping: StopSignals,
    stop_grace: std::time::Duration,
    kill_grace: std::time::Duration,
}

impl RunningNode {
    /// The first half of an orderly stop: the worker takes no more work and hands
    /// back what it has not started; running jobs may finish for the stop grace,
    /// then they are stopped (SIGTERM, the kill grace, SIGKILL) and handed back too.
    /// Returns when the worker is done, or after the grace, the kill grace and
    /// [`LAST_COMMIT`].
    pub async fn finish_jobs(&self) {
        let s = &self.stopping;
        info!(
            grace = %shoal_types::duration::format_ms(self.stop_grace.as_millis() as u64),
            "stopping: no new work; running jobs may finish (a second signal stops at once)"
        );
        s.drain.cancel();
        if tokio::time::timeout(self.stop_grace, s.done.cancelled())
            .await
            .is_ok()
        {
            return;
        }
        s.grace_over.cancel();
        if tokio::time::timeout(self.kill_grace + LAST_COMMIT, s.done.cancelled())
            .await
            .is_err()
        {
            warn!("jobs' results not all committed; the next start reports them");
        }
    }

    /// Waits until raft stops by itself: its store failed (a damaged table file met
    /// on a read, a write the disk refused) or it panicked. Never returns while raft
    /// runs.
    pub async fn raft_failed(&self) -> FatalError {
        let mut metrics = self.raft.metrics();
        loop {
            let fatal = metrics.borrow_and_update().running_state.clone().err();
            match fatal {
                Some(openraft::error::Fatal::StorageError(e)) => {
                    return FatalError::StoreFailed(e.to_string())
                }
                Some(f) => return FatalError::Raft(f.to_string()),
                None => {}
            }
            if metrics.changed().await.is_err() {
                return FatalError::Raft("raft stopped".into());
            }
        }
    }

    /// Stops every task the node started (the API, the worker, whose jobs'
    /// supervisors then kill the jobs, the background loops, the request handlers),
    /// then raft.
    pub async fn stop(self) {
        let span = info_span!("node", node = %self.identity.node_id);
        async move {
            info!("shutting down");
            self.stop.cancel();
            self.tasks.close();
            // The loops end at the signal; a task may still wait on raft (a write
            // that cannot commit without a quorum, forwarded by a peer), so after a
            // grace raft goes down first, which fails those waits, and then every
            // task is awaited.
            if tokio::time::timeout(STOP_GRACE, self.tasks.wait())
                .await
                .is_err()
            {
                warn!(
                    left = self.tasks.len(),
                    "tasks still waiting on raft; shutting raft down first"
                );
            }
            if let Err(e) = self.raft.shutdown().await {
                warn!(error = %e, "raft did not shut down cleanly");
            }
            self.tasks.wait().await;
            let _ = std::fs::remove_file(self.home.socket());
            info!("stopped");
        }
        .instrument(span)
        .await
    }
}

/// Starts a node (creating its home first if asked) and returns once its API is up.
pub async fn start(opts: NodeOptions) -> Result<RunningNode, FatalError> {
    let home = opts.home.clone();
    if !home.exists() {
        if !opts.init_if_missing {
            return Err(HomeError::NoHome {
                path: home.root().to_path_buf(),
            }
            .into());
        }
        let report = match &opts.join_bundle {
            Some(bundle) => init_join(&home, bundle, opts.overrides.expect.unwrap_or(0))?,
            None => init_genesis(&home)?,
        };
        let what = if opts.join_bundle.is_some() {
            "initialized a home to join the cluster"
        } else {
            "initialized a new cluster"
        };
        info!(home = %report.home.display(), cluster = %report.cluster_id, node = %report.node_id, "{what}");
    }
    if opts.rejoin {
        crate::rejoin::rejoin(&home).await?;
    }
    let config = NodeConfig::load(&home.config())?.with_overrides(&opts.overrides);
    config.validate(&home.config())?;
    let identity = Arc::new(Identity::load(&home, &config)?);
    let span = info_span!("node", node = %identity.node_id);
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut raft = None;
    let started = start_loaded(opts, home, config, identity, &stop, &tasks, &mut raft)
        .instrument(span.clone())
        .await;
    if started.is_err() {
        // A start that failed half-way stops what it had started already.
        stop.cancel();
        tasks.close();
        if let Some(raft) = raft {
            let _ = raft.shutdown().await;
        }
        tasks.wait().instrument(span).await;
    }
    started
}

/// Starts every part on `stop` and `tasks`; the raft, once started, is put in
/// `raft_slot` so that a failure after it can shut it down.
async fn start_loaded(
    opts: NodeOptions,
    home: Home,
    config: NodeConfig,
    identity: Arc<Identity>,
    stop: &CancellationToken,
    tasks: &TaskTracker,
    raft_slot: &mut Option<Raft<TypeConfig>>,
) -> Result<RunningNode, FatalError> {
    let (stop, tasks) = (stop.clone(), tasks.clone());
    std::fs::create_dir_all(home.jobs_dir()).map_err(|e| HomeError::HomeIo {
        path: home.jobs_dir(),
        detail: e.to_string(),
    })?;
    // A home that was a member and has no database at all is refused before the
    // open would create an empty one (an emptied one is refused by `start_raft`).
    let past = shoal_home::past::load(&home)?;
    if let Some(rec) = &past {
        if !home.db().join("CURRENT").exists() {
            return Err(shoal_home::past::lost_database(&home, rec).into());
        }
    }
    let (log_store, state_machine, view) = shoal_raft_store::open(&home.db())?;
    let p2p_config = p2p_config(&config, &identity)?;
    let max_message = p2p_config.max_message;
    let (p2p, net_events, swarm) = shoal_p2p::start(p2p_config, stop.clone())
        .map_err(|e| FatalError::Network(e.to_string()))?;
    tasks.spawn(async move {
        let _ = swarm.await;
    });
    let net = Net::new(p2p.clone(), PeerBook::default(), max_message);
    let network = P2pRaftNetwork { net: net.clone() };
    let raft = start_raft(
        identity.node_id.0,
        &config,
        &home,
        past.as_ref(),
        network,
        log_store,
        state_machine,
    )
    .await?;
    *raft_slot = Some(raft.clone());
    let proposer = Proposer::new(raft.clone(), Some(net.clone()));
    let (status_tx, status_rx) = watch::channel(WorkerStatus::default());
    let (disk_tx, disk_rx) = watch::channel(crate::disk::DiskStatus::default());
    // What the supervisors will manage (they make their cgroups under this
    // process's): a cgroup per attempt, or the subreaper alone.
    let containment = match tokio::task::spawn_blocking(shoal_supervisor::cgroup::Layout::probe)
        .await
        .ok()
        .flatten()
    {
        Some(layout) => layout.name().to_string(),
        None => "subreaper".to_string(),
    };
    info!(%containment, "jobs are contained by this");
    tasks.spawn(
        crate::disk::watch(
            home.root().to_path_buf(),
            config.disk_reserve,
            disk_tx,
            stop.clone(),
        )
        .in_current_span(),
    );

    let verifier = Arc::new(EnvelopeVerifier::new(
        identity.authority,
        identity.cluster_id.clone(),
    ));
    let timing = LeaseTiming::from_lease_ms(config.lease_ms);
    let (keeper, liveness) = LeaseKeeper::new(raft.clone(), view.clone(), proposer.clone(), timing);
    let adverts = AdvertTable::default();
    let stopping = StopSignals::default();
    let dispatch = Arc::new(Dispatch {
        raft: raft.clone(),
        net: net.clone(),
        liveness: liveness.clone(),
        timing,
        home: home.clone(),
        identity: identity.clone(),
        verifier: verifier.clone(),
        adverts: adverts.clone(),
        view: view.clone(),
        tasks: tasks.clone(),
        vouchers: Default::default(),
    });
    tasks.spawn(
        crate::net::server::serve(
            dispatch,
            net.peers.clone(),
            net_events,
            tasks.clone(),
            stop.clone(),
        )
        .in_current_span(),
    );
    let membership = Membership::new(
        raft.clone(),
        net.clone(),
        adverts.clone(),
        view.clone(),
        &identity,
        &config,
    );
    tasks.spawn(membership.run(stop.clone()).in_current_span());
    tasks.spawn(keeper.run(stop.clone()).in_current_span());
    let recorder = crate::past::Recorder {
        raft: raft.clone(),
        home: home.clone(),
        cluster_id: identity.cluster_id.clone(),
        node: identity.node_id,
        last: past,
    };
    tasks.spawn(recorder.run(stop.clone()).in_current_span());
    let worker = Worker {
        leader: LeaderLink {
            raft: raft.clone(),
            net: net.clone(),
            liveness,
            timing,
            node: identity.node_id,
        },
        identity: identity.clone(),
        verifier: verifier.clone(),
        verified: Default::default(),
        home: home.clone(),
        config: config.clone(),
        proposer: proposer.clone(),
        view: view.clone(),
        supervisors: Supervisors::new(opts.supervisor.clone(), config.effective_slots() as usize),
        status: status_tx,
        disk: disk_rx.clone(),
        stopping: stopping.clone(),
    };
    tasks.spawn(worker.run(stop.clone()).in_current_span());
    let publisher = Publisher {
        node: identity.node_id,
        raft: raft.clone(),
        p2p: p2p.clone(),
        worker: status_rx.clone(),
        disk: disk_rx.clone(),
        containment: containment.clone(),
        labels: config.labels.clone(),
        table: adverts.clone(),
    };
    tasks.spawn(publisher.run(stop.clone()).in_current_span());
    let state = AppState {
        identity: identity.clone(),
        home: home.clone(),
        raft: raft.clone(),
        submits: SubmitBatcher::start(
            proposer.clone(),
            api::ELECTION_PATIENCE,
            &tasks,
            stop.clone(),
        ),
        net,
        adverts,
        proposer: proposer.clone(),
        view: view.clone(),
        worker: status_rx,
        disk: disk_rx,
        containment,
    };
    let server = api::serve(state, stop.clone())?;
    tasks.spawn(
        async move {
            if let Err(e) = server.await {
                warn!(error = %e, "API server ended with an error");
            }
        }
        .in_current_span(),
    );
    info!(slots = config.effective_slots(), home = %home.root().display(), "node running");

    Ok(RunningNode {
        identity,
        home,
        raft,
        proposer,
        view,
        p2p,
        stop,
        tasks,
        stopping,
        stop_grace: std::time::Duration::from_millis(config.stop_grace_ms),
        kill_grace: std::time::Duration::from_millis(config.kill_grace_ms),
    })
}

/// The swarm's settings from the node's config and identity.
fn p2p_config(config: &NodeConfig, identity: &Identity) -> Result<P2pConfig, FatalError> {
    let parse = |list: &[String]| -> Result<Vec<shoal_p2p::Addr>, FatalError> {
        list.iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| FatalError::Network(format!("bad multiaddr {a:?}: {e}")))
            })
            .collect()
    };
    let mut c = P2pConfig::new(
        identity.node_key.to_bytes(),
        identity.certificate.clone(),
        identity.cluster_id.clone(),
        identity.authority,
    );
    c.listen = parse(&config.listen)?;
    c.bootstrap = parse(&config.bootstrap)?;
    c.advertise = parse(&config.advertise)?;
    c.mdns = config.mdns;
    Ok(c)
}

/// SIGTERM and SIGINT, counted together.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Signals> {
        Some(Signals {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}

//! Binding the API to the home's Unix socket (owner-only) and serving until shutdown.

use std::os::unix::fs::PermissionsExt;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{cluster, jobs, AppState};
use crate::error::FatalError;

/// Request bodies above this are refused by the HTTP layer; specs up to
/// `MAX_SPEC_BYTES` (1 MiB) get through to validation and its clear message.
const BODY_LIMIT: usize = 4 << 20;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/jobs", post(jobs::submit).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get))
        .route("/v1/jobs/{id}/wait", get(jobs::wait))
        .route("/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/v1/cancel", post(jobs::cancel))
        .route("/v1/release", post(jobs::release))
        .route("/v1/drain", post(cluster::drain))
        .route("/v1/cluster", get(cluster::cluster))
        .route("/v1/nodes", get(cluster::nodes))
        .route("/v1/nodes/remove", post(cluster::remove))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Binds the socket now (so errors surface at start-up) and returns the server future.
/// The caller holds the database lock, so a socket file left here is stale.
pub fn serve(
    state: AppState,
    stop: CancellationToken,
) -> Result<impl std::future::Future<Output = std::io::Result<()>>, FatalError> {
    let path = state.home.socket();
    let api_err = |e: std::io::Error| FatalError::Api {
        path: path.clone(),
        detail: e.to_string(),
    };
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(api_err(e)),
        _ => {}
    }
    let listener = UnixListener::bind(&path).map_err(api_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(api_err)?;
    info!(socket = %path.display(), "API listening");
    let app = router(state);
    Ok(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    })
}

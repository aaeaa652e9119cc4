//! Job routes: submit, status, list, wait, logs, cancel, release.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::Json;
use shoal_raft_store::limits::MAX_IDS;
use shoal_raft_store::{Request, Response, SubmitRejection};
use shoal_types::api::{
    CancelRequest, CancelResponse, CancelResult, JobStatus, ListQuery, LogStream, LogsQuery,
    ReadQuery, ReleaseRequest, ReleaseResponse, ReleaseResult, SubmitRequest, SubmitResponse,
    WaitQuery, WriteQuery,
};
use shoal_types::envelope::fresh_nonce;
use shoal_types::{time::now_ms, EnvelopeBody, JobId, JobRecord, SignedEnvelope};
use tracing::{info, instrument};

use super::commit::{bounded, propose_error, write, ELECTION_PATIENCE};
use super::AppState;
use crate::error::ApiError;
use crate::output::RemoteOutputError;

/// Default and largest page of `GET /v1/jobs`.
const LIST_DEFAULT: usize = 1_000;
const LIST_MAX: usize = 100_000;
/// Longest single `wait` poll.
const WAIT_MAX_MS: u64 = 60_000;

fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse()
        .map_err(|e: shoal_types::TypesError| ApiError::BadRequest(e.to_string()))
}

/// The job's record. "Not found" is confirmed through the leader first: a job
/// acknowledged at another node a moment ago may not have reached this one yet.
async fn load(s: &AppState, id: JobId) -> Result<JobRecord, ApiError> {
    if let Some(rec) = s.view.get_job(id)? {
        return Ok(rec);
    }
    barrier(s, Some(true)).await?;
    s.view.get_job(id)?.ok_or(ApiError::JobNotFound(id))
}

fn status_of(r: &JobRecord) -> Result<JobStatus, ApiError> {
    JobStatus::from_record(r).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A request body of type `T`, or a 400 naming `what` it should have been.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not a valid {what}: {e}")))
}

/// Signs the spec with this node's key into an envelope, verifies it as the leader
/// would, proposes it, and answers once it is committed and applied.
#[instrument(skip_all)]
pub async fn submit(
    State(s): State<AppState>,
    Query(q): Query<WriteQuery>,
    body: Bytes,
) -> Result<Json<SubmitResponse>, ApiError> {
    let req: SubmitRequest = parse_body(&body, "submit request")?;
    req.spec.validate()?;
    let count = req.spec.array;
    let dedup_key = req.spec.dedup_key.clone();
    let now = now_ms();
    let body = EnvelopeBody {
        cluster_id: s.identity.cluster_id.clone(),
        spec: req.spec,
        submitter: s.identity.node_id,
        certificate: s.identity.certificate.clone(),
        timestamp_ms: now,
        nonce: fresh_nonce(),
    };
    // Not verified again here: the signature over the body just built cannot be
    // wrong, and `Identity::load` checked this node's certificate against the
    // authority and its key at start-up. The leader verifies the whole envelope of a
    // forwarded submit, and every worker does before it runs the job.
    let envelope = SignedEnvelope::sign(&body, &s.identity.node_key);
    let submitted = bounded(
        &s,
        q.commit_timeout(),
        s.submits.submit(envelope, count.unwrap_or(1)),
    )
    .await?;
    match submitted {
        Ok(id) => {
            match count {
                Some(n) => info!(job = %id, tasks = n, "job array submitted"),
                None => info!(job = %id, "job submitted"),
            }
            Ok(Json(SubmitResponse {
                id,
                count,
                duplicate: false,
            }))
        }
        // This node made the envelope just now with a fresh nonce, so a replay is
        // its own retry (a forward whose answer was lost in a leader change): the
        // first try committed, and that job is the answer.
        Err(SubmitRejection::ReplayedNonce { existing }) => {
            info!(job = %existing, "job submitted (a retried forward found it committed)");
            Ok(Json(SubmitResponse {
                id: existing,
                count,
                duplicate: false,
            }))
        }
        Err(SubmitRejection::Duplicate { existing }) => {
            info!(job = %existing, "submit answered by the job of its dedup key");
            Ok(Json(SubmitResponse {
                id: existing,
                count,
                duplicate: true,
            }))
        }
        Err(SubmitRejection::BadEnvelope(why)) => Err(ApiError::BadRequest(why)),
        // The batcher closes batches before this; seeing it means a bug here.
        Err(SubmitRejection::EntryFull { limit }) => Err(ApiError::Internal(format!(
            "its raft entry already made {limit} jobs; no job was made, submit it again"
        ))),
        Err(SubmitRejection::DedupKeyTaken { existing, differs }) => {
            Err(ApiError::BadRequest(format!(
                "dedup key {:?} was already used by job {existing}, whose {} differ{}; \
                 no job was made (use another key for another job)",
                dedup_key.unwrap_or_default(),
                differs.join(", "),
                if differs.len() == 1 { "s" } else { "" },
            )))
        }
    }
}

/// With `consistent`, waits until this node has applied everything the leader had
/// committed when the read began.
async fn barrier(s: &AppState, consistent: Option<bool>) -> Result<(), ApiError> {
    if consistent == Some(true) {
        s.proposer
            .read_barrier(&s.view, ELECTION_PATIENCE)
            .await
            .map_err(|e| propose_error(s, e))?;
    }
    Ok(())
}

pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<JobStatus>, ApiError> {
    let id = parse_id(&id)?;
    barrier(&s, q.consistent).await?;
    Ok(Json(status_of(&load(&s, id).await?)?))
}

pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<JobStatus>>, ApiError> {
    barrier(&s, q.consistent).await?;
    let limit = q.limit.unwrap_or(LIST_DEFAULT).min(LIST_MAX);
    // Up to LIST_MAX records read and decoded: off the async worker threads.
    let view = s.view.clone();
    let state = q.state;
    let records = tokio::task::spawn_blocking(move || view.list_jobs(state, limit))
        .await
        .map_err(|e| ApiError::Internal(format!("the list read failed: {e}")))??;
    Ok(Json(
        records.iter().map(status_of).collect::<Result<_, _>>()?,
    ))
}

/// Answers when the job is terminal, or with its current status at the timeout.
pub async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<JobStatus>, ApiError> {
    let id = parse_id(&id)?;
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(q.timeout_ms.unwrap_or(30_000).min(WAIT_MAX_MS));
    let mut applied = s.view.subscribe();
    loop {
        let rec = load(&s, id).await?;
        if rec.state.is_terminal() {
            return Ok(Json(status_of(&rec)?));
        }
        match tokio::time::timeout_at(deadline, applied.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(Json(status_of(&rec)?)),
        }
    }
}

/// The last attempt's output file, streamed. Empty if the job has not started.
pub async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Body, ApiError> {
    let id = parse_id(&id)?;
    let rec = load(&s, id).await?;
    let attempt =
        match q.attempt {
            Some(n) => Some(rec.attempts.iter().find(|a| a.n == n).ok_or(
                ApiError::NoSuchAttempt {
                    job: id,
                    attempt: n,
                    attempts: rec.attempts.len(),
                },
            )?),
            None => rec.last_attempt(),
        };
    let Some(attempt) = attempt else {
        return Ok(Body::empty());
    };
    let offset = q.offset.unwrap_or(0);
    let which = q.stream.unwrap_or(LogStream::Stdout);
    if attempt.node != s.identity.node_id {
        let remote = crate::output::Remote {
            net: s.net.clone(),
            node: attempt.node,
            job: id,
            attempt: attempt.n,
            stream: which,
        };
        // The head and tail kept in the record are the client's to show: this
        // answer says only what is true, that the full output cannot be had.
        return match remote.open(offset).await {
            Ok(body) => Ok(Body::from_stream(body)),
            Err(e) => Err(ApiError::OutputElsewhere {
                job: id,
                node: attempt.node,
                why: match e {
                    RemoteOutputError::Unreachable { why, .. } => {
                        format!("cannot be reached ({why})")
                    }
                    RemoteOutputError::Refused { why, .. } => {
                        format!("could not read it ({why})")
                    }
                },
            }),
        };
    }
    let stream = match which {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
    };
    let path = s.home.output_file(id, attempt.n, stream);
    match tokio::fs::File::open(&path).await {
        Ok(mut f) => {
            use tokio::io::AsyncSeekExt;
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| ApiError::Internal(format!("cannot read {}: {e}", path.display())))?;
            Ok(Body::from_stream(tokio_util::io::ReaderStream::new(f)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Body::empty()),
        Err(e) => Err(ApiError::Internal(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

pub async fn cancel(
    State(s): State<AppState>,
    Query(q): Query<WriteQuery>,
    body: Bytes,
) -> Result<Json<CancelResponse>, ApiError> {
    let req: CancelRequest = parse_body(&body, "cancel request")?;
    if req.ids.is_empty() {
        return Err(ApiError::BadRequest("no job ids given".into()));
    }
    let ids = if req.whole_arrays {
        whole_arrays(&s, req.ids).await?
    } else {
        req.ids
    };
    let mut out = Vec::with_capacity(ids.len());
    // One entry per MAX_IDS ids; a failure part way leaves the earlier ones
    // committed, and cancelling again is harmless.
    for chunk in ids.chunks(MAX_IDS) {
        let req = Request::Cancel {
            ids: chunk.to_vec(),
            now_ms: now_ms(),
        };
        match write(&s, req, &q).await? {
            Response::Cancelled { results } => out.extend(
                results
                    .into_iter()
                    .map(|(id, outcome)| CancelResult { id, outcome }),
            ),
            other => return Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }
    Ok(Json(CancelResponse { results: out }))
}

pub async fn release(
    State(s): State<AppState>,
    Query(q): Query<WriteQuery>,
    body: Bytes,
) -> Result<Json<ReleaseResponse>, ApiError> {
    let req: ReleaseRequest = parse_body(&body, "release request")?;
    if req.ids.is_empty() {
        return Err(ApiError::BadRequest("no job ids given".into()));
    }
    let ids = if req.whole_arrays {
        whole_arrays(&s, req.ids).await?
    } else {
        req.ids
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_IDS) {
        let req = Request::Release {
            ids: chunk.to_vec(),
        };
        match write(&s, req, &q).await? {
            Response::Released { results } => out.extend(
                results
                    .into_iter()
                    .map(|(id, outcome)| ReleaseResult { id, outcome }),
            ),
            other => return Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }
    Ok(Json(ReleaseResponse { results: out }))
}

/// `ids` with each first task of a job array replaced by all the array's tasks
/// (read from this node's copy, caught up with the leader once if an id is not in
/// it: an array's size never changes), each id once.
async fn whole_arrays(s: &AppState, ids: Vec<JobId>) -> Result<Vec<JobId>, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    let mut caught_up = false;
    for id in ids {
        let mut rec = s.view.get_job(id)?;
        if rec.is_none() && !caught_up {
            barrier(s, Some(true)).await?;
            caught_up = true;
            rec = s.view.get_job(id)?;
        }
        let size = match rec {
            Some(rec) if rec.array_index == Some(0) => rec.spec().ok().and_then(|sp| sp.array),
            _ => None,
        };
        let all = (0..size.unwrap_or(1)).map(|i| JobId(id.0 + u64::from(i)));
        out.extend(all.filter(|t| seen.insert(*t)));
    }
    Ok(out)
}

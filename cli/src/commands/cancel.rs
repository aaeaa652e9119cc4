//! `shoal cancel ID...`: queued jobs never run, running ones are killed.

use shoal_home::Home;
use shoal_types::api::{CancelOutcome, CancelRequest, CancelResponse};

use super::{per_job, NOT_FOUND};
use crate::args::CancelArgs;
use crate::client;
use crate::error::CliError;

pub async fn run(home: &Home, a: CancelArgs, commit_timeout_ms: u64) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let (ids, whole_arrays) = super::targets::resolve(&client, &a.ids, a.task.as_ref()).await?;
    let resp: CancelResponse = client::post_write(
        &client,
        "/v1/cancel",
        &CancelRequest { ids, whole_arrays },
        commit_timeout_ms,
        "Retrying is safe: cancelling a job again changes nothing.",
    )
    .await?;
    let rows = resp.results.iter().map(|r| {
        let what = match r.outcome {
            CancelOutcome::Cancelled => "cancelled",
            CancelOutcome::Killed => "cancelled (killing the running attempt)",
            CancelOutcome::AlreadyFinished => "already finished",
            CancelOutcome::NotFound => NOT_FOUND,
        };
        (r.id, what)
    });
    per_job(rows)
}

//! `shoal release ID...`: held jobs (submitted with `--hold`) become runnable.

use shoal_home::Home;
use shoal_types::api::{ReleaseOutcome, ReleaseRequest, ReleaseResponse};

use super::{per_job, NOT_FOUND};
use crate::args::ReleaseArgs;
use crate::client;
use crate::error::CliError;

pub async fn run(home: &Home, a: ReleaseArgs, commit_timeout_ms: u64) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let (ids, whole_arrays) = super::targets::resolve(&client, &a.ids, a.task.as_ref()).await?;
    let resp: ReleaseResponse = client::post_write(
        &client,
        "/v1/release",
        &ReleaseRequest { ids, whole_arrays },
        commit_timeout_ms,
        "Retrying is safe: releasing a job again changes nothing.",
    )
    .await?;
    let rows = resp.results.iter().map(|r| {
        let what = match r.outcome {
            ReleaseOutcome::Released => "released",
            ReleaseOutcome::NotHeld => "not held (left as it was)",
            ReleaseOutcome::NotFound => NOT_FOUND,
        };
        (r.id, what)
    });
    per_job(rows)
}

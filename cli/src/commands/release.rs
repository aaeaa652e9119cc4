//! `shoal release ID...`: held jobs (submitted with `--hold`) become runnable.

use shoal_home::Home;
use shoal_types::api::{ReleaseOutcome, ReleaseRequest, ReleaseResponse};
use shoal_types::exit_code;

use crate::args::ReleaseArgs;
use crate::client;
use crate::error::CliError;
use crate::output;

pub async fn run(home: &Home, a: ReleaseArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let resp: ReleaseResponse = client
        .post("/v1/release", &ReleaseRequest { ids: a.ids })
        .await?;
    let mut missing = false;
    for r in &resp.results {
        let what = match r.outcome {
            ReleaseOutcome::Released => "released",
            ReleaseOutcome::NotHeld => "not held (left as it was)",
            ReleaseOutcome::NotFound => {
                missing = true;
                "not found"
            }
        };
        output::line(&format!("{} {what}", r.id))?;
    }
    Ok(if missing {
        exit_code::NOT_FOUND
    } else {
        exit_code::OK
    })
}

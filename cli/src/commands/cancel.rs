//! `shoal cancel ID...`: queued jobs never run, running ones are killed.

use shoal_home::Home;
use shoal_types::api::{CancelOutcome, CancelRequest, CancelResponse};
use shoal_types::exit_code;

use crate::args::CancelArgs;
use crate::client;
use crate::error::CliError;
use crate::output;

pub async fn run(home: &Home, a: CancelArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let resp: CancelResponse = client
        .post("/v1/cancel", &CancelRequest { ids: a.ids })
        .await?;
    let mut missing = false;
    for r in &resp.results {
        let what = match r.outcome {
            CancelOutcome::Cancelled => "cancelled",
            CancelOutcome::Killed => "cancelled (killing the running attempt)",
            CancelOutcome::AlreadyFinished => "already finished",
            CancelOutcome::NotFound => {
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

//! `shoal logs ID`: the last attempt's stdout (or `--stderr`), streamed; with
//! `--follow`, new output as it arrives until the job ends.

use std::time::Duration;

use shoal_home::Home;
use shoal_types::api::JobStatus;
use shoal_types::exit_code;

use crate::args::LogsArgs;
use crate::client;
use crate::error::CliError;

/// How often `--follow` looks for more output.
const POLL: Duration = Duration::from_millis(250);

pub async fn run(home: &Home, a: LogsArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let stream = if a.stderr { "stderr" } else { "stdout" };
    let mut out = tokio::io::stdout();
    if !a.follow {
        client
            .copy_to(&format!("/v1/jobs/{}/logs?stream={stream}", a.id), &mut out)
            .await?;
        return Ok(exit_code::OK);
    }
    let mut attempt = 0u32;
    let mut offset = 0u64;
    loop {
        // Read the state first: output read after a terminal state is complete.
        let status: JobStatus = client.get(&format!("/v1/jobs/{}", a.id)).await?;
        let last = status.attempts.last().map_or(0, |x| x.n);
        if last != attempt {
            if attempt != 0 {
                eprintln!("shoal: attempt {last} started; following it");
            }
            attempt = last;
            offset = 0;
        }
        if attempt > 0 {
            offset += client
                .copy_to(
                    &format!(
                        "/v1/jobs/{}/logs?stream={stream}&attempt={attempt}&offset={offset}",
                        a.id
                    ),
                    &mut out,
                )
                .await?;
        }
        if status.state.is_terminal() {
            return Ok(exit_code::OK);
        }
        tokio::time::sleep(POLL).await;
    }
}

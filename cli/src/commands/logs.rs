//! `shoal logs ID`: the last attempt's stdout (or `--stderr`), streamed.

use shoal_home::Home;
use shoal_types::exit_code;

use crate::args::LogsArgs;
use crate::client;
use crate::error::CliError;

pub async fn run(home: &Home, a: LogsArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let stream = if a.stderr { "stderr" } else { "stdout" };
    client
        .copy_to(
            &format!("/v1/jobs/{}/logs?stream={stream}", a.id),
            &mut tokio::io::stdout(),
        )
        .await?;
    Ok(exit_code::OK)
}

//! `shoal wait ID...`: block until the jobs finish; exit 0 only if all succeeded.

use std::time::{Duration, Instant};

use shoal_home::Home;
use shoal_types::api::JobStatus;
use shoal_types::{exit_code, JobId, JobState};

use crate::args::WaitArgs;
use crate::client;
use crate::error::CliError;
use crate::output;
use shoal_client::Client;

/// Longest single long-poll; the node caps it too.
const POLL_MS: u64 = 30_000;

/// Waits for one job to reach a terminal state, or until `deadline`.
pub async fn wait_one(
    client: &Client,
    id: JobId,
    deadline: Option<Instant>,
) -> Result<JobStatus, CliError> {
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(CliError::Timeout(format!("job {id} has not finished")));
        }
        let poll = left
            .map(|l| (l.as_millis() as u64).clamp(1, POLL_MS))
            .unwrap_or(POLL_MS);
        let s: JobStatus = client
            .get(&format!("/v1/jobs/{id}/wait?timeout_ms={poll}"))
            .await?;
        if s.state.is_terminal() {
            return Ok(s);
        }
    }
}

pub async fn run(home: &Home, a: WaitArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let deadline = a
        .timeout
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut all_ok = true;
    let mut ids: std::collections::VecDeque<JobId> = crate::ids::flatten(&a.ids).into();
    let mut seen: std::collections::HashSet<JobId> = ids.iter().copied().collect();
    while let Some(id) = ids.pop_front() {
        let s = wait_one(&client, id, deadline).await?;
        // An array's first id names all its tasks.
        if let (Some(0), Some(n)) = (s.array_index, s.array_size) {
            let rest = (1..n).map(|i| JobId(id.0 + u64::from(i)));
            ids.extend(rest.filter(|t| seen.insert(*t)));
        }
        all_ok &= s.state == JobState::Succeeded;
        let exit = s
            .exit_code
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        output::line(&format!("{} {}{}", s.id, s.state, exit))?;
    }
    Ok(if all_ok {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}

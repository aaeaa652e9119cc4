//! `shoal logs ID`: an attempt's stdout (or `--stderr`), streamed; the last attempt
//! unless `--attempt N`; with `--follow`, new output as it arrives until the job ends.
//!
//! The full output stays on the node that ran the attempt. When that node cannot
//! serve it, what the job's record keeps is printed instead and the reason goes to
//! stderr: when that is the whole output (up to 2 KiB) the exit code is 0; when it
//! is only the first and last KiB, or nothing (the attempt has not ended), it is
//! [`exit_code::OUTPUT_ELSEWHERE`].

use std::time::Duration;

use shoal_client::Client;
use shoal_home::Home;
use shoal_types::api::{AttemptStatus, ErrorCode, JobStatus};
use shoal_types::{exit_code, JobId, OutputSummary};
use tokio::io::AsyncWriteExt;

use crate::args::LogsArgs;
use crate::client;
use crate::error::CliError;

/// How often `--follow` looks for more output.
const POLL: Duration = Duration::from_millis(250);

pub async fn run(home: &Home, a: LogsArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let stream = if a.stderr { "stderr" } else { "stdout" };
    let mut out = tokio::io::stdout();
    let path = |attempt: Option<u32>, offset: u64| {
        let mut p = format!("/v1/jobs/{}/logs?stream={stream}", a.id);
        if let Some(n) = attempt {
            p.push_str(&format!("&attempt={n}"));
        }
        if offset > 0 {
            p.push_str(&format!("&offset={offset}"));
        }
        p
    };
    if !a.follow {
        return match client.copy_to(&path(a.attempt, 0), &mut out).await {
            Ok(_) => Ok(exit_code::OK),
            Err(e) => elsewhere(&client, a.id, a.attempt, a.stderr, e.into()).await,
        };
    }
    let mut attempt = a.attempt.unwrap_or(0);
    let mut offset = 0u64;
    loop {
        // Read the state first: output read after a terminal state is complete.
        let status: JobStatus = client.get(&format!("/v1/jobs/{}", a.id)).await?;
        let last = status.attempts.last().map_or(0, |x| x.n);
        if a.attempt.is_none() && last != attempt {
            if attempt != 0 {
                eprintln!("shoal: attempt {last} started; following it");
            }
            attempt = last;
            offset = 0;
        }
        if attempt > 0 {
            match client.copy_to(&path(Some(attempt), offset), &mut out).await {
                Ok(n) => offset += n,
                Err(e) => return elsewhere(&client, a.id, Some(attempt), a.stderr, e.into()).await,
            }
        }
        // A chosen earlier attempt is over once a later one exists.
        if status.state.is_terminal() || (a.attempt.is_some() && last > attempt) {
            return Ok(exit_code::OK);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The node that ran the attempt cannot serve its output: print what the job's record
/// keeps and say why on stderr; exit 0 if that is all of it, else
/// [`exit_code::OUTPUT_ELSEWHERE`]. Any other error is returned as it is.
async fn elsewhere(
    client: &Client,
    job: JobId,
    attempt: Option<u32>,
    stderr: bool,
    e: CliError,
) -> Result<i32, CliError> {
    let CliError::Api {
        code: ErrorCode::OutputElsewhere,
        message,
    } = e
    else {
        return Err(e);
    };
    let status: JobStatus = client.get(&format!("/v1/jobs/{job}")).await?;
    let chosen: Option<&AttemptStatus> = match attempt {
        Some(n) => status.attempts.iter().find(|x| x.n == n),
        None => status.attempts.last(),
    };
    let kept = chosen.and_then(|x| if stderr { &x.stderr } else { &x.stdout }.as_ref());
    match kept {
        Some(s) => {
            let (text, complete) = kept_text(s);
            let mut out = tokio::io::stdout();
            out.write_all(text.as_bytes()).await?;
            out.flush().await?;
            if complete {
                eprintln!(
                    "shoal: {message}; printed the whole output ({} bytes) from the job's record",
                    s.bytes
                );
                return Ok(exit_code::OK);
            } else {
                eprintln!(
                    "shoal: {message}; printed the first and last KiB kept in the job's record ({} of {} bytes)",
                    s.head.len() + s.tail.len(),
                    s.bytes
                );
            }
        }
        None => eprintln!(
            "shoal: {message}; the job's record keeps output only once an attempt has ended"
        ),
    }
    Ok(exit_code::OUTPUT_ELSEWHERE)
}

/// The head and tail kept in a record, with a marker where bytes are missing; and
/// whether nothing is missing.
fn kept_text(s: &OutputSummary) -> (String, bool) {
    let shown = (s.head.len() + s.tail.len()) as u64;
    if s.bytes <= shown {
        return (format!("{}{}", s.head, s.tail), true);
    }
    let gap = s.bytes - shown;
    let sep = if s.head.ends_with('\n') { "" } else { "\n" };
    (
        format!("{}{sep}[shoal: {gap} bytes not kept]\n{}", s.head, s.tail),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_output_marks_the_missing_middle() {
        let whole = OutputSummary {
            bytes: 6,
            head: "a\nb\nc\n".into(),
            tail: String::new(),
        };
        assert_eq!(kept_text(&whole), ("a\nb\nc\n".into(), true));
        let cut = OutputSummary {
            bytes: 5000,
            head: "start\n".into(),
            tail: "end\n".into(),
        };
        assert_eq!(
            kept_text(&cut),
            ("start\n[shoal: 4990 bytes not kept]\nend\n".into(), false)
        );
    }
}

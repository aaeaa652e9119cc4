//! `shoal submit`: build a spec from flags, submit it, print the id (every task id of
//! a job array); `--wait` waits and exits with the job's exit code (for an array: 0
//! only if every task succeeded).

use shoal_home::Home;
use shoal_types::api::{SubmitRequest, SubmitResponse};
use shoal_types::envelope::fresh_nonce;
use shoal_types::{exit_code, JobCommand, JobId, JobSpec, JobState};

use super::wait::wait_one;
use crate::args::SubmitArgs;
use crate::client;
use crate::error::CliError;
use crate::output;

fn build_spec(a: &SubmitArgs) -> Result<JobSpec, CliError> {
    let command = match (&a.shell, a.command.is_empty()) {
        (Some(s), true) => JobCommand::Shell(s.clone()),
        (None, false) => JobCommand::Argv(a.command.clone()),
        (None, true) => {
            return Err(CliError::Usage(
                "no command given: use `shoal submit -- CMD ARGS...` or `--shell 'CMD'`".into(),
            ))
        }
        (Some(_), false) => {
            return Err(CliError::Usage(
                "give either --shell or a command after --, not both".into(),
            ))
        }
    };
    let cwd = match &a.cwd {
        Some(d) => std::path::absolute(d)?,
        None => std::env::current_dir()?,
    };
    let cwd = cwd.to_str().ok_or_else(|| {
        CliError::Usage(format!("working directory {} is not UTF-8", cwd.display()))
    })?;
    let env = a
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(CliError::Usage(format!(
                "--env {kv:?} is not of the form KEY=VALUE"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = JobSpec {
        command,
        cwd: cwd.to_string(),
        env,
        name: a.name.clone(),
        queue: a.queue.clone(),
        priority: a.priority,
        timeout_ms: a.timeout,
        hold: a.hold,
        dedup_key: a.dedup_key.clone(),
        array: a.array,
        max_lost: a.max_lost,
    };
    spec.validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(spec)
}

pub async fn run(home: &Home, a: SubmitArgs, commit_timeout_ms: u64) -> Result<i32, CliError> {
    let mut spec = build_spec(&a)?;
    // Every submit carries an idempotency key, so that a retry of one that timed
    // out (and may still commit) cannot make a second job.
    let key = spec
        .dedup_key
        .get_or_insert_with(|| format!("auto-{}", fresh_nonce()))
        .clone();
    let client = client::for_home(home)?;
    let hint = format!(
        "To retry without risking a second job, run the same command with --dedup-key {key}"
    );
    let resp: SubmitResponse = client::post_write(
        &client,
        "/v1/jobs",
        &SubmitRequest { spec },
        commit_timeout_ms,
        &hint,
    )
    .await?;
    let ids: Vec<JobId> = (0..resp.count.unwrap_or(1))
        .map(|i| JobId(resp.id.0 + u64::from(i)))
        .collect();
    // A key this invocation made can only meet its own earlier try; a key the user
    // gave may name a job submitted before: say so, the id printed is that job's.
    if resp.duplicate && a.dedup_key.is_some() {
        eprintln!(
            "shoal: job {} was already submitted with dedup key {key:?}; no new job was made",
            resp.id
        );
    }
    if a.json {
        output::json(&resp)?;
    } else {
        let lines: Vec<String> = ids.iter().map(JobId::to_string).collect();
        output::line(&lines.join("\n"))?;
    }
    if !a.wait {
        return Ok(exit_code::OK);
    }
    let mut first_failure = None;
    for id in ids {
        let status = wait_one(&client, id, None).await?;
        if status.state != JobState::Succeeded && first_failure.is_none() {
            first_failure = Some(
                status
                    .exit_code
                    .filter(|c| *c != 0)
                    .unwrap_or(exit_code::FAILURE),
            );
        }
    }
    Ok(first_failure.unwrap_or(exit_code::OK))
}

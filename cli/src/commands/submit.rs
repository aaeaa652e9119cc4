//! `shoal submit`: build a spec from flags, submit it, print the id; `--wait` waits
//! and exits with the job's exit code.

use shoal_home::Home;
use shoal_types::api::{SubmitRequest, SubmitResponse};
use shoal_types::{exit_code, JobCommand, JobSpec};

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
    };
    spec.validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(spec)
}

pub async fn run(home: &Home, a: SubmitArgs) -> Result<i32, CliError> {
    let spec = build_spec(&a)?;
    let client = client::for_home(home)?;
    let resp: SubmitResponse = client.post("/v1/jobs", &SubmitRequest { spec }).await?;
    if a.json {
        output::json(&resp)?;
    } else {
        output::line(&resp.id.to_string())?;
    }
    if !a.wait {
        return Ok(exit_code::OK);
    }
    let status = wait_one(&client, resp.id, None).await?;
    Ok(match status.state {
        shoal_types::JobState::Succeeded => exit_code::OK,
        _ => status
            .exit_code
            .filter(|c| *c != 0)
            .unwrap_or(exit_code::FAILURE),
    })
}

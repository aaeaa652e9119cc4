//! Which jobs a cancel or release acts on: the ids given (the node widens an array's
//! first id to all its tasks), or, with `--task`, the chosen tasks of one array.

use shoal_client::Client;
use shoal_types::api::JobStatus;
use shoal_types::JobId;

use crate::error::CliError;
use crate::ids::{self, IdArg, Tasks};

/// The ids to send, and whether the node widens array first ids.
pub async fn resolve(
    client: &Client,
    args: &[IdArg],
    task: Option<&Tasks>,
) -> Result<(Vec<JobId>, bool), CliError> {
    let Some(Tasks(tasks)) = task else {
        return Ok((ids::flatten(args), true));
    };
    let first = match args {
        [IdArg { ids, single: true }] => ids[0],
        _ => {
            return Err(CliError::Usage(
                "--task takes one ID, the first id of a job array".into(),
            ))
        }
    };
    let s: JobStatus = client.get(&format!("/v1/jobs/{first}")).await?;
    let size = match (s.array_index, s.array_size) {
        (Some(0), Some(n)) => n,
        (Some(i), _) => {
            return Err(CliError::Usage(format!(
                "job {first} is task {i} of array {}; --task needs the array's first id",
                first.0 - u64::from(i)
            )))
        }
        _ => {
            return Err(CliError::Usage(format!(
                "job {first} is not a job array; --task needs the first id of one"
            )))
        }
    };
    if let Some(bad) = tasks.iter().find(|t| **t >= size) {
        return Err(CliError::Usage(format!(
            "array {first} has {size} tasks (indexes 0-{}); there is no task {bad}",
            size - 1
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let ids = tasks
        .iter()
        .filter(|t| seen.insert(**t))
        .map(|t| JobId(first.0 + u64::from(*t)))
        .collect();
    Ok((ids, false))
}

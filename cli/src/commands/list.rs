//! `shoal list`: jobs newest first, as a table or JSON. The table shows the array
//! index of a task (TASK) and the node of the last attempt (NODE).

use shoal_home::Home;
use shoal_types::api::JobStatus;
use shoal_types::exit_code;

use crate::args::ListArgs;
use crate::client;
use crate::error::CliError;
use crate::output::{self, table};

pub async fn run(home: &Home, a: ListArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let mut path = format!("/v1/jobs?limit={}", a.limit);
    if a.consistent {
        path.push_str("&consistent=true");
    }
    if let Some(s) = a.state {
        path.push_str(&format!("&state={s}"));
    }
    let jobs: Vec<JobStatus> = client.get(&path).await?;
    if a.json {
        output::json(&jobs)?;
        return Ok(exit_code::OK);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.state.to_string(),
                j.queue.clone(),
                j.priority.to_string(),
                j.name.clone().unwrap_or_else(|| "-".into()),
                j.array_index
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "-".into()),
                j.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                j.node.clone().unwrap_or_else(|| "-".into()),
                j.submitted_at.clone(),
                truncate(&j.command, 40),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "ID",
                "STATE",
                "QUEUE",
                "PRIO",
                "NAME",
                "TASK",
                "EXIT",
                "NODE",
                "SUBMITTED",
                "COMMAND"
            ],
            &rows
        )
    );
    Ok(exit_code::OK)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

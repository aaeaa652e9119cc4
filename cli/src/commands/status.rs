//! `shoal status ID`: one job, as key/value lines or JSON.

use shoal_home::Home;
use shoal_types::api::JobStatus;
use shoal_types::exit_code;

use crate::args::StatusArgs;
use crate::client;
use crate::error::CliError;
use crate::output;

pub async fn run(home: &Home, a: StatusArgs) -> Result<i32, CliError> {
    let client = client::for_home(home)?;
    let query = if a.consistent { "?consistent=true" } else { "" };
    let ids = crate::ids::flatten(&a.ids);
    // One plain id: its object (or its error), as scripts have always read it.
    if let ([only], [arg]) = (&ids[..], &a.ids[..]) {
        if arg.single {
            let s: JobStatus = client.get(&format!("/v1/jobs/{only}{query}")).await?;
            if a.json {
                output::json(&s)?;
            } else {
                print!("{}", render(&s));
            }
            return Ok(exit_code::OK);
        }
    }
    let mut found = Vec::new();
    let mut code = exit_code::OK;
    for id in ids {
        match client
            .get::<JobStatus>(&format!("/v1/jobs/{id}{query}"))
            .await
        {
            Ok(s) => found.push(s),
            Err(e) => {
                let e = CliError::from(e);
                if e.exit_code() != exit_code::NOT_FOUND {
                    return Err(e);
                }
                eprintln!("shoal: job {id} not found");
                code = exit_code::NOT_FOUND;
            }
        }
    }
    if a.json {
        output::json(&found)?;
    } else {
        let blocks: Vec<String> = found.iter().map(render).collect();
        print!("{}", blocks.join("\n"));
    }
    Ok(code)
}

/// One job as key/value lines.
fn render(s: &JobStatus) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut text = format!(
        "id:         {}\nname:       {}\nstate:      {}\nqueue:      {}\npriority:   {}\ntimeout:    {}\ncommand:    {}\nexit code:  {}\nnode:       {}\nsubmitted:  {}\nstarted:    {}\nended:      {}\nattempts:   {}\n",
        s.id,
        opt(&s.name),
        state_line(s),
        s.queue,
        s.priority,
        s.timeout_ms
            .map(shoal_types::duration::format_ms)
            .unwrap_or_else(|| "-".into()),
        s.command,
        s.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
        opt(&s.node),
        s.submitted_at,
        opt(&s.started_at),
        opt(&s.ended_at),
        s.attempts.len(),
    );
    if let (Some(i), Some(n)) = (s.array_index, s.array_size) {
        let first = s.id.0 - u64::from(i);
        text.push_str(&format!(
            "array:      task {i} of {n} (ids {first}-{}; `shoal cancel {first}` names them all)\n",
            first + u64::from(n) - 1
        ));
    }
    for a in &s.attempts {
        text.push_str(&format!(
            "  #{} on {}: {} -> {}  exit {}  {}  wall {}  cpu {}  rss {}\n",
            a.n,
            a.node,
            match (&a.started_at, &a.leased_at, &a.ended_at) {
                (Some(t), _, _) => t.clone(),
                (None, Some(l), None) => format!("waiting to start (leased {l})"),
                (None, _, Some(_)) => "never started".into(),
                (None, None, None) => "-".into(),
            },
            opt(&a.ended_at),
            shoal_types::api::shell_exit_code(a.exit_code, a.signal)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            a.fail_reason.clone().unwrap_or_else(|| "ok".into()),
            a.wall_ms
                .map(|v| format!("{v}ms"))
                .unwrap_or_else(|| "-".into()),
            a.cpu_ms
                .map(|v| format!("{v}ms"))
                .unwrap_or_else(|| "-".into()),
            a.max_rss_kb
                .map(|v| format!("{v}KiB"))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    text
}

/// The state, and for a job handed to a node that has not started it, where it waits.
fn state_line(s: &JobStatus) -> String {
    match (s.state, &s.node) {
        (shoal_types::JobState::Leased, Some(n)) => {
            format!("leased (on node {n}, waiting for a slot or its start)")
        }
        (state, _) => state.to_string(),
    }
}

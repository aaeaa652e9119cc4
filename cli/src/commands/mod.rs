//! One file per subcommand; this file only dispatches.

mod cancel;
mod cluster;
mod init;
mod list;
mod logs;
mod node;
mod release;
mod status;
mod submit;
mod targets;
mod wait;

use shoal_home::Home;

pub use node::exec_node;

use crate::args::{Cli, Command};
use crate::error::CliError;

/// Runs the parsed command; returns the exit code.
pub async fn run(cli: Cli) -> Result<i32, CliError> {
    let home = Home::resolve(cli.home.as_deref());
    match cli.command {
        Command::Init(a) => init::run(&home, a),
        Command::Submit(a) => submit::run(&home, a, cli.commit_timeout).await,
        Command::Status(a) => status::run(&home, a).await,
        Command::List(a) => list::run(&home, a).await,
        Command::Wait(a) => wait::run(&home, a).await,
        Command::Logs(a) => logs::run(&home, a).await,
        Command::Cancel(a) => cancel::run(&home, a, cli.commit_timeout).await,
        Command::Release(a) => release::run(&home, a, cli.commit_timeout).await,
        Command::Drain(a) => cluster::drain(&home, a, true, cli.commit_timeout).await,
        Command::Undrain(a) => cluster::drain(&home, a, false, cli.commit_timeout).await,
        Command::Cluster(a) => cluster::cluster(&home, a).await,
        Command::Nodes(a) => cluster::nodes(&home, a).await,
        Command::Node(crate::args::NodeArgs {
            action: Some(crate::args::NodeAction::Remove(a)),
            ..
        }) => cluster::remove(&home, a, cli.commit_timeout).await,
        // Handled by the entry point before the runtime starts.
        Command::Node(_) | Command::Supervise => Ok(shoal_types::exit_code::USAGE),
    }
}

/// What a per-job answer says for an unknown id.
const NOT_FOUND: &str = "not found";

/// Prints "ID what" per job on stdout, and "shoal: job ID not found" on stderr for
/// an unknown id; exit 3 if any id was not found, else 0.
fn per_job<'a>(rows: impl Iterator<Item = (shoal_types::JobId, &'a str)>) -> Result<i32, CliError> {
    let mut missing = false;
    for (id, what) in rows {
        if what == NOT_FOUND {
            missing = true;
            eprintln!("shoal: job {id} not found");
            continue;
        }
        crate::output::line(&format!("{id} {what}"))?;
    }
    Ok(if missing {
        shoal_types::exit_code::NOT_FOUND
    } else {
        shoal_types::exit_code::OK
    })
}

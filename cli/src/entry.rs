//! Process entry points: parse the command line, set up logging and the async
//! runtime, run, and map the result to an exit code. Nothing else.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use shoal_types::exit_code;

use crate::args::{Cli, Command};
use crate::error::CliError;

/// `main` of the `shoal` binary.
pub fn shoal_main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Command::Supervise => code_of(shoal_supervisor::main()),
        // Never returns on success: the process becomes `shoal-node`.
        Command::Node(ref a) if a.action.is_none() => report(Err(crate::commands::exec_node())),
        _ => {
            init_tracing(&cli.command);
            block_on_current_thread(crate::commands::run(cli))
        }
    }
}

/// Parses `std::env::args`; on `--help`, `--version` or a usage error, prints and
/// returns the exit code to leave with.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        let code = if e.use_stderr() {
            exit_code::USAGE
        } else {
            exit_code::OK
        };
        let _ = e.print();
        code_of(code)
    })
}

/// Runs `fut` on a multi-threaded runtime and turns its result into an exit code.
pub fn block_on(fut: impl Future<Output = Result<i32, CliError>>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => report(runtime.block_on(fut)),
        Err(e) => {
            eprintln!("shoal: cannot start the async runtime: {e}");
            code_of(exit_code::FAILURE)
        }
    }
}

/// A client command makes a few sequential calls: one thread is enough, and neither
/// a worker thread per CPU nor the signal driver is started (both cost time at every
/// `shoal submit`).
fn block_on_current_thread(fut: impl Future<Output = Result<i32, CliError>>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => report(runtime.block_on(fut)),
        Err(e) => {
            eprintln!("shoal: cannot start the async runtime: {e}");
            code_of(exit_code::FAILURE)
        }
    }
}

fn report(result: Result<i32, CliError>) -> ExitCode {
    match result {
        Ok(code) => code_of(code),
        Err(e) if e.is_broken_pipe() => code_of(exit_code::OK),
        Err(e) => {
            eprintln!("shoal: {e}");
            code_of(e.exit_code())
        }
    }
}

pub fn code_of(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Logs go to stderr; `SHOAL_LOG` sets the filter (default: info for `node` with
/// openraft at warn, warn otherwise).
pub fn init_tracing(cmd: &Command) {
    // openraft narrates every election at info; its warnings are what operators need.
    let default = if matches!(cmd, Command::Node(_)) {
        "info,openraft=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .init();
}

/// Colour in logs only on a terminal, and never with `NO_COLOR` set to anything
/// but empty (no-color.org): a journal or a log file gets plain text.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}

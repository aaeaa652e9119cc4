//! The `shoal` command: parse, run, map the error to an exit code. Nothing else.

mod args;
mod client;
mod commands;
mod duration;
mod error;
mod output;

use std::process::ExitCode;

use clap::Parser;
use shoal_types::exit_code;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::OK
            };
            let _ = e.print();
            return code_of(code);
        }
    };
    if matches!(cli.command, args::Command::Supervise) {
        return code_of(shoal_supervisor::main());
    }
    init_tracing(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shoal: cannot start the async runtime: {e}");
            return code_of(exit_code::FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code_of(code),
        Err(e) if e.is_broken_pipe() => code_of(exit_code::OK),
        Err(e) => {
            eprintln!("shoal: {e}");
            code_of(e.exit_code())
        }
    }
}

fn code_of(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Logs go to stderr; `SHOAL_LOG` sets the filter (default: info for `node` with
/// openraft at warn, warn otherwise).
fn init_tracing(cmd: &args::Command) {
    // openraft narrates every election at info; its warnings are what operators need.
    let default = if matches!(cmd, args::Command::Node(_)) {
        "info,openraft=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

//! `shoal-testnet`: local Shoal clusters for benchmarks (and, later, chaos runs).
//! It drives the built `shoal` binary and its API the way a user would.

mod bench;
mod cluster;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "shoal-testnet", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure a one-node and a three-node cluster on 127.0.0.1; every figure is
    /// printed beside a reference
    /// measured on this machine in the same run.
    Bench(bench::BenchArgs),
    /// Internal: write the current wall-clock time (ns) to FILE and exit; the job
    /// the submit-to-start benchmark runs.
    #[command(name = "__stamp", hide = true)]
    Stamp { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Stamp { file } => match bench::latency::stamp(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoal-testnet __stamp: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => {
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("shoal-testnet: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(bench::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shoal-testnet: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

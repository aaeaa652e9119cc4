//! `shoal-testnet`: local Shoal clusters for trying Shoal and for benchmarks (chaos
//! runs come next). It drives the built `shoal` binary and its API the way a user would.

mod bench;
mod chaos;
mod cluster;
mod cmd;
mod lab;
mod net;
mod scenarios;
mod signal;
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
    /// Start N nodes that form one cluster and keep running after this command
    Up(lab::UpArgs),
    /// Show the nodes of the testnet `up` started
    Status(lab::DirArgs),
    /// Stop the testnet `up` started
    Down(lab::DirArgs),
    /// List the chaos scenarios
    Scenarios,
    /// Run chaos scenarios against a local cluster and check the history
    Chaos(chaos::ChaosArgs),
    /// One cluster for a long time under every fault, drawn one per round: the
    /// invariants, and how each node's memory, open files and disk grew
    Soak(chaos::soak::SoakArgs),
    /// Check a saved history (from `chaos --dir DIR`) and print the findings
    Check(chaos::CheckArgs),
    /// Internal: the chaos workload's job.
    #[command(name = "__job", hide = true)]
    Job {
        events: PathBuf,
        key: String,
        millis: u64,
        /// Start a child that calls setsid and lives on
        #[arg(long)]
        escape: bool,
    },
    /// Internal: the escaped child of a `__job --escape`.
    #[command(name = "__escapee", hide = true)]
    Escapee {
        events: PathBuf,
        job: u64,
        attempt: u32,
    },
    /// Measure a one-node and a three-node cluster on 127.0.0.1; every figure is
    /// printed beside a reference measured on this machine in the same run.
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
        Command::Scenarios => {
            print!("{}", scenarios::table());
            ExitCode::SUCCESS
        }
        Command::Down(a) => report(lab::down(a)),
        Command::Job {
            events,
            key,
            millis,
            escape,
        } => match chaos::job::run(&events, &key, millis, escape) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoal-testnet __job: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Escapee {
            events,
            job,
            attempt,
        } => match chaos::job::escapee(&events, job, attempt) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoal-testnet __escapee: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Check(a) => verdict(chaos::check_dir(a)),
        Command::Chaos(a) => match tokio::runtime::Runtime::new() {
            Ok(rt) => verdict(rt.block_on(chaos::run(a))),
            Err(e) => {
                eprintln!("shoal-testnet: cannot start the runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Soak(a) => match tokio::runtime::Runtime::new() {
            Ok(rt) => verdict(rt.block_on(chaos::soak::run(a))),
            Err(e) => {
                eprintln!("shoal-testnet: cannot start the runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Up(a) => block_on(lab::up(a)),
        Command::Status(a) => block_on(lab::status(a)),
        Command::Bench(args) => block_on(bench::run(args)),
    }
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal-testnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => report(rt.block_on(fut)),
        Err(e) => {
            eprintln!("shoal-testnet: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 0 when every invariant held, 1 when one did not, 2 on an error.
fn verdict(r: anyhow::Result<bool>) -> ExitCode {
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("shoal-testnet: {e:#}");
            ExitCode::from(2)
        }
    }
}

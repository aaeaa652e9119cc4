//! `shoal-node`: the node runtime, started by `shoal node` (which execs this binary
//! with its own arguments). It parses the same command line as `shoal`, and runs only
//! `node` (and `__supervise`, the supervisor fallback).

use std::process::ExitCode;

use shoal_cli::args::{Command, NodeArgs};
use shoal_cli::entry;
use shoal_home::Home;
use shoal_node::worker::launch::SupervisorCommand;
use shoal_node::{NodeOptions, Overrides};
use shoal_types::exit_code;

fn main() -> ExitCode {
    let cli = match entry::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Command::Supervise => entry::code_of(shoal_supervisor::main()),
        Command::Node(args) if args.action.is_some() => {
            eprintln!("`shoal node remove` is a client command: run it with `shoal`");
            entry::code_of(exit_code::USAGE)
        }
        Command::Node(args) => {
            entry::init_tracing(&Command::Node(args.clone()));
            let home = Home::resolve(cli.home.as_deref());
            entry::block_on(async move { Ok(run(home, args).await) })
        }
        _ => {
            eprintln!("shoal-node runs only `node`; use `shoal` for everything else");
            entry::code_of(exit_code::USAGE)
        }
    }
}

/// Runs the node until SIGTERM/SIGINT; returns the exit code.
async fn run(home: Home, args: NodeArgs) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("shoal: cannot find this binary's path: {e}");
            return exit_code::FAILURE;
        }
    };
    let opts = NodeOptions {
        home,
        overrides: Overrides {
            slots: args.slots,
            listen: (!args.listen.is_empty()).then_some(args.listen),
            advertise: (!args.advertise.is_empty()).then_some(args.advertise),
            bootstrap: args.bootstrap,
            no_mdns: args.no_mdns,
            labels: args.labels,
            expect: args.expect,
            stop_grace_ms: args.stop_grace,
        },
        supervisor: SupervisorCommand::beside(&exe),
        init_if_missing: true,
        join_bundle: args.bundle,
        rejoin: args.rejoin,
    };
    match shoal_node::run(opts).await {
        Ok(()) => exit_code::OK,
        Err(e) => {
            eprintln!("shoal: {e}");
            e.exit_code()
        }
    }
}

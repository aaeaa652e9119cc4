//! `shoal`: parse, run, map the error to an exit code (see [`shoal_cli::entry`]).

fn main() -> std::process::ExitCode {
    shoal_cli::entry::shoal_main()
}

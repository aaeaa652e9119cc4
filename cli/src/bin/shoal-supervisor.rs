//! `shoal-supervisor`: the per-job supervisor process the node starts for every job.
//! See the `shoal-supervisor` crate; this file only hands over to it.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(shoal_supervisor::main().clamp(0, 255) as u8)
}

//! `shoal node`: run a node in the foreground until SIGTERM/SIGINT.

use shoal_node::worker::launch::SupervisorCommand;
use shoal_node::{Home, NodeOptions, Overrides};
use shoal_types::exit_code;

use crate::args::NodeArgs;
use crate::error::CliError;

pub async fn run(home: &Home, a: NodeArgs) -> Result<i32, CliError> {
    let supervisor = SupervisorCommand::beside(&std::env::current_exe()?);
    let opts = NodeOptions {
        home: home.clone(),
        overrides: Overrides { slots: a.slots },
        supervisor,
        init_if_missing: true,
    };
    shoal_node::run(opts).await?;
    Ok(exit_code::OK)
}

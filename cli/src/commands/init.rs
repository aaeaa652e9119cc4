//! `shoal init`: create a home with a new cluster and say what to copy where.

use shoal_home::{init_genesis, Home};
use shoal_types::exit_code;

use crate::error::CliError;
use crate::output;

pub fn run(home: &Home) -> Result<i32, CliError> {
    let r = init_genesis(home)?;
    output::line(&format!(
        "Initialized Shoal home {}\n  cluster id: {}\n  node id:    {}\n  peer id:    {}\n\
         Start this node with `shoal node`. To add hosts later, copy {} to them\n\
         (it holds the cluster authority key: keep it private); every host makes its own node key.",
        r.home.display(),
        r.cluster_id,
        r.node_id,
        r.peer_id,
        r.bundle.display()
    ))?;
    Ok(exit_code::OK)
}

//! `shoal init`: create a home with a new cluster and say what to copy where.

use shoal_home::{init_genesis, init_join, Home};
use shoal_types::exit_code;

use crate::args::InitArgs;
use crate::error::CliError;
use crate::output;

/// The command that starts the node of `home`: with `--home` unless it is the home
/// a plain `shoal node` would use ($SHOAL_HOME or ~/.shoal).
fn start_command(home: &Home) -> String {
    if home.root() == Home::resolve(None).root() {
        "shoal node".into()
    } else {
        format!("shoal node --home {}", home.root().display())
    }
}

pub fn run(home: &Home, a: InitArgs) -> Result<i32, CliError> {
    let start = start_command(home);
    if let Some(bundle) = &a.join {
        let r = init_join(home, bundle, a.expect.unwrap_or(0))?;
        output::line(&format!(
            "Initialized Shoal home {} to join cluster {}\n  node id:    {}\n  peer id:    {}\n\
             Start it with `{start}` (add --bootstrap /ip4/ADDR/tcp/7420 if the cluster is not on\n\
             this network segment): it finds the cluster and its leader adds it.",
            r.home.display(),
            r.cluster_id,
            r.node_id,
            r.peer_id
        ))?;
        return Ok(exit_code::OK);
    }
    let r = init_genesis(home)?;
    output::line(&format!(
        "Initialized Shoal home {}\n  cluster id: {}\n  node id:    {}\n  peer id:    {}\n\
         Start this node with `{start}`. To add hosts later, copy {} to them\n\
         (it holds the cluster authority key: keep it private); every host makes its own node key.",
        r.home.display(),
        r.cluster_id,
        r.node_id,
        r.peer_id,
        r.bundle.display()
    ))?;
    Ok(exit_code::OK)
}

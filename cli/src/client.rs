//! Connecting the CLI to the node of a home: the API client, with "no home" and
//! "node not running" turned into the CLI's errors.

use shoal_client::Client;
use shoal_home::Home;

use crate::error::CliError;

/// A client for the node of `home`; fails if there is no home at all.
pub fn for_home(home: &Home) -> Result<Client, CliError> {
    if !home.exists() {
        return Err(CliError::NoHome {
            path: home.root().to_path_buf(),
        });
    }
    Ok(Client::new(home.socket()))
}

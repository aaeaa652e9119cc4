//! `cluster.bundle`: the one file another host needs to join a cluster — cluster id,
//! authority key (public, plus the secret in simple mode) and bootstrap addresses.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HomeError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub cluster_id: String,
    pub authority_public_key: String,
    /// Simple mode: hosts certify their own node keys with it. Absent in hardened mode.
    #[serde(default)]
    pub authority_secret_key: Option<String>,
    /// libp2p multiaddrs of nodes a newcomer dials first.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

impl Bundle {
    pub fn load(path: &Path) -> Result<Bundle, HomeError> {
        let text = std::fs::read_to_string(path).map_err(|e| HomeError::HomeIo {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| HomeError::Config {
            path: path.to_path_buf(),
            detail: format!("not a cluster bundle: {e}"),
        })
    }

    pub fn to_toml(&self) -> String {
        let mut s = String::from(
            "# Shoal cluster bundle: copy to a host to let it join this cluster.\n\
             # It holds the cluster authority's secret key (simple mode): keep it private.\n",
        );
        // Strings, optional strings and a list of strings: TOML encoding cannot fail
        // (a `None` field is left out).
        s.push_str(&toml::to_string_pretty(self).expect("a bundle always encodes as TOML"));
        s
    }
}

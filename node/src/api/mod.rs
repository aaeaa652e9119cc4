//! The node's HTTP/JSON API (axum), served on the home's Unix socket. The CLI is a
//! client of this API and nothing else. Routes are listed in `shoal_types::api`.

pub mod cluster;
pub mod commit;
pub mod error;
pub mod jobs;
pub mod serve;
pub mod state;

pub use commit::ELECTION_PATIENCE;
pub use serve::serve;
pub use state::AppState;

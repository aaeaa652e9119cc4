//! What the tests of every crate share, so each does not grow its own copy:
//!
//! - [`fixtures`]: signed job envelopes;
//! - [`wait`]: wait for a condition instead of sleeping and hoping;
//! - [`root`]: tests that need root run where they can (CI runs as root) and are
//!   reported as skipped, with the reason, where they cannot;
//! - [`process`]: signals to node processes without `unsafe`;
//! - [`listen`]: nodes in tests listen on port 0 and the test reads the real
//!   address back, so no two tests race for a port picked in advance.
//!
//! Dev-only: no crate's product code depends on it.

pub mod fixtures;
pub mod listen;
pub mod process;
pub mod root;
pub mod wait;

//! Shoal's wire types: identifiers, job specs and records, certificates, signed
//! envelopes, HTTP API bodies and CLI exit codes.
//!
//! This crate owns no I/O and links none of tokio, rocksdb or libp2p, so every other
//! crate (and external clients) can depend on it without pulling the runtime in.

pub mod api;
pub mod cert;
pub mod duration;
pub mod envelope;
pub mod error;
pub mod exit_code;
pub mod ids;
pub mod job;
pub mod join;
pub mod keys;
pub mod size;
pub mod time;
pub mod verifier;

pub use cert::Certificate;
pub use envelope::{EnvelopeBody, SignedEnvelope};
pub use error::TypesError;
pub use ids::{FencingToken, JobId, NodeId};
pub use job::{
    Attempt, AttemptOutcome, FailReason, JobCommand, JobRecord, JobSpec, JobState, OutputSummary,
};
pub use verifier::EnvelopeVerifier;

//! Errors of the wire types: parsing ids, validating specs, checking signatures.

/// Everything that can be wrong with a value of this crate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TypesError {
    #[error("invalid job id {input:?}: expected a positive whole number")]
    BadJobId { input: String },
    #[error("invalid node id {input:?}: expected 16 hex digits")]
    BadNodeId { input: String },
    #[error("invalid job state {input:?}: expected one of {expected}")]
    BadState {
        input: String,
        expected: &'static str,
    },
    #[error("invalid job spec: {reason}")]
    BadSpec { reason: String },
    #[error("job spec is {size} bytes, over the limit of {limit} bytes")]
    SpecTooLarge { size: usize, limit: usize },
    #[error("invalid key material: {reason}")]
    BadKey { reason: String },
    #[error("certificate rejected: {reason}")]
    BadCertificate { reason: String },
    #[error("envelope rejected: {reason}")]
    BadEnvelope { reason: String },
}

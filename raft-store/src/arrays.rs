//! Job arrays in the store: an array's signed envelope is stored once, in `arrays`
//! under the id of its first task; each task's record is stored without it (see
//! [`JobRecord::array_index`]) and gets it back whenever it is loaded, so everything
//! above this module sees complete records.

use std::borrow::Cow;

use shoal_types::{JobRecord, SignedEnvelope};

use crate::codec::decode;
use crate::keys;
use crate::StoreError;

/// What is written to `jobs` for `rec`: an array task without its envelope.
pub fn stored_form(rec: &JobRecord) -> Cow<'_, JobRecord> {
    if rec.array_index.is_none() || rec.envelope.is_empty() {
        return Cow::Borrowed(rec);
    }
    Cow::Owned(JobRecord {
        id: rec.id,
        envelope: SignedEnvelope::default(),
        submitter: rec.submitter,
        submitted_at_ms: rec.submitted_at_ms,
        state: rec.state,
        ended_at_ms: rec.ended_at_ms,
        attempts: rec.attempts.clone(),
        array_index: rec.array_index,
    })
}

/// Decodes a stored record; an array task gets its array's envelope, read by `get`
/// (a lookup in `arrays` by key).
pub fn decode_record(
    bytes: &[u8],
    get: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
) -> Result<JobRecord, StoreError> {
    let mut rec: JobRecord = decode("job record", bytes)?;
    if let Some(first) = rec.array_first().filter(|_| rec.envelope.is_empty()) {
        let bytes = get(&keys::job_key(first))?.ok_or_else(|| {
            StoreError::codec(
                "array envelope",
                format!(
                    "job {} belongs to array {first}, which has no envelope",
                    rec.id
                ),
            )
        })?;
        rec.envelope = decode("array envelope", &bytes)?;
    }
    Ok(rec)
}

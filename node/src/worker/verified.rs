//! The worker's memory of the envelopes it verified last. The tasks of a job array
//! share one signed envelope; it is verified once, not once per task. A hit needs
//! the whole envelope (body bytes and signature) to be equal to the verified one.

use std::collections::VecDeque;
use std::sync::Mutex;

use shoal_types::{EnvelopeBody, EnvelopeVerifier, SignedEnvelope, TypesError};

/// Envelopes remembered; arrays are leased in order, so a few suffice.
const REMEMBERED: usize = 16;

#[derive(Debug, Default)]
pub struct VerifiedEnvelopes {
    recent: Mutex<VecDeque<(SignedEnvelope, EnvelopeBody)>>,
}

impl VerifiedEnvelopes {
    /// The body of `envelope`, from memory if this exact envelope passed before, else
    /// after `verifier`'s full check (and remembered if it passes).
    pub fn verify(
        &self,
        verifier: &EnvelopeVerifier,
        envelope: &SignedEnvelope,
    ) -> Result<EnvelopeBody, TypesError> {
        if let Ok(recent) = self.recent.lock() {
            if let Some((_, body)) = recent.iter().find(|(e, _)| e == envelope) {
                return Ok(body.clone());
            }
        }
        let body = verifier.verify(envelope)?;
        if let Ok(mut recent) = self.recent.lock() {
            recent.push_front((envelope.clone(), body.clone()));
            recent.truncate(REMEMBERED);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_testkit::fixtures;
    use shoal_types::JobSpec;

    #[test]
    fn remembers_only_the_exact_envelope() {
        let signed = fixtures::signed(JobSpec::argv(vec!["true".into()], "/"));
        let env = signed.envelope;
        let body: EnvelopeBody = serde_json::from_str(&env.body).unwrap();
        let verifier = EnvelopeVerifier::new(signed.authority.verifying_key(), fixtures::CLUSTER);
        let cache = VerifiedEnvelopes::default();
        assert_eq!(cache.verify(&verifier, &env).unwrap(), body);
        assert_eq!(cache.verify(&verifier, &env).unwrap(), body);
        let mut forged = env.clone();
        forged.body = forged.body.replace("true", "echo");
        assert!(cache.verify(&verifier, &forged).is_err());
        let mut unsigned = env;
        unsigned.signature = "00".repeat(64);
        assert!(cache.verify(&verifier, &unsigned).is_err());
    }
}

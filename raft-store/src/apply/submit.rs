//! Submit: accept a verified envelope as a new Queued (or Held) job, or as the N
//! tasks of a job array, unless its (submitter, nonce) was seen before; a dedup key
//! seen before answers with the job (the array's first task) it made when the spec
//! is the same, and is refused naming the fields that differ otherwise.

use shoal_types::job::MAX_ARRAY_TASKS;
use shoal_types::{JobId, JobRecord, JobState, SignedEnvelope};

use crate::codec::{decode, encode};
use crate::command::{Response, SubmitRejection};
use crate::db::{CF_ARRAYS, CF_DEDUP, CF_NONCES};
use crate::jobs;
use crate::keys;
use crate::limits::MAX_TASKS;
use crate::txn::Txn;
use crate::StoreError;

pub fn submit(
    txn: &mut Txn,
    envelope: &SignedEnvelope,
    now_ms: u64,
) -> Result<Response, StoreError> {
    let mut budget = MAX_TASKS;
    Ok(match submit_one(txn, envelope, now_ms, &mut budget)? {
        Ok(id) => Response::Submitted { id },
        Err(reason) => Response::SubmitRejected { reason },
    })
}

/// Applies each envelope as [`submit`] would, in order (a replay inside the batch is
/// rejected like any other).
pub fn submit_batch(
    txn: &mut Txn,
    envelopes: &[SignedEnvelope],
    now_ms: u64,
) -> Result<Response, StoreError> {
    let mut budget = MAX_TASKS;
    let results = envelopes
        .iter()
        .map(|e| submit_one(txn, e, now_ms, &mut budget))
        .collect::<Result<_, _>>()?;
    Ok(Response::SubmittedBatch { results })
}

/// `budget`: how many more jobs this entry may make; an envelope that needs more is
/// refused (`EntryFull`) and leaves it as it was.
fn submit_one(
    txn: &mut Txn,
    envelope: &SignedEnvelope,
    now_ms: u64,
    budget: &mut u64,
) -> Result<Result<JobId, SubmitRejection>, StoreError> {
    let body = match envelope.body() {
        Ok(b) => b,
        Err(e) => return Ok(Err(SubmitRejection::BadEnvelope(e.to_string()))),
    };
    // The submitting node validated the spec; a rogue one may not have, and an
    // array's size is what this transition loops over.
    let tasks = u64::from(body.spec.array.unwrap_or(1));
    if body
        .spec
        .array
        .is_some_and(|n| n == 0 || n > MAX_ARRAY_TASKS)
    {
        return Ok(Err(SubmitRejection::BadEnvelope(format!(
            "array size {tasks} must be between 1 and {MAX_ARRAY_TASKS}"
        ))));
    }
    if tasks > *budget {
        return Ok(Err(SubmitRejection::EntryFull { limit: MAX_TASKS }));
    }
    let nonce_key = keys::nonce_key(body.submitter, &SignedEnvelope::nonce_bytes(&body));
    if let Some(existing) = txn.get(CF_NONCES, &nonce_key)? {
        let existing: JobId = decode("nonce job id", &existing)?;
        return Ok(Err(SubmitRejection::ReplayedNonce { existing }));
    }
    if let Some(key) = &body.spec.dedup_key {
        if let Some(existing) = txn.get(CF_DEDUP, key.as_bytes())? {
            let (existing, array): (JobId, Option<u32>) = decode("dedup entry", &existing)?;
            // Compared with the first job's spec while its record exists; the
            // entry's array size otherwise.
            let first = jobs::load(txn, existing)?.and_then(|r| r.spec().ok());
            let differs: Vec<String> = match first {
                Some(first) => first.differences(&body.spec),
                None if array != body.spec.array => vec!["array"],
                None => Vec::new(),
            }
            .into_iter()
            .map(String::from)
            .collect();
            return Ok(Err(if differs.is_empty() {
                SubmitRejection::Duplicate { existing }
            } else {
                SubmitRejection::DedupKeyTaken { existing, differs }
            }));
        }
    }
    let state = if body.spec.hold {
        JobState::Held
    } else {
        JobState::Queued
    };
    let id = JobId(txn.meta.next_job_id);
    match body.spec.array {
        None => {
            txn.meta.next_job_id += 1;
            let rec = JobRecord {
                id,
                envelope: envelope.clone(),
                submitter: body.submitter,
                submitted_at_ms: now_ms,
                state,
                ended_at_ms: None,
                attempts: Vec::new(),
                array_index: None,
            };
            jobs::save(txn, &rec, None)?;
            if state == JobState::Queued {
                jobs::queue_push(txn, &rec);
            }
        }
        Some(n) => {
            // The envelope is stored once; each task is a small record referring to
            // it by its own index (the first task's id is `id - index`).
            txn.meta.next_job_id += u64::from(n);
            txn.put(
                CF_ARRAYS,
                &keys::job_key(id),
                encode("array envelope", envelope)?,
            );
            for i in 0..n {
                let rec = JobRecord {
                    id: JobId(id.0 + u64::from(i)),
                    envelope: SignedEnvelope::default(),
                    submitter: body.submitter,
                    submitted_at_ms: now_ms,
                    state,
                    ended_at_ms: None,
                    attempts: Vec::new(),
                    array_index: Some(i),
                };
                jobs::save(txn, &rec, None)?;
                if state == JobState::Queued {
                    jobs::queue_push_at(txn, body.spec.priority, rec.id);
                }
            }
        }
    }
    *budget -= tasks;
    txn.put(CF_NONCES, &nonce_key, encode("nonce job id", &id)?);
    if let Some(key) = &body.spec.dedup_key {
        let entry = (id, body.spec.array);
        txn.put(CF_DEDUP, key.as_bytes(), encode("dedup entry", &entry)?);
    }
    Ok(Ok(id))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::command::{Request, Response, SubmitRejection};
    use shoal_types::{JobId, JobState, SignedEnvelope};

    #[test]
    fn submit_assigns_ids_and_rejects_replays() {
        let h = Harness::new();
        let e1 = h.envelope(0);
        let e2 = h.envelope(5);
        assert_eq!(h.submit(&e1), JobId(1));
        assert_eq!(h.submit(&e2), JobId(2));
        let again = h.run(Request::Submit {
            envelope: e1,
            now_ms: 9,
        });
        assert_eq!(
            again,
            Response::SubmitRejected {
                reason: SubmitRejection::ReplayedNonce { existing: JobId(1) }
            }
        );
        let bad = SignedEnvelope {
            body: "{not json".into(),
            signature: String::new(),
        };
        let r = h.run(Request::Submit {
            envelope: bad,
            now_ms: 9,
        });
        assert!(matches!(
            r,
            Response::SubmitRejected {
                reason: SubmitRejection::BadEnvelope(_)
            }
        ));
        let rec = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(rec.state, JobState::Queued);
        assert_eq!(rec.submitted_at_ms, 100);
        assert_eq!(h.view.queued_count().unwrap(), 2);
        assert_eq!(
            h.view.list_jobs(Some(JobState::Queued), 10).unwrap().len(),
            2
        );
    }

    #[test]
    fn a_dedup_key_makes_one_job_whoever_submits_it_and_however_often() {
        let h = Harness::new();
        let keyed = || {
            let mut s = shoal_types::JobSpec::argv(vec!["true".into()], "/");
            s.dedup_key = Some("nightly-2026-11-26".into());
            // A fresh submitter key and nonce each time: a retry through another node.
            h.envelope_of(s)
        };
        let first = h.submit(&keyed());
        let dup = Response::SubmitRejected {
            reason: SubmitRejection::Duplicate { existing: first },
        };
        let again = h.run(Request::Submit {
            envelope: keyed(),
            now_ms: 1,
        });
        assert_eq!(again, dup);
        let other = h.envelope(0);
        assert_ne!(h.submit(&other), first);
        // Twice in one batch: still one job.
        let out = h.run_batch(vec![
            Request::Submit {
                envelope: keyed(),
                now_ms: 1,
            },
            Request::Submit {
                envelope: keyed(),
                now_ms: 2,
            },
        ]);
        assert_eq!(out, vec![dup; 2]);
        assert_eq!(h.view.queued_count().unwrap(), 2);
        // A new key twice in one batch: the second finds the first's job.
        let mut s = shoal_types::JobSpec::argv(vec!["true".into()], "/");
        s.dedup_key = Some("batch".into());
        let out = h.run_batch(vec![
            Request::Submit {
                envelope: h.envelope_of(s.clone()),
                now_ms: 1,
            },
            Request::Submit {
                envelope: h.envelope_of(s.clone()),
                now_ms: 1,
            },
        ]);
        let Response::Submitted { id } = out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            out[1],
            Response::SubmitRejected {
                reason: SubmitRejection::Duplicate { existing: id }
            }
        );
        // The same key with another command: refused, naming what differs.
        s.command = shoal_types::JobCommand::Shell("echo other".into());
        s.priority = 4;
        let r = h.run(Request::Submit {
            envelope: h.envelope_of(s),
            now_ms: 1,
        });
        assert_eq!(
            r,
            Response::SubmitRejected {
                reason: SubmitRejection::DedupKeyTaken {
                    existing: id,
                    differs: vec!["command".into(), "priority".into()]
                }
            }
        );
    }

    #[test]
    fn a_dedup_key_answers_only_a_submit_of_the_same_shape_and_survives_snapshots() {
        let h = Harness::new();
        let keyed = |key: &str, array: Option<u32>| {
            let mut s = shoal_types::JobSpec::argv(vec!["true".into()], "/");
            s.dedup_key = Some(key.into());
            s.array = array;
            h.envelope_of(s)
        };
        let arr = h.submit(&keyed("a", Some(3)));
        let single = h.submit(&keyed("s", None));
        let copy = h.snapshot_copy();
        for store in [&h, &copy] {
            for (key, array, existing) in [("a", Some(3), arr), ("s", None, single)] {
                let r = store.run(Request::Submit {
                    envelope: keyed(key, array),
                    now_ms: 3,
                });
                assert_eq!(
                    r,
                    Response::SubmitRejected {
                        reason: SubmitRejection::Duplicate { existing }
                    }
                );
            }
            for (key, array, existing) in [
                ("a", Some(4), arr),
                ("a", None, arr),
                ("s", Some(2), single),
            ] {
                let r = store.run(Request::Submit {
                    envelope: keyed(key, array),
                    now_ms: 3,
                });
                assert_eq!(
                    r,
                    Response::SubmitRejected {
                        reason: SubmitRejection::DedupKeyTaken {
                            existing,
                            differs: vec!["array".into()]
                        }
                    }
                );
            }
            assert_eq!(store.view.queued_count().unwrap(), 4);
        }
    }

    #[test]
    fn replay_within_one_batch_is_rejected() {
        let h = Harness::new();
        let e = h.envelope(0);
        let out = h.run_batch(vec![
            Request::Submit {
                envelope: e.clone(),
                now_ms: 1,
            },
            Request::Submit {
                envelope: e,
                now_ms: 2,
            },
        ]);
        assert_eq!(out[0], Response::Submitted { id: JobId(1) });
        assert!(matches!(out[1], Response::SubmitRejected { .. }));
    }

    #[test]
    fn batch_judges_each_envelope_in_order() {
        let h = Harness::new();
        let e1 = h.envelope(0);
        let e2 = h.envelope(3);
        let bad = SignedEnvelope {
            body: "{not json".into(),
            signature: String::new(),
        };
        let out = h.run(Request::SubmitBatch {
            envelopes: vec![e1.clone(), bad, e2, e1],
            now_ms: 7,
        });
        let Response::SubmittedBatch { results } = out else {
            panic!("unexpected {out:?}");
        };
        assert_eq!(results.len(), 4);
        assert_eq!(results[0], Ok(JobId(1)));
        assert!(matches!(results[1], Err(SubmitRejection::BadEnvelope(_))));
        assert_eq!(results[2], Ok(JobId(2)));
        assert_eq!(
            results[3],
            Err(SubmitRejection::ReplayedNonce { existing: JobId(1) })
        );
        assert_eq!(h.view.queued_count().unwrap(), 2);
        let rec = h.view.get_job(JobId(2)).unwrap().unwrap();
        assert_eq!(rec.submitted_at_ms, 7);
    }
}

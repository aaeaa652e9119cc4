//! The checker: reads a history and counts each invariant's violations.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::history::Event;

/// What the checker found; `ok` when every count is zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings {
    /// Submits acknowledged to a client.
    pub acked: usize,
    /// Acknowledged jobs the cluster does not know after healing.
    pub lost: usize,
    /// Jobs that ran twice where once was due: `overlaps` and
    /// `ran_after_completion` together.
    pub double_runs: usize,
    /// Jobs with two attempts alive at once.
    pub overlaps: usize,
    /// Jobs that started again after an attempt of theirs completed (the cluster
    /// recorded an attempt after the completed one, or a job's own start event
    /// carries a later attempt number).
    pub ran_after_completion: usize,
    /// Jobs from forged submissions that started.
    pub unsigned_ran: usize,
    /// Workload keys that became more than one job.
    pub duplicate_jobs: usize,
    /// Acknowledged jobs not finished when the run gave up waiting.
    pub unfinished_after_heal: usize,
    /// Seconds from healing to one leader and one membership on every node.
    pub converge_s: Option<f64>,
    /// Checks of the faults themselves that failed (see [`Event::Violation`]).
    pub fault_violations: usize,
    /// The longest a frozen attempt lived on after its node was thawed while a
    /// later attempt of its job ran (ms); within [`THAW_OVERLAP_MS`] it is not
    /// counted as an overlap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thaw_overlap_ms: Option<f64>,
    /// Attempts that ran to their end but that the cluster recorded as lost: late
    /// completions it refused (a frozen or stopped worker's).
    pub late_ends_refused: usize,
    pub ok: bool,
}

/// How long a frozen attempt may go on after its node thaws, before the node
/// sees that its lease ran out and kills it (CHAOS.md S5b).
pub const THAW_OVERLAP_MS: f64 = 100.0;

/// Healing must bring one leader and one membership within this many seconds.
pub const CONVERGE_WITHIN_S: f64 = 10.0;

#[derive(Default)]
struct Attempt {
    start: u64,
    last: u64,
    node: String,
    ended: bool,
}

pub fn check(events: &[Event]) -> Findings {
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut finals: HashMap<u64, String> = HashMap::new();
    // Per job, the attempt number that completed it.
    let mut completed_by: HashMap<u64, u32> = HashMap::new();
    let mut ran_again = BTreeSet::new();
    let mut attempts: BTreeMap<(u64, u32), Attempt> = BTreeMap::new();
    let mut jobs_of_key: HashMap<String, BTreeSet<u64>> = HashMap::new();
    let mut unsigned = BTreeSet::new();
    let mut converge_s = None;
    let mut violations = 0;
    let mut thaws: Vec<(u64, u64, &str)> = Vec::new();
    // Per job, which of its recorded attempts (1-based) the cluster called lost.
    let mut lost_attempts: BTreeSet<(u64, u32)> = BTreeSet::new();
    for e in events {
        match e {
            Event::Ack { key, id, .. } => {
                acked.insert(*id, key.clone());
                // A forged submission that a node accepted is a violation by itself.
                if key.starts_with("forged-") {
                    unsigned.insert(*id);
                }
                jobs_of_key.entry(key.clone()).or_default().insert(*id);
            }
            Event::Final {
                id,
                state,
                attempts,
            } => {
                finals.insert(*id, state.clone());
                for (k, a) in attempts.iter().enumerate() {
                    if a == "lost" {
                        lost_attempts.insert((*id, k as u32 + 1));
                    }
                }
                let done = attempts.iter().position(|a| a != "lost" && a != "running");
                if let Some(k) = done {
                    completed_by.insert(*id, k as u32 + 1);
                    if k + 1 < attempts.len() {
                        ran_again.insert(*id);
                    }
                }
            }
            Event::Start {
                t,
                job,
                attempt,
                key,
                node,
                ..
            } => {
                let a = attempts.entry((*job, *attempt)).or_default();
                a.start = *t;
                a.node = node.clone();
                a.last = a.last.max(*t);
                jobs_of_key.entry(key.clone()).or_default().insert(*job);
                if key.starts_with("forged-") {
                    unsigned.insert(*job);
                }
            }
            Event::Alive { t, job, attempt } => {
                let a = attempts.entry((*job, *attempt)).or_default();
                a.last = a.last.max(*t);
            }
            Event::End { t, job, attempt } => {
                let a = attempts.entry((*job, *attempt)).or_default();
                a.last = a.last.max(*t);
                a.ended = true;
            }
            Event::Converged { s } => converge_s = Some(*s),
            Event::Violation { .. } => violations += 1,
            Event::Thawed { t, from, node } => thaws.push((*from, *t, node)),
            _ => {}
        }
    }
    for (job, attempt) in attempts.keys() {
        if completed_by.get(job).is_some_and(|k| attempt > k) {
            ran_again.insert(*job);
        }
    }
    let late_ends = attempts
        .iter()
        .filter(|(k, a)| a.ended && lost_attempts.contains(k))
        .count();
    let mut overlaps = BTreeSet::new();
    let mut thaw_overlap_ms: Option<f64> = None;
    let mut by_job: BTreeMap<u64, Vec<&Attempt>> = BTreeMap::new();
    for ((job, _), a) in &attempts {
        by_job.entry(*job).or_default().push(a);
    }
    for (job, list) in by_job.iter_mut() {
        list.sort_by_key(|a| a.start);
        for w in list.windows(2) {
            // The earlier attempt showed life after the later one started.
            if w[0].last <= w[1].start {
                continue;
            }
            // Frozen while the later one started, and alive only just after the
            // thaw: the bounded overlap of S5b, reported rather than counted.
            let after_thaw = thaws.iter().find_map(|(from, to, node)| {
                (*node == w[0].node && w[0].start < *from && w[1].start < *to && w[0].last >= *to)
                    .then(|| (w[0].last - to) as f64 / 1e6)
            });
            match after_thaw {
                Some(ms) if ms <= THAW_OVERLAP_MS => {
                    thaw_overlap_ms = Some(thaw_overlap_ms.map_or(ms, |m| m.max(ms)));
                }
                _ => {
                    overlaps.insert(*job);
                }
            }
        }
    }
    let terminal = ["succeeded", "failed", "cancelled", "expired"];
    let lost = acked
        .keys()
        .filter(|id| finals.get(id).is_none_or(|s| s == "not_found"))
        .count();
    let unfinished = acked
        .keys()
        .filter(|id| {
            finals
                .get(id)
                .is_some_and(|s| s != "not_found" && !terminal.contains(&s.as_str()))
        })
        .count();
    let duplicate_jobs = jobs_of_key.values().filter(|ids| ids.len() > 1).count();
    let double = overlaps.union(&ran_again).count();
    let mut f = Findings {
        acked: acked.len(),
        lost,
        double_runs: double,
        overlaps: overlaps.len(),
        ran_after_completion: ran_again.len(),
        unsigned_ran: unsigned.len(),
        duplicate_jobs,
        unfinished_after_heal: unfinished,
        converge_s,
        fault_violations: violations,
        thaw_overlap_ms,
        late_ends_refused: late_ends,
        ok: false,
    };
    f.ok = f.lost == 0
        && f.fault_violations == 0
        && f.double_runs == 0
        && f.unsigned_ran == 0
        && f.duplicate_jobs == 0
        && f.unfinished_after_heal == 0
        && f.converge_s.is_some_and(|s| s <= CONVERGE_WITHIN_S);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(t: u64, job: u64, attempt: u32) -> Event {
        Event::Start {
            t,
            job,
            attempt,
            node: "n".into(),
            token: 1,
            key: format!("k{job}"),
        }
    }

    #[test]
    fn a_clean_history_passes_and_each_violation_is_counted() {
        let clean = vec![
            Event::Ack {
                t: 1,
                key: "k1".into(),
                id: 1,
            },
            start(10, 1, 1),
            Event::Alive {
                t: 20,
                job: 1,
                attempt: 1,
            },
            // attempt 1 died (no end); attempt 2 started after its last sign of life
            start(30, 1, 2),
            Event::End {
                t: 40,
                job: 1,
                attempt: 2,
            },
            Event::Final {
                id: 1,
                state: "succeeded".into(),
                attempts: vec!["lost".into(), "ok".into()],
            },
            Event::Converged { s: 1.5 },
        ];
        assert!(check(&clean).ok, "{:?}", check(&clean));

        let mut overlap = clean.clone();
        overlap.push(Event::Alive {
            t: 35,
            job: 1,
            attempt: 1,
        });
        assert_eq!(check(&overlap).double_runs, 1);

        let mut lost = clean.clone();
        lost.push(Event::Ack {
            t: 2,
            key: "k2".into(),
            id: 2,
        });
        assert_eq!(check(&lost).lost, 1);

        let mut unfinished = lost.clone();
        unfinished.push(Event::Final {
            id: 2,
            state: "queued".into(),
            attempts: vec![],
        });
        let f = check(&unfinished);
        assert_eq!((f.lost, f.unfinished_after_heal), (0, 1));

        let mut forged = clean.clone();
        forged.push(Event::Start {
            t: 5,
            job: 9,
            attempt: 1,
            node: "n".into(),
            token: 1,
            key: "forged-1".into(),
        });
        assert_eq!(check(&forged).unsigned_ran, 1);

        let mut dup = clean.clone();
        dup.push(Event::Ack {
            t: 3,
            key: "k1".into(),
            id: 3,
        });
        dup.push(Event::Final {
            id: 3,
            state: "succeeded".into(),
            attempts: vec!["ok".into()],
        });
        assert_eq!(check(&dup).duplicate_jobs, 1);

        // Attempt 2 completed the job; a third start is a second run of a done job.
        let mut again = clean.clone();
        again.push(start(50, 1, 3));
        let f = check(&again);
        assert_eq!(
            (f.ran_after_completion, f.double_runs, f.overlaps),
            (1, 1, 0)
        );
        // The cluster itself recording an attempt after the completed one.
        let mut recorded = clean.clone();
        recorded.push(Event::Final {
            id: 1,
            state: "succeeded".into(),
            attempts: vec!["ok".into(), "ok".into()],
        });
        assert_eq!(check(&recorded).ran_after_completion, 1);

        // Convergence slower than the bound, or never seen, fails the run.
        let mut slow = clean.clone();
        slow.push(Event::Converged { s: 12.0 });
        assert!(!check(&slow).ok);
        let never: Vec<Event> = clean
            .iter()
            .filter(|e| !matches!(e, Event::Converged { .. }))
            .cloned()
            .collect();
        assert!(!check(&never).ok);

        let mut violated = clean.clone();
        violated.push(Event::Violation {
            t: 60,
            what: "a wiped node started".into(),
        });
        let f = check(&violated);
        assert_eq!((f.fault_violations, f.ok), (1, false));
    }

    const MS: u64 = 1_000_000;

    /// Attempt 1 ran on node "n" frozen from 100 ms to 1 s; attempt 2 started at
    /// 500 ms elsewhere; attempt 1 was last alive `after` ms past the thaw.
    fn frozen(after: u64) -> Vec<Event> {
        vec![
            Event::Ack {
                t: 1,
                key: "k1".into(),
                id: 1,
            },
            start(10 * MS, 1, 1),
            Event::Start {
                t: 500 * MS,
                job: 1,
                attempt: 2,
                node: "m".into(),
                token: 2,
                key: "k1".into(),
            },
            Event::End {
                t: (1000 + after) * MS,
                job: 1,
                attempt: 1,
            },
            Event::Thawed {
                t: 1000 * MS,
                from: 100 * MS,
                node: "n".into(),
            },
            Event::End {
                t: 2000 * MS,
                job: 1,
                attempt: 2,
            },
            Event::Final {
                id: 1,
                state: "succeeded".into(),
                attempts: vec!["lost".into(), "ok".into()],
            },
            Event::Converged { s: 1.0 },
        ]
    }

    #[test]
    fn a_frozen_attempt_may_live_on_briefly_after_its_thaw_and_no_longer() {
        let f = check(&frozen(40));
        assert!(f.ok, "{f:?}");
        assert_eq!(f.thaw_overlap_ms, Some(40.0));
        // It ran to its end after the thaw; the cluster took the later attempt's.
        assert_eq!(f.late_ends_refused, 1);

        let f = check(&frozen(250));
        assert_eq!((f.overlaps, f.double_runs, f.ok), (1, 1, false), "{f:?}");

        // The same life after the thaw, on a node that was not frozen: an overlap.
        let mut elsewhere = frozen(40);
        if let Some(Event::Thawed { node, .. }) = elsewhere.get_mut(4) {
            *node = "x".into();
        }
        assert_eq!(check(&elsewhere).overlaps, 1);
    }
}

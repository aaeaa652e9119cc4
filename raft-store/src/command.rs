//! The raft application data: [`Request`]s the leader proposes and the [`Response`]s
//! the state machine returns when it applies them.

use serde::{Deserialize, Serialize};
use shoal_types::api::{CancelOutcome, ReleaseOutcome};
use shoal_types::{AttemptOutcome, FencingToken, JobId, NodeId, SignedEnvelope};

/// One state transition, as a raft log entry. Time comes from `now_ms`, stamped by
/// the leader, so applying is deterministic on every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Leader has already verified the signature. apply rejects a (submitter, nonce) seen before.
    /// An envelope whose spec has `array: N` makes N tasks; the answer is the first id.
    Submit {
        envelope: SignedEnvelope,
        now_ms: u64,
    },
    /// Many submissions in one entry: the API's group commit, and job arrays. Each
    /// envelope is judged exactly as a `Submit` would be, in order; one result each.
    SubmitBatch {
        envelopes: Vec<SignedEnvelope>,
        now_ms: u64,
    },
    /// Lease up to max_jobs queued jobs to `node`: highest priority first, FIFO (lowest JobId)
    /// among equals.
    Lease {
        node: NodeId,
        max_jobs: u32,
        now_ms: u64,
    },
    /// Processes that started on `node`: their jobs go from Leased to Running. A
    /// notice whose lease is no longer the job's open attempt there is ignored.
    Start {
        node: NodeId,
        starts: Vec<StartNotice>,
    },
    /// Results of finished attempts from one node; each carries the lease's token.
    Complete {
        node: NodeId,
        results: Vec<Completion>,
        now_ms: u64,
    },
    Cancel {
        ids: Vec<JobId>,
        now_ms: u64,
    },
    /// A drained node takes no new work (its running jobs finish); undrain reverses it.
    SetDrain {
        node: NodeId,
        drained: bool,
    },
    /// `node` leaves the cluster for good (`shoal node remove`): the leader takes it
    /// out of the membership, it may not join again and gets no more work.
    Retire {
        node: NodeId,
    },
    /// Held jobs become Queued (in their place by priority and id).
    Release {
        ids: Vec<JobId>,
    },
    /// Every job Running on `node` gets its attempt ended as Lost and goes back to Queued
    /// (keeps its place: same JobId ordering). With `leased_up_to`, only attempts whose
    /// lease (fencing token = log index) is at most that index: a leader that judged a
    /// worker silent must not take back a lease granted after it judged.
    RequeueNode {
        node: NodeId,
        now_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leased_up_to: Option<u64>,
    },
}

/// The result of one finished attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub job: JobId,
    pub token: FencingToken,
    pub outcome: AttemptOutcome,
}

/// One attempt's process started, at `at_ms` on its node's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartNotice {
    pub job: JobId,
    pub token: FencingToken,
    pub at_ms: u64,
}

/// Why a submission made no new job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SubmitRejection {
    /// This (submitter, nonce) was already submitted, as `existing`.
    ReplayedNonce { existing: JobId },
    /// The envelope body does not parse.
    BadEnvelope(String),
    /// Its dedup key was used by `existing`, a job with the same spec: that job is
    /// the answer (a retry, or the same submit from elsewhere).
    Duplicate { existing: JobId },
    /// Its entry already made as many jobs as one entry may (`limits::MAX_TASKS`):
    /// it was not applied and may be submitted again (the submit batcher closes
    /// batches before this, so only a rogue proposer meets it).
    EntryFull { limit: u64 },
    /// Its dedup key was used by `existing`, a job whose spec differs in the
    /// `differs` fields: its id would mislead.
    DedupKeyTaken {
        existing: JobId,
        #[serde(default)]
        differs: Vec<String>,
    },
}

/// A job handed to a worker by a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeasedJob {
    pub id: JobId,
    pub attempt: u32,
    pub token: FencingToken,
    pub envelope: SignedEnvelope,
    /// For a task of a job array: its index (`SHOAL_ARRAY_INDEX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_index: Option<u32>,
}

/// What applying one entry produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Submitted {
        id: JobId,
    },
    SubmitRejected {
        reason: SubmitRejection,
    },
    /// One result per envelope of a `SubmitBatch`, in order.
    SubmittedBatch {
        results: Vec<Result<JobId, SubmitRejection>>,
    },
    Leased {
        jobs: Vec<LeasedJob>,
    },
    /// The jobs a `Start` moved to Running.
    Started {
        accepted: Vec<JobId>,
    },
    Completed {
        accepted: Vec<JobId>,
        stale: Vec<JobId>,
    },
    Cancelled {
        results: Vec<(JobId, CancelOutcome)>,
    },
    Released {
        results: Vec<(JobId, ReleaseOutcome)>,
    },
    /// `changed` is false if the node already was in that state.
    DrainSet {
        changed: bool,
    },
    /// `changed` is false if the node was retired already.
    Retired {
        changed: bool,
    },
    Requeued {
        ids: Vec<JobId>,
    },
    /// The entry was over the bounds of one entry (`limits`); nothing of it was
    /// applied.
    Refused {
        reason: crate::limits::Oversize,
    },
    /// Blank and membership entries.
    None,
}

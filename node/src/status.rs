//! What the worker tells the rest of the node about itself (slot usage), shared by
//! the API and the adverts without either importing the worker.

/// Slot usage and what became of its reports, published by the worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    pub slots: u32,
    pub running: u32,
    /// Completions the leader refused since start because the lease was no longer
    /// this node's (the job was re-queued while this node was cut off or frozen).
    pub completions_refused: u64,
}

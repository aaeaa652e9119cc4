//! What the worker tells the rest of the node about itself (slot usage), shared by
//! the API and the adverts without either importing the worker.

/// Slot usage, published by the worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    pub slots: u32,
    pub running: u32,
}

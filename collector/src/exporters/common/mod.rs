//! Placeholder until the shared settings land.

/// `retry_on_failure` (placeholder).
#[derive(Debug, Clone)]
pub struct RetrySettings {}
/// `sending_queue` (placeholder).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Whether batches are queued.
    pub enabled: bool,
    /// Consumers.
    pub num_consumers: usize,
    /// Capacity in batches.
    pub queue_size: usize,
    /// Storage extension id.
    pub storage: Option<String>,
}

impl RetrySettings {
    /// Backoff (placeholder).
    pub fn backoff(&self) -> Backoff {
        Backoff
    }
}

/// Backoff (placeholder).
pub struct Backoff;

impl Backoff {
    /// Next delay (placeholder).
    pub fn next_delay(&mut self, _hint: Option<std::time::Duration>) -> Option<std::time::Duration> {
        None
    }
}

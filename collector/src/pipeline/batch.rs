//! Placeholder until the batcher lands.

use std::sync::Arc;

use super::{Batch, BoxFuture, Refused, Signal};
use crate::processors::batch::Settings;

/// Where flushed groups go.
pub type Downstream = Arc<dyn Fn(Batch) -> BoxFuture<'static, Result<(), Refused>> + Send + Sync>;

/// Batcher (placeholder: passes through).
pub struct Batcher {
    downstream: Downstream,
}

impl Batcher {
    /// Build.
    pub fn new(_settings: Settings, _signal: Signal, downstream: Downstream) -> Batcher {
        Batcher { downstream }
    }

    /// Submit.
    pub async fn submit(&self, batch: Batch) -> Result<(), Refused> {
        (self.downstream)(batch).await
    }

    /// Flush.
    pub async fn shutdown(&self) {}
}

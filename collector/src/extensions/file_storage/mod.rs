//! Placeholder until the component lands: accepts only an empty configuration.

use serde::Deserialize;

/// Configuration (placeholder).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Validated settings (placeholder).
#[derive(Debug, Clone)]
pub struct Settings {}

impl Config {
    /// Validate.
    pub fn validate(&self) -> Result<Settings, String> {
        Err("not implemented yet".into())
    }
}


/// Queue (placeholder).
pub struct FileQueue;

/// What start-up found (placeholder).
#[derive(Debug)]
pub struct Recovery {}

impl FileQueue {
    /// Open (placeholder).
    pub fn open(
        _settings: &Settings,
        _name: &str,
        _capacity: usize,
    ) -> Result<(FileQueue, Recovery), crate::pipeline::QueueError> {
        Err(crate::pipeline::QueueError::Closed)
    }
}

impl crate::pipeline::Queue for FileQueue {
    fn try_reserve(&self) -> Option<crate::pipeline::Permit> {
        None
    }
    fn push(
        &self,
        _permit: crate::pipeline::Permit,
        _batch: crate::pipeline::Batch,
    ) -> crate::pipeline::BoxFuture<'_, Result<(), crate::pipeline::QueueError>> {
        Box::pin(async { Err(crate::pipeline::QueueError::Closed) })
    }
    fn pop(&self) -> crate::pipeline::BoxFuture<'_, Option<crate::pipeline::Delivery>> {
        Box::pin(async { None })
    }
    fn ack(&self, _delivery: crate::pipeline::Delivery) {}
    fn len(&self) -> usize {
        0
    }
    fn capacity(&self) -> usize {
        0
    }
    fn close(&self) {}
}

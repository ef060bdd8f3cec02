//! Placeholder until the component lands: accepts only an empty configuration.

use serde::Deserialize;

/// Configuration (placeholder).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Validated settings (placeholder).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Retry.
    pub retry: crate::exporters::common::RetrySettings,
    /// Queue.
    pub queue: crate::exporters::common::QueueSettings,
}

impl Config {
    /// Validate.
    pub fn validate(&self) -> Result<Settings, String> {
        Err("not implemented yet".into())
    }
}


/// Sender (placeholder).
pub struct GrpcSender;

impl GrpcSender {
    /// Build (placeholder).
    pub fn new(_settings: &Settings) -> Result<GrpcSender, String> {
        Err("not implemented yet".into())
    }
}

impl crate::pipeline::Sender for GrpcSender {
    fn send<'a>(
        &'a self,
        _batch: &'a crate::pipeline::Batch,
    ) -> crate::pipeline::BoxFuture<'a, crate::pipeline::Outcome> {
        Box::pin(async {
            crate::pipeline::Outcome::Permanent {
                reason: "not implemented".into(),
            }
        })
    }
}

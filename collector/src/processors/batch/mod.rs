//! The `batch` processor: groups a pipeline's batches into fewer, larger requests.
//!
//! Exporters send fewer, larger requests more cheaply, and upstreams prefer them. The batching
//! itself (groups, triggers, acknowledgements) is [`crate::pipeline::batch::Batcher`], one per
//! pipeline and signal; this folder holds its configuration ([`Config`], the OpenTelemetry
//! Collector's keys) and the cutting of groups over `send_batch_max_size` (`split`). It
//! works on encoded batches and decodes nothing unless a single resource holds more items than
//! `send_batch_max_size`.

mod config;
pub(crate) mod split;
#[cfg(test)]
mod tests;

pub use config::{Config, DEFAULT_SEND_BATCH_SIZE, DEFAULT_TIMEOUT, Settings};

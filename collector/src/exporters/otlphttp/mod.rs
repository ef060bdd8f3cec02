//! The `otlphttp` exporter: forwards batches of all three signals to an OTLP/HTTP endpoint as
//! binary protobuf.
//!
//! [`Config`] holds the OpenTelemetry Collector's keys, [`Settings`] their validated form, and
//! [`HttpSender`] makes one `POST` per call, as the [`crate::pipeline::Sender`] contract says;
//! the queue, its consumers and the retry loop around it are the pipeline's. Batches are posted
//! as the bytes they arrived as, never decoded and re-encoded. See
//! <https://github.com/open-telemetry/opentelemetry-proto/blob/main/docs/specification.md#otlphttp>.

mod config;
pub(crate) mod sender;
#[cfg(test)]
mod tests;

pub use config::{Config, Settings};
pub use sender::HttpSender;

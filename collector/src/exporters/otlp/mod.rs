//! The `otlp` exporter: forwards batches of all three signals to an OTLP/gRPC endpoint.
//!
//! [`Config`] holds the OpenTelemetry Collector's keys, [`Settings`] their validated form, and
//! [`GrpcSender`] makes one attempt per call, as the [`crate::pipeline::Sender`] contract says;
//! the queue, its consumers and the retry loop around it are the pipeline's. Batches are sent as
//! the bytes they arrived as, never decoded and re-encoded. See
//! <https://github.com/open-telemetry/opentelemetry-proto/blob/main/docs/specification.md#otlpgrpc>.

mod config;
mod sender;
#[cfg(test)]
mod tests;

pub use config::{Config, Settings};
pub use sender::GrpcSender;

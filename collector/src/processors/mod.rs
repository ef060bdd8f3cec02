//! Processors: steps a pipeline runs over each batch between its receivers and its exporters.
//!
//! Three kinds exist. `memory_limiter` refuses batches while memory is above its limit. A [`Transform`] (`resource`, `attributes`, `filter`) changes decoded OTLP
//! messages in place; the pipeline decodes a batch for the first transform, runs every
//! transform in order, and encodes it once at the end. The `batch` processor is not a
//! transform: it groups encoded batches (see `crate::pipeline::batch`), never decoding them.
//!
//! Each processor is a folder with its configuration (`config.rs`: the serde mirror of the
//! OpenTelemetry Collector's keys, rejecting unknown ones, validated into typed values) and its
//! logic and tests.

pub mod attributes;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod resource;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::pipeline::Signal;

/// A decoded export request of one signal.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
    /// Traces.
    Traces(ExportTraceServiceRequest),
    /// Logs.
    Logs(ExportLogsServiceRequest),
}

impl Request {
    /// Its signal.
    pub fn signal(&self) -> Signal {
        match self {
            Request::Metrics(_) => Signal::Metrics,
            Request::Traces(_) => Signal::Traces,
            Request::Logs(_) => Signal::Logs,
        }
    }
}

/// A processor that changes decoded requests in place.
///
/// Contract: `process` never panics on any input, keeps every item it does not mean to drop,
/// and returns how many items it dropped on purpose (the filter processor; 0 for the others),
/// which the pipeline counts as filtered, not refused. A transform that has nothing to do for a
/// signal leaves the request untouched.
pub trait Transform: Send + Sync + 'static {
    /// Change `request` in place; the number of items dropped on purpose.
    fn process(&self, request: &mut Request) -> u64;

    /// Whether it can change a request of `signal` at all. A pipeline leaves out a stage that
    /// cannot, so the batch is not decoded and re-encoded for nothing.
    fn changes(&self, _signal: Signal) -> bool {
        true
    }
}

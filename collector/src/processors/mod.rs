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

use std::sync::atomic::{AtomicU64, Ordering};

use crate::pipeline::Signal;

/// Items into and out of one processor, per signal ([`Signal::index`]), for the collector's
/// self-telemetry (`otelcol_processor_incoming_items`, `otelcol_processor_outgoing_items`).
/// A processor listed by several pipelines counts them all together. Items a processor
/// refuses (the memory limiter) or filters out come in and do not go out.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    incoming: [AtomicU64; 3],
    outgoing: [AtomicU64; 3],
}

impl ProcessorStats {
    /// `n` items of `signal` came in.
    pub fn came_in(&self, signal: Signal, n: u64) {
        self.incoming[signal.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// `n` items of `signal` went on.
    pub fn went_out(&self, signal: Signal, n: u64) {
        self.outgoing[signal.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Items of `signal` in so far.
    pub fn incoming(&self, signal: Signal) -> u64 {
        self.incoming[signal.index()].load(Ordering::Relaxed)
    }

    /// Items of `signal` out so far.
    pub fn outgoing(&self, signal: Signal) -> u64 {
        self.outgoing[signal.index()].load(Ordering::Relaxed)
    }
}

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

//! OTLP receivers: gRPC ([`grpc`]) and HTTP ([`http`]) framing around one
//! decode → validate → ingest path ([`Pipeline`]).
//!
//! Protocol: <https://opentelemetry.io/docs/specs/otlp/>. Metrics go into the
//! store; a request with some bad points gets a `partial_success` naming how
//! many were rejected and why, and the good points in it are kept. Trace and
//! log exports are accepted and counted (forwarding them is a later stage),
//! never answered UNIMPLEMENTED, so an SDK exporting all signals to Vigil does
//! not log errors.
//!
//! Receivers bind first ([`bind`]) and serve second, so tests can bind
//! `127.0.0.1:0` and read the port, and readiness is reported only once a
//! socket is listening.

pub mod grpc;
pub mod http;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;

use crate::store::{Store, otlp};

/// Receiver errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("OTLP/gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
}

/// Bind a TCP listener, with the address in the error.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Counters of the receivers (the collector's own telemetry).
#[derive(Debug, Default)]
pub struct Counters {
    /// Metric data points accepted.
    pub accepted_points: AtomicU64,
    /// Metric data points refused.
    pub refused_points: AtomicU64,
    /// Spans received (accepted, not yet forwarded).
    pub spans: AtomicU64,
    /// Log records received (accepted, not yet forwarded).
    pub log_records: AtomicU64,
    /// Requests refused outright (malformed, too large, wrong media type).
    pub bad_requests: AtomicU64,
}

/// Readiness of the receivers: set once each bound receiver is serving.
#[derive(Debug, Default)]
pub struct Readiness {
    /// gRPC receiver serving (or disabled).
    pub grpc: AtomicBool,
    /// HTTP receiver serving (or disabled).
    pub http: AtomicBool,
}

impl Readiness {
    /// Both receivers are serving.
    pub fn ready(&self) -> bool {
        self.grpc.load(Ordering::Acquire) && self.http.load(Ordering::Acquire)
    }
}

/// The shared decode → validate → ingest path.
#[derive(Clone)]
pub struct Pipeline {
    /// The store points go to.
    pub store: Arc<Store>,
    /// Receiver counters.
    pub counters: Arc<Counters>,
}

/// One OTLP signal: its request and response types and what to do with a request.
pub trait Signal: Send + Sync + 'static {
    /// The export request.
    type Request: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static;
    /// The export response.
    type Response: prost::Message + Default + serde::Serialize + Send + 'static;
    /// HTTP path of the signal.
    const PATH: &'static str;
    /// Handle a decoded request.
    fn handle(pipeline: &Pipeline, req: Self::Request) -> Self::Response;
    /// Decode an OTLP/JSON body. Plain serde unless the generated serde code
    /// can lose data without an error (see [`Metrics`]).
    fn decode_json(body: &[u8]) -> Result<Self::Request, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// Metrics.
pub struct Metrics;
/// Traces.
pub struct Traces;
/// Logs.
pub struct Logs;

impl Signal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const PATH: &'static str = "/v1/metrics";
    fn handle(pipeline: &Pipeline, req: Self::Request) -> Self::Response {
        let report = otlp::ingest_request(&pipeline.store, &req);
        pipeline
            .counters
            .accepted_points
            .fetch_add(report.accepted, Ordering::Relaxed);
        pipeline
            .counters
            .refused_points
            .fetch_add(report.rejected, Ordering::Relaxed);
        let partial_success = (report.rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: report.rejected as i64,
            error_message: report.partial_success_message(),
        });
        ExportMetricsServiceResponse { partial_success }
    }
    fn decode_json(body: &[u8]) -> Result<Self::Request, serde_json::Error> {
        http::decode_metrics_json(body)
    }
}

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const PATH: &'static str = "/v1/traces";
    fn handle(pipeline: &Pipeline, req: Self::Request) -> Self::Response {
        let spans: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        pipeline
            .counters
            .spans
            .fetch_add(spans as u64, Ordering::Relaxed);
        ExportTraceServiceResponse {
            partial_success: None::<ExportTracePartialSuccess>,
        }
    }
}

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const PATH: &'static str = "/v1/logs";
    fn handle(pipeline: &Pipeline, req: Self::Request) -> Self::Response {
        let records: usize = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        pipeline
            .counters
            .log_records
            .fetch_add(records as u64, Ordering::Relaxed);
        ExportLogsServiceResponse {
            partial_success: None::<ExportLogsPartialSuccess>,
        }
    }
}

//! OTLP receivers: gRPC ([`grpc`]) and HTTP ([`http`]) framing around one path into the
//! pipelines ([`Pipeline`]).
//!
//! Protocol: <https://opentelemetry.io/docs/specs/otlp/>. A request becomes [`Work`]: protobuf
//! bytes as received (checked and counted by `pipeline::scan`, not decoded) or, for OTLP/JSON,
//! the decoded messages. It goes through every pipeline that lists the receiver, and only then
//! is the sender answered: success (with a `partial_success` naming the points the store
//! rejected), `UNAVAILABLE` / HTTP 503 with a retry delay when a queue is full, or
//! `INVALID_ARGUMENT` / HTTP 400 for data nobody can take. A signal no pipeline takes is
//! answered with success, counted as dropped, and was announced in the log at start-up.
//!
//! Receivers bind first ([`bind`]) and serve second, so tests can bind
//! `127.0.0.1:0` and read the port, and readiness is reported only once a
//! socket is listening.

#[cfg(test)]
mod backpressure;
pub mod config;
pub mod grpc;
pub mod http;
mod json_numbers;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::exporters::prometheus::tenants::Tenants;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

use crate::pipeline::graph::{self, Target};
use crate::pipeline::{self, Accepted, Entry, Refused, Work};
use crate::processors::Request;
use crate::store::Store;

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

/// Counters of one signal at the receivers (the collector's own telemetry).
#[derive(Debug, Default)]
pub struct SignalCounters {
    /// Items acknowledged to senders.
    pub accepted: AtomicU64,
    /// Items refused (the sender was told to retry, or that they are invalid), or rejected
    /// in a `partial_success`.
    pub refused: AtomicU64,
    /// Items acknowledged but taken by no pipeline (the log said so at start-up).
    pub dropped: AtomicU64,
}

/// Counters of the receivers (the collector's own telemetry).
#[derive(Debug, Default)]
pub struct Counters {
    /// Metric data points.
    pub metrics: SignalCounters,
    /// Spans.
    pub traces: SignalCounters,
    /// Log records.
    pub logs: SignalCounters,
    /// Requests refused outright (malformed, too large, wrong media type).
    pub bad_requests: AtomicU64,
    /// Warnings about refusals, at most one per cause a minute.
    pub warnings: crate::telemetry::LogLimit,
}

/// One receiver's counters, per transport (the `transport` label of the self-telemetry).
#[derive(Debug, Clone, Default)]
pub struct ReceiverCounters {
    /// OTLP/gRPC.
    pub grpc: Arc<Counters>,
    /// OTLP/HTTP.
    pub http: Arc<Counters>,
}

impl ReceiverCounters {
    /// Both transports' figures added up (a copy).
    pub fn total(&self) -> Counters {
        let total = Counters::default();
        for c in [&self.grpc, &self.http] {
            for signal in pipeline::Signal::ALL {
                let (from, to) = (c.signal(signal), total.signal(signal));
                for (f, t) in [
                    (&from.accepted, &to.accepted),
                    (&from.refused, &to.refused),
                    (&from.dropped, &to.dropped),
                ] {
                    t.fetch_add(f.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
            total
                .bad_requests
                .fetch_add(c.bad_requests.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        total
    }
}

impl Counters {
    /// Logs a refused request: at debug always, at warn once a minute per cause.
    pub fn log_refusal(&self, signal: pipeline::Signal, items: u64, reason: &str) {
        let cause = crate::telemetry::log_limit::cause(reason);
        if self.warnings.allow(cause) {
            tracing::warn!(
                signal = %signal,
                items,
                "refused: {reason} (this cause is logged at warn at most once a minute, \
                 every time at debug)"
            );
        } else {
            tracing::debug!(signal = %signal, items, "refused: {reason}");
        }
    }

    /// The counters of `signal`.
    pub fn signal(&self, signal: pipeline::Signal) -> &SignalCounters {
        match signal {
            pipeline::Signal::Metrics => &self.metrics,
            pipeline::Signal::Traces => &self.traces,
            pipeline::Signal::Logs => &self.logs,
        }
    }
}

/// Readiness: set once every receiver is serving.
#[derive(Debug, Default)]
pub struct Readiness {
    pending: AtomicUsize,
}

impl Readiness {
    /// Readiness waiting for `n` servers to call [`Readiness::serving`].
    pub fn waiting_for(n: usize) -> Readiness {
        Readiness {
            pending: AtomicUsize::new(n),
        }
    }

    /// One server is serving.
    pub fn serving(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Every server is serving.
    pub fn ready(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }
}

/// What a receiver feeds: the pipelines that list it, and its counters.
#[derive(Clone)]
pub struct Pipeline {
    /// The pipelines, per signal.
    pub entry: Arc<Entry>,
    /// Receiver counters.
    pub counters: Arc<Counters>,
}

impl Pipeline {
    /// A receiver whose metrics go straight into `store` and nothing else: the zero-config
    /// pipeline, for tests and embedding.
    pub fn to_store(store: Arc<Store>) -> Pipeline {
        let mut entry = Entry::default();
        let target = Arc::new(Target::Store {
            id: "prometheus".into(),
            tenants: Arc::new(Tenants::single(store)),
        });
        entry.add(
            pipeline::Signal::Metrics,
            graph::fanout("metrics".into(), vec![target]),
            false,
        );
        Pipeline {
            entry: Arc::new(entry),
            counters: Arc::new(Counters::default()),
        }
    }

    /// Checks and counts a protobuf request as received: decoded when a pipeline needs the
    /// messages at once (the bytes ride along for exporters that forward them), else only
    /// scanned. Either way it is validated exactly as prost decodes; the error says where not.
    pub fn receive(&self, signal: pipeline::Signal, body: bytes::Bytes) -> Result<Work, String> {
        if self.entry.decodes(signal) {
            let request =
                pipeline::work::decode(signal, body.clone()).map_err(|e| e.to_string())?;
            Ok(Work::received(body, request))
        } else {
            let scanned = pipeline::scan::scan(signal, &body).map_err(|e| e.to_string())?;
            Ok(Work::encoded(pipeline::Batch {
                signal,
                body,
                items: scanned.items,
                tenant: None,
            }))
        }
    }

    /// Runs `work` through the pipelines and counts the outcome.
    pub async fn consume(&self, work: Work) -> Result<Accepted, Refused> {
        let signal = work.signal();
        let items = work.items;
        let counters = self.counters.signal(signal);
        if !self.entry.handles(signal) {
            counters.accepted.fetch_add(items, Ordering::Relaxed);
            counters.dropped.fetch_add(items, Ordering::Relaxed);
            return Ok(Accepted::default());
        }
        match self.entry.consume(work).await {
            Ok(accepted) => {
                counters
                    .accepted
                    .fetch_add(items.saturating_sub(accepted.rejected), Ordering::Relaxed);
                counters
                    .refused
                    .fetch_add(accepted.rejected, Ordering::Relaxed);
                if accepted.rejected > 0 {
                    let reason = accepted.message.as_deref().unwrap_or("rejected points");
                    self.counters.log_refusal(signal, accepted.rejected, reason);
                }
                Ok(accepted)
            }
            Err(refused) => {
                counters.refused.fetch_add(items, Ordering::Relaxed);
                self.counters.log_refusal(signal, items, &refused.reason);
                Err(refused)
            }
        }
    }
}

/// One OTLP signal: its request and response types.
pub trait Signal: Send + Sync + 'static {
    /// The export request.
    type Request: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static;
    /// The export response.
    type Response: prost::Message + Default + serde::Serialize + Send + 'static;
    /// Which signal.
    const SIGNAL: pipeline::Signal;
    /// HTTP path of the signal.
    const PATH: &'static str;
    /// The request as a pipeline request.
    fn into_request(req: Self::Request) -> Request;
    /// The success answer.
    fn response(accepted: Accepted) -> Self::Response;
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
    const SIGNAL: pipeline::Signal = pipeline::Signal::Metrics;
    const PATH: &'static str = "/v1/metrics";
    fn into_request(req: Self::Request) -> Request {
        Request::Metrics(req)
    }
    fn response(accepted: Accepted) -> Self::Response {
        let partial_success = (accepted.rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(accepted.rejected).unwrap_or(i64::MAX),
            error_message: accepted.message.unwrap_or_default(),
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
    const SIGNAL: pipeline::Signal = pipeline::Signal::Traces;
    const PATH: &'static str = "/v1/traces";
    fn into_request(req: Self::Request) -> Request {
        Request::Traces(req)
    }
    fn response(accepted: Accepted) -> Self::Response {
        let partial_success = (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(accepted.rejected).unwrap_or(i64::MAX),
            error_message: accepted.message.unwrap_or_default(),
        });
        ExportTraceServiceResponse { partial_success }
    }
}

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const SIGNAL: pipeline::Signal = pipeline::Signal::Logs;
    const PATH: &'static str = "/v1/logs";
    fn into_request(req: Self::Request) -> Request {
        Request::Logs(req)
    }
    fn response(accepted: Accepted) -> Self::Response {
        let partial_success = (accepted.rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(accepted.rejected).unwrap_or(i64::MAX),
            error_message: accepted.message.unwrap_or_default(),
        });
        ExportLogsServiceResponse { partial_success }
    }
}

//! `vigil-load sink`: an OTLP endpoint that accepts metrics, traces and logs
//! over gRPC and HTTP, and optionally Prometheus remote-write (1.0 and 2.0,
//! `--remote-write ADDR`), counts what arrived, and serves the counts as JSON
//! on `GET /count`.
//!
//! It is the far end of every forwarding benchmark (a collector under test
//! exports to it) and of the retry tests: `--fail-first N` answers the first
//! N requests with a chosen error, with `Retry-After` / `RetryInfo` when
//! `--retry-after` is given. It stores nothing. Counting decodes each
//! request fully (so a malformed forward is caught); `--no-decode` counts
//! requests and bytes only, for when the sink's own CPU matters.
//! OTLP: <https://opentelemetry.io/docs/specs/otlp/>.

mod otlp_grpc;
mod otlp_http;
mod remote_write;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::net::TcpListener;

/// What the sink answers to the requests it is told to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailStatus {
    /// gRPC `UNAVAILABLE`, HTTP 503 (retryable).
    Unavailable,
    /// HTTP 429, gRPC `RESOURCE_EXHAUSTED` (retryable with throttling).
    TooManyRequests,
    /// HTTP 400, gRPC `INVALID_ARGUMENT` (not retryable).
    BadRequest,
}

impl FailStatus {
    /// Parses `unavailable`, `503`, `429` or `400`.
    pub fn parse(s: &str) -> Result<FailStatus, String> {
        match s {
            "unavailable" | "503" => Ok(FailStatus::Unavailable),
            "429" => Ok(FailStatus::TooManyRequests),
            "400" => Ok(FailStatus::BadRequest),
            _ => Err(format!("expected unavailable, 503, 429 or 400, got {s:?}")),
        }
    }
}

/// Everything a sink run needs, validated.
#[derive(Clone, Debug)]
pub struct Options {
    /// OTLP/gRPC listen address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP listen address.
    pub http: SocketAddr,
    /// `GET /count` listen address.
    pub admin: SocketAddr,
    /// Prometheus remote-write listen address (`POST /api/v1/write`), if any.
    pub remote_write: Option<SocketAddr>,
    /// Count requests and bytes only.
    pub no_decode: bool,
    /// Answer this many first requests with `fail_status`.
    pub fail_first: u64,
    /// The error for those requests.
    pub fail_status: FailStatus,
    /// Retry hint sent with those errors.
    pub retry_after: Option<Duration>,
}

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignalKind {
    Metrics = 0,
    Traces = 1,
    Logs = 2,
}

/// One OTLP signal: its gRPC service name and how to count its items.
trait Signal: Send + Sync + 'static {
    const GRPC_SERVICE: &'static str;
    const KIND: SignalKind;
    fn count_protobuf(body: &[u8]) -> Result<u64, String>;
    fn count_json(body: &[u8]) -> Result<u64, String>;
}

struct Metrics;
struct Traces;
struct Logs;

impl Signal for Metrics {
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const KIND: SignalKind = SignalKind::Metrics;
    fn count_protobuf(body: &[u8]) -> Result<u64, String> {
        let r = ExportMetricsServiceRequest::decode(body).map_err(|e| e.to_string())?;
        Ok(crate::generate::count_points(&r) as u64)
    }
    fn count_json(body: &[u8]) -> Result<u64, String> {
        let r: ExportMetricsServiceRequest =
            serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(crate::generate::count_points(&r) as u64)
    }
}

impl Signal for Traces {
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const KIND: SignalKind = SignalKind::Traces;
    fn count_protobuf(body: &[u8]) -> Result<u64, String> {
        let r = ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())?;
        Ok(spans(&r))
    }
    fn count_json(body: &[u8]) -> Result<u64, String> {
        let r: ExportTraceServiceRequest =
            serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(spans(&r))
    }
}

impl Signal for Logs {
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const KIND: SignalKind = SignalKind::Logs;
    fn count_protobuf(body: &[u8]) -> Result<u64, String> {
        let r = ExportLogsServiceRequest::decode(body).map_err(|e| e.to_string())?;
        Ok(log_records(&r))
    }
    fn count_json(body: &[u8]) -> Result<u64, String> {
        let r: ExportLogsServiceRequest =
            serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(log_records(&r))
    }
}

fn spans(r: &ExportTraceServiceRequest) -> u64 {
    let n: usize = r
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    n as u64
}

fn log_records(r: &ExportLogsServiceRequest) -> u64 {
    let n: usize = r
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum();
    n as u64
}

/// Why a request was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// One of the first `--fail-first` requests.
    Injected(FailStatus),
    /// The body did not decode as the signal's request.
    Malformed(String),
}

/// Counters and the failure budget, shared by both servers and the admin endpoint.
#[derive(Debug, Default)]
struct State {
    no_decode: bool,
    fail_remaining: AtomicU64,
    fail_status: Option<FailStatus>,
    retry_after: Option<Duration>,
    requests: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    decode_errors: AtomicU64,
    /// Per signal: requests accepted, items (points, spans, log records) counted.
    signal_requests: [AtomicU64; 3],
    signal_items: [AtomicU64; 3],
    /// Prometheus remote-write, per message version.
    remote_write: remote_write::Counts,
}

impl State {
    /// Counts a request and spends one of the `--fail-first` budget: `Err` when
    /// this request is one of those to fail.
    fn admit(&self) -> Result<(), Refusal> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let injected = self
            .fail_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if let (true, Some(status)) = (injected, self.fail_status) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Injected(status));
        }
        Ok(())
    }

    /// Counts one request whose decompressed message is `body`.
    fn accept<S: Signal>(&self, body: &[u8], json: bool) -> Result<(), Refusal> {
        self.admit()?;
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let kind = S::KIND as usize;
        if !self.no_decode {
            let counted = if json {
                S::count_json(body)
            } else {
                S::count_protobuf(body)
            };
            match counted {
                Ok(n) => {
                    self.signal_items[kind].fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    self.decode_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::Malformed(e));
                }
            }
        }
        self.signal_requests[kind].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The `GET /count` document.
    fn counts(&self) -> serde_json::Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let signal = |k: SignalKind, items: &str| {
            serde_json::json!({
                "requests": get(&self.signal_requests[k as usize]),
                items: get(&self.signal_items[k as usize]),
            })
        };
        serde_json::json!({
            "requests": get(&self.requests),
            "bytes": get(&self.bytes),
            "failed": get(&self.failed),
            "decode_errors": get(&self.decode_errors),
            "decoded": !self.no_decode,
            "metrics": signal(SignalKind::Metrics, "points"),
            "traces": signal(SignalKind::Traces, "spans"),
            "logs": signal(SignalKind::Logs, "log_records"),
            "remote_write": self.remote_write.json(),
        })
    }
}

/// Binds, prints the bound addresses as one JSON line on stdout, and serves until
/// Ctrl-C or SIGTERM.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let state = Arc::new(State {
        no_decode: opts.no_decode,
        fail_remaining: AtomicU64::new(opts.fail_first),
        fail_status: Some(opts.fail_status),
        retry_after: opts.retry_after,
        ..State::default()
    });
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for {what} on {addr}"))
    };
    let grpc_listener = bind(opts.grpc, "OTLP/gRPC").await?;
    let http_listener = bind(opts.http, "OTLP/HTTP").await?;
    let admin_listener = bind(opts.admin, "the admin endpoint").await?;
    let remote_write_listener = match opts.remote_write {
        Some(addr) => Some(bind(addr, "Prometheus remote-write").await?),
        None => None,
    };
    let mut line = serde_json::json!({
        "grpc": grpc_listener.local_addr()?.to_string(),
        "http": http_listener.local_addr()?.to_string(),
        "admin": admin_listener.local_addr()?.to_string(),
    });
    if let Some(l) = &remote_write_listener {
        line["remote_write"] = format!("http://{}{}", l.local_addr()?, remote_write::PATH).into();
    }
    println!("{line}");

    let admin_state = state.clone();
    let admin = axum::Router::new().route(
        "/count",
        get(move || {
            let state = admin_state.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    state.counts().to_string(),
                )
            }
        }),
    );
    let remote_write_state = state.clone();
    let remote_write = async move {
        match remote_write_listener {
            Some(l) => axum::serve(l, remote_write::router(remote_write_state)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = otlp_grpc::serve(grpc_listener, state.clone()) => r.context("OTLP/gRPC server")?,
        r = axum::serve(http_listener, otlp_http::router(state)) => r.context("OTLP/HTTP server")?,
        r = remote_write => r.context("remote-write server")?,
        r = axum::serve(admin_listener, admin) => r.context("admin server")?,
        () = shutdown_signal() => eprintln!("vigil-load sink: shutting down"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

// === google.rpc error details (https://github.com/googleapis/googleapis/blob/master/google/rpc/) ===

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// A `google.rpc.Status` for `code`, carrying `RetryInfo` when a delay is given.
fn rpc_status(code: tonic::Code, message: &str, retry_after: Option<Duration>) -> RpcStatus {
    let details = retry_after
        .map(|d| ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    nanos: d.subsec_nanos() as i32,
                }),
            }
            .encode_to_vec(),
        })
        .into_iter()
        .collect();
    RpcStatus {
        code: code as i32,
        message: message.into(),
        details,
    }
}

#[cfg(test)]
mod tests;

//! The otlp exporter against a real tonic upstream on loopback: bytes, compression, metadata,
//! every classification, TLS, and the configuration keys.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use super::*;
use crate::exporters::common::testing::{self, SERVER_NAME, TestPki};
use crate::exporters::common::{Compression, wire};
use crate::pipeline::{Batch, Outcome, Sender, Signal};
use crate::test_support;

// === The upstream ===

/// What the upstream answers to one call.
enum Reply {
    /// OK with this partial success.
    Ok { rejected: i64, message: String },
    /// This status.
    Fail(Status),
    /// Nothing until this long has passed, then OK.
    Sleep(Duration),
}

/// One call the upstream received.
struct Received {
    signal: Signal,
    headers: HeaderMap,
    /// The request as the upstream decoded it, encoded again for comparison.
    message: Vec<u8>,
}

#[derive(Clone, Default)]
struct Upstream {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Upstream {
    fn then(&self, reply: Reply) -> &Self {
        self.script.lock().unwrap().push_back(reply);
        self
    }

    fn received(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    /// Records the call and plays the next scripted reply.
    async fn answer<M: Message>(
        &self,
        signal: Signal,
        request: Request<M>,
    ) -> Result<(i64, String), Status> {
        let (metadata, _, message) = request.into_parts();
        self.received.lock().unwrap().push(Received {
            signal,
            headers: metadata.into_headers(),
            message: message.encode_to_vec(),
        });
        let reply = self.script.lock().unwrap().pop_front();
        match reply {
            None => Ok((0, String::new())),
            Some(Reply::Ok { rejected, message }) => Ok((rejected, message)),
            Some(Reply::Fail(status)) => Err(status),
            Some(Reply::Sleep(d)) => {
                tokio::time::sleep(d).await;
                Ok((0, String::new()))
            }
        }
    }

    async fn start(&self, tls: Option<Arc<rustls::ServerConfig>>) -> std::net::SocketAddr {
        self.start_at("127.0.0.1:0".parse().unwrap(), tls).await
    }

    async fn start_at(
        &self,
        addr: std::net::SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::net::SocketAddr {
        let routes = tonic::service::Routes::new(
            MetricsServiceServer::new(self.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            TraceServiceServer::new(self.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            LogsServiceServer::new(self.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .prepare();
        testing::serve_at(addr, routes.into_axum_router(), tls).await
    }
}

#[tonic::async_trait]
impl MetricsService for Upstream {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (rejected, message) = self.answer(Signal::Metrics, request).await?;
        let partial_success =
            (rejected != 0 || !message.is_empty()).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            });
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Upstream {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.answer(Signal::Traces, request).await?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Upstream {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.answer(Signal::Logs, request).await?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

// === Helpers ===

fn settings(yaml: &str) -> Settings {
    match serde_yaml::from_str::<Config>(yaml).unwrap().validate() {
        Ok(s) => s,
        Err(e) => panic!("{yaml}: {e}"),
    }
}

fn sender(yaml: &str) -> GrpcSender {
    GrpcSender::new(&settings(yaml)).unwrap()
}

fn plaintext(addr: std::net::SocketAddr, extra: &str) -> GrpcSender {
    sender(&format!(
        "endpoint: {addr}\ntls:\n  insecure: true\n{extra}"
    ))
}

fn metrics_batch() -> (ExportMetricsServiceRequest, Batch) {
    let request = test_support::request_with(vec![test_support::sum(
        "requests",
        vec![test_support::int_point(
            7,
            vec![test_support::kv("route", "/a")],
        )],
    )]);
    let batch = Batch {
        signal: Signal::Metrics,
        body: Bytes::from(request.encode_to_vec()),
        items: 1,
        tenant: None,
    };
    (request, batch)
}

fn retry_after(outcome: &Outcome) -> Option<Duration> {
    match outcome {
        Outcome::Retry { after, .. } => *after,
        other => panic!("expected Retry, got {other:?}"),
    }
}

fn permanent_reason(outcome: Outcome) -> String {
    match outcome {
        Outcome::Permanent { reason } => reason,
        other => panic!("expected Permanent, got {other:?}"),
    }
}

fn sent() -> Outcome {
    Outcome::Sent {
        rejected: 0,
        message: String::new(),
    }
}

// === Sending ===

#[tokio::test]
async fn sends_each_signals_bytes_unchanged_to_its_method() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let sender = plaintext(addr, "compression: none");

    let (metrics, metrics_batch) = metrics_batch();
    let traces = test_support::traces_request(3);
    let logs = test_support::logs_request(2);
    let batches = [
        metrics_batch,
        Batch {
            signal: Signal::Traces,
            body: traces.encode_to_vec().into(),
            items: 3,
            tenant: None,
        },
        Batch {
            signal: Signal::Logs,
            body: logs.encode_to_vec().into(),
            items: 2,
            tenant: None,
        },
    ];
    for batch in &batches {
        assert_eq!(sender.send(batch).await, sent());
    }

    let received = upstream.received();
    assert_eq!(
        received.iter().map(|r| r.signal).collect::<Vec<_>>(),
        [Signal::Metrics, Signal::Traces, Signal::Logs]
    );
    assert_eq!(
        ExportMetricsServiceRequest::decode(received[0].message.as_slice()).unwrap(),
        metrics
    );
    assert_eq!(
        ExportTraceServiceRequest::decode(received[1].message.as_slice()).unwrap(),
        traces
    );
    assert_eq!(
        ExportLogsServiceRequest::decode(received[2].message.as_slice()).unwrap(),
        logs
    );
    assert!(received[0].headers.get("grpc-encoding").is_none());
}

#[tokio::test]
async fn compresses_with_gzip_by_default() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let (request, batch) = metrics_batch();
    assert_eq!(plaintext(addr, "").send(&batch).await, sent());
    let received = upstream.received();
    assert_eq!(received[0].headers.get("grpc-encoding").unwrap(), "gzip");
    assert_eq!(
        ExportMetricsServiceRequest::decode(received[0].message.as_slice()).unwrap(),
        request
    );
}

#[tokio::test]
async fn sends_the_headers_as_metadata() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let sender = plaintext(addr, "headers:\n  X-Api-Key: s3cr3t\n  x-tenant: blue");
    assert_eq!(sender.send(&metrics_batch().1).await, sent());
    let received = upstream.received();
    assert_eq!(received[0].headers.get("x-api-key").unwrap(), "s3cr3t");
    assert_eq!(received[0].headers.get("x-tenant").unwrap(), "blue");
}

#[tokio::test]
async fn reports_a_partial_success() {
    let upstream = Upstream::default();
    upstream.then(Reply::Ok {
        rejected: 2,
        message: "2 points were NaN".into(),
    });
    let addr = upstream.start(None).await;
    assert_eq!(
        plaintext(addr, "").send(&metrics_batch().1).await,
        Outcome::Sent {
            rejected: 2,
            message: "2 points were NaN".into()
        }
    );
}

// === Classification ===

#[tokio::test]
async fn retries_unavailable() {
    let upstream = Upstream::default();
    upstream.then(Reply::Fail(Status::unavailable("draining")));
    let addr = upstream.start(None).await;
    let outcome = plaintext(addr, "").send(&metrics_batch().1).await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            reason: "UNAVAILABLE: draining".into(),
            after: None
        }
    );
}

#[tokio::test]
async fn resource_exhausted_is_retried_only_with_retry_info() {
    let upstream = Upstream::default();
    upstream
        .then(Reply::Fail(Status::resource_exhausted("quota")))
        .then(Reply::Fail(Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            wire::status_with_retry_info(8, "slow down", Duration::from_millis(2500)).into(),
        )));
    let addr = upstream.start(None).await;
    let sender = plaintext(addr, "");
    let (_, batch) = metrics_batch();

    let reason = permanent_reason(sender.send(&batch).await);
    assert!(reason.starts_with("RESOURCE_EXHAUSTED: quota"), "{reason}");
    assert_eq!(
        retry_after(&sender.send(&batch).await),
        Some(Duration::from_millis(2500))
    );
}

#[tokio::test]
async fn other_codes_are_permanent_with_the_code_first() {
    let upstream = Upstream::default();
    upstream
        .then(Reply::Fail(Status::invalid_argument("bad metric name")))
        .then(Reply::Fail(Status::unauthenticated("who are you")));
    let addr = upstream.start(None).await;
    let sender = plaintext(addr, "");
    let (_, batch) = metrics_batch();
    assert_eq!(
        permanent_reason(sender.send(&batch).await),
        "INVALID_ARGUMENT: bad metric name"
    );
    assert_eq!(
        permanent_reason(sender.send(&batch).await),
        "UNAUTHENTICATED: who are you"
    );
}

#[tokio::test]
async fn retries_a_refused_connection_and_reconnects_once_the_upstream_is_back() {
    let addr = testing::closed_port().await;
    let sender = plaintext(addr, "timeout: 2s");
    let (_, batch) = metrics_batch();
    match sender.send(&batch).await {
        Outcome::Retry {
            reason,
            after: None,
        } => {
            assert!(reason.starts_with("UNAVAILABLE"), "{reason}")
        }
        other => panic!("expected Retry, got {other:?}"),
    }
    // The same sender (and channel) connects once something listens there.
    let upstream = Upstream::default();
    upstream.start_at(addr, None).await;
    assert_eq!(sender.send(&batch).await, sent());
}

#[tokio::test]
async fn retries_an_attempt_that_outlives_the_timeout() {
    let upstream = Upstream::default();
    upstream.then(Reply::Sleep(Duration::from_secs(2)));
    let addr = upstream.start(None).await;
    let sender = plaintext(addr, "timeout: 200ms");
    let started = std::time::Instant::now();
    let outcome = sender.send(&metrics_batch().1).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    match outcome {
        Outcome::Retry {
            reason,
            after: None,
        } => {
            assert!(reason.starts_with("DEADLINE_EXCEEDED"), "{reason}")
        }
        other => panic!("expected Retry, got {other:?}"),
    }
}

// === TLS ===

#[tokio::test]
async fn tls_with_the_ca_file_works() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let (request, batch) = metrics_batch();
    let bare = sender(&format!(
        "endpoint: {addr}\ntls:\n  ca_file: {}",
        pki.ca_file
    ));
    assert_eq!(bare.send(&batch).await, sent());
    let https = sender(&format!(
        "endpoint: https://{addr}\ntls:\n  ca_file: {}",
        pki.ca_file
    ));
    assert_eq!(https.send(&batch).await, sent());
    let received = upstream.received();
    assert_eq!(
        ExportMetricsServiceRequest::decode(received[0].message.as_slice()).unwrap(),
        request
    );
}

#[tokio::test]
async fn tls_with_system_roots_refuses_a_private_ca() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let outcome = sender(&format!("endpoint: {addr}"))
        .send(&metrics_batch().1)
        .await;
    // Refused for the certificate, not for any other connection failure.
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.contains("UnknownIssuer")),
        "{outcome:?}"
    );
    assert!(upstream.received().is_empty());
}

#[tokio::test]
async fn tls_with_insecure_skip_verify_works() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let sender = sender(&format!(
        "endpoint: {addr}\ntls:\n  insecure_skip_verify: true"
    ));
    assert_eq!(sender.send(&metrics_batch().1).await, sent());
}

#[tokio::test]
async fn tls_verifies_the_server_name_override() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let (_, batch) = metrics_batch();
    let right = sender(&format!(
        "endpoint: localhost:{}\ntls:\n  ca_file: {}\n  server_name_override: {SERVER_NAME}",
        addr.port(),
        pki.ca_file
    ));
    assert_eq!(right.send(&batch).await, sent());
    let wrong = sender(&format!(
        "endpoint: {addr}\ntls:\n  ca_file: {}\n  server_name_override: other.test",
        pki.ca_file
    ));
    assert!(matches!(wrong.send(&batch).await, Outcome::Retry { .. }));
}

#[tokio::test]
async fn mtls_presents_the_client_certificate() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream
        .start(Some(pki.server_config_requiring_client_cert()))
        .await;
    let (_, batch) = metrics_batch();
    let with_cert = sender(&format!(
        "endpoint: {addr}\ntls:\n  ca_file: {}\n  cert_file: {}\n  key_file: {}",
        pki.ca_file, pki.client_cert_file, pki.client_key_file
    ));
    assert_eq!(with_cert.send(&batch).await, sent());
    let without = sender(&format!(
        "endpoint: {addr}\ntls:\n  ca_file: {}",
        pki.ca_file
    ));
    let outcome = without.send(&batch).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
}

#[tokio::test]
async fn plaintext_to_a_tls_upstream_is_retried() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let outcome = plaintext(addr, "timeout: 1s")
        .send(&metrics_batch().1)
        .await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
}

// === Configuration ===

#[test]
fn parses_every_key() {
    let pki = TestPki::new();
    let s = settings(&format!(
        r#"
endpoint: collector.example:4317
tls:
  insecure: false
  ca_file: {}
  server_name_override: vigil.test
headers:
  x-api-key: abc
compression: none
timeout: 2s
retry_on_failure:
  enabled: true
  initial_interval: 1s
  randomization_factor: 0.1
  multiplier: 2
  max_interval: 10s
  max_elapsed_time: 1m
sending_queue:
  enabled: true
  num_consumers: 3
  queue_size: 20
  storage: file_storage/otc
"#,
        pki.ca_file
    ));
    assert_eq!(s.endpoint.to_string(), "https://collector.example:4317/");
    assert!(s.tls.is_some());
    assert_eq!(s.headers.get("x-api-key").unwrap(), "abc");
    assert_eq!(s.compression, Compression::None);
    assert_eq!(s.timeout, Duration::from_secs(2));
    assert_eq!(s.retry.initial_interval, Duration::from_secs(1));
    assert_eq!(s.retry.multiplier, 2.0);
    assert_eq!(s.retry.max_elapsed_time, Some(Duration::from_secs(60)));
    assert_eq!((s.queue.num_consumers, s.queue.queue_size), (3, 20));
    assert_eq!(s.queue.storage.unwrap().to_string(), "file_storage/otc");
}

#[test]
fn defaults_are_the_collectors() {
    let s = settings("endpoint: collector:4317");
    assert_eq!(s.compression, Compression::Gzip);
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert!(s.retry.enabled);
    assert_eq!(s.queue.num_consumers, 10);
    assert_eq!(s.queue.queue_size, 1000);
}

#[test]
fn the_scheme_and_tls_insecure_decide_tls() {
    for (yaml, scheme) in [
        ("endpoint: c:4317", "https"),
        ("endpoint: c:4317\ntls: {insecure: true}", "http"),
        ("endpoint: https://c:4317\ntls: {insecure: true}", "https"),
        ("endpoint: http://c:4317", "http"),
        ("endpoint: dns:///c:4317\ntls: {insecure: true}", "http"),
        ("endpoint: \"[::1]:4317\"\ntls: {insecure: true}", "http"),
    ] {
        let s = settings(yaml);
        assert_eq!(s.endpoint.scheme_str(), Some(scheme), "{yaml}");
        assert_eq!(s.tls.is_some(), scheme == "https", "{yaml}");
    }
}

#[test]
fn refuses_unknown_and_unsupported_keys() {
    for key in [
        "balancer_name: round_robin",
        "keepalive: {time: 10s}",
        "auth: {authenticator: x}",
        "wait_for_ready: true",
        "write_buffer_size: 1",
    ] {
        let yaml = format!("endpoint: c:4317\n{key}");
        let err = serde_yaml::from_str::<Config>(&yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{yaml}: {err}");
    }
}

#[test]
fn refuses_bad_values_naming_the_key() {
    for (yaml, key) in [
        ("{}", "endpoint: required"),
        ("endpoint: \"\"", "endpoint: required"),
        ("endpoint: https://c:4317/v1/metrics", "endpoint: "),
        ("endpoint: unix:///tmp/s", "endpoint: "),
        ("endpoint: user@c:4317", "endpoint: "),
        ("endpoint: c:4317\ntimeout: 0", "timeout: "),
        ("endpoint: c:4317\ntimeout: fast", "timeout: "),
        ("endpoint: c:4317\ncompression: snappy", "compression: "),
        (
            "endpoint: c:4317\nheaders: {\"bad header\": x}",
            "headers.bad header: ",
        ),
        (
            "endpoint: c:4317\ntls: {ca_file: /nonexistent}",
            "tls.ca_file: cannot read /nonexistent",
        ),
        (
            "endpoint: c:4317\nretry_on_failure: {multiplier: 0}",
            "retry_on_failure.multiplier: ",
        ),
        (
            "endpoint: c:4317\nsending_queue: {queue_size: 0}",
            "sending_queue.queue_size: ",
        ),
    ] {
        let err = serde_yaml::from_str::<Config>(yaml)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.starts_with(key), "{yaml}: {err}");
    }
}

#[test]
fn new_outside_a_runtime_is_an_error_not_a_panic() {
    let err = GrpcSender::new(&settings("endpoint: c:4317")).unwrap_err();
    assert!(err.contains("tokio runtime"), "{err}");
}

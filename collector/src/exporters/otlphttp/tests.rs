//! The otlphttp exporter against a real axum upstream on loopback: bytes, compression,
//! headers, every classification, TLS, and the configuration keys.

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::*;
use crate::exporters::common::Compression;
use crate::exporters::common::testing::{self, SERVER_NAME, TestPki};
use crate::pipeline::{Batch, Outcome, Sender, Signal};
use crate::rpc::RpcStatus;
use crate::test_support;

// === The upstream ===

/// What the upstream answers to one request.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: vec![],
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }
}

/// One request the upstream received.
struct Received {
    path: String,
    headers: HeaderMap,
    /// The body as it came over the wire (compressed or not).
    body: Bytes,
}

impl Received {
    /// The body, gunzipped when it says it is gzipped.
    fn plain_body(&self) -> Vec<u8> {
        if self
            .headers
            .get("content-encoding")
            .is_some_and(|v| v == "gzip")
        {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.to_vec()
        }
    }
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

    async fn start(&self, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
        let router = axum::Router::new()
            .route("/v1/metrics", post(record))
            .route("/v1/traces", post(record))
            .route("/v1/logs", post(record))
            .route("/custom/traces", post(record))
            .with_state(self.clone());
        testing::serve(router, tls).await
    }
}

async fn record(
    State(upstream): State<Upstream>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    upstream.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let reply = upstream.script.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return StatusCode::OK.into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

// === Helpers ===

fn settings(yaml: &str) -> Settings {
    match serde_yaml::from_str::<Config>(yaml).unwrap().validate() {
        Ok(s) => s,
        Err(e) => panic!("{yaml}: {e}"),
    }
}

fn sender(yaml: &str) -> HttpSender {
    HttpSender::new(&settings(yaml)).unwrap()
}

fn to(addr: SocketAddr, extra: &str) -> HttpSender {
    sender(&format!("endpoint: http://{addr}\n{extra}"))
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
        body: request.encode_to_vec().into(),
        items: 1,
        tenant: None,
    };
    (request, batch)
}

fn sent() -> Outcome {
    Outcome::Sent {
        rejected: 0,
        message: String::new(),
    }
}

fn protobuf_status(message: &str) -> Vec<u8> {
    RpcStatus {
        code: 3,
        message: message.to_owned(),
        details: vec![],
    }
    .encode_to_vec()
}

// === Sending ===

#[tokio::test]
async fn posts_the_bytes_unchanged_to_each_signals_path() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let sender = to(addr, "compression: none");
    let (metrics, batch) = metrics_batch();
    assert_eq!(sender.send(&batch).await, sent());
    let traces = test_support::traces_request(2);
    let traces_batch = Batch {
        signal: Signal::Traces,
        body: traces.encode_to_vec().into(),
        items: 2,
        tenant: None,
    };
    assert_eq!(sender.send(&traces_batch).await, sent());
    let logs_batch = Batch {
        signal: Signal::Logs,
        body: test_support::logs_request(1).encode_to_vec().into(),
        items: 1,
        tenant: None,
    };
    assert_eq!(sender.send(&logs_batch).await, sent());

    let received = upstream.received();
    let paths: Vec<_> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/v1/metrics", "/v1/traces", "/v1/logs"]);
    assert_eq!(received[0].body, batch.body);
    assert_eq!(
        ExportMetricsServiceRequest::decode(received[0].body.clone()).unwrap(),
        metrics
    );
    assert_eq!(
        ExportTraceServiceRequest::decode(received[1].body.clone()).unwrap(),
        traces
    );
    assert_eq!(
        received[0].headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
    assert!(received[0].headers.get("content-encoding").is_none());
}

#[tokio::test]
async fn gzips_by_default() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let (_, batch) = metrics_batch();
    assert_eq!(to(addr, "").send(&batch).await, sent());
    let received = upstream.received();
    assert_eq!(received[0].headers.get("content-encoding").unwrap(), "gzip");
    assert_ne!(received[0].body, batch.body);
    assert_eq!(received[0].plain_body(), batch.body.to_vec());
}

#[tokio::test]
async fn sends_the_headers_and_honours_a_signal_url() {
    let upstream = Upstream::default();
    let addr = upstream.start(None).await;
    let sender = sender(&format!(
        "endpoint: http://{addr}\ntraces_endpoint: http://{addr}/custom/traces\nheaders:\n  X-Api-Key: s3cr3t"
    ));
    let batch = Batch {
        signal: Signal::Traces,
        body: test_support::traces_request(1).encode_to_vec().into(),
        items: 1,
        tenant: None,
    };
    assert_eq!(sender.send(&batch).await, sent());
    let received = upstream.received();
    assert_eq!(received[0].path, "/custom/traces");
    assert_eq!(received[0].headers.get("x-api-key").unwrap(), "s3cr3t");
}

#[tokio::test]
async fn reports_a_partial_success() {
    let upstream = Upstream::default();
    let body = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 4,
            error_message: "4 points too old".into(),
        }),
    };
    upstream.then(
        Reply::status(200)
            .header("content-type", "application/x-protobuf")
            .body(body.encode_to_vec()),
    );
    let addr = upstream.start(None).await;
    assert_eq!(
        to(addr, "").send(&metrics_batch().1).await,
        Outcome::Sent {
            rejected: 4,
            message: "4 points too old".into()
        }
    );
}

// === Classification ===

#[tokio::test]
async fn retries_503_after_its_retry_after() {
    let upstream = Upstream::default();
    upstream
        .then(Reply::status(503).header("retry-after", "7"))
        .then(Reply::status(429))
        .then(Reply::status(502))
        .then(Reply::status(504));
    let addr = upstream.start(None).await;
    let sender = to(addr, "");
    let (_, batch) = metrics_batch();
    assert_eq!(
        sender.send(&batch).await,
        Outcome::Retry {
            reason: "HTTP 503: Service Unavailable".into(),
            after: Some(Duration::from_secs(7))
        }
    );
    for code in ["429", "502", "504"] {
        match sender.send(&batch).await {
            Outcome::Retry {
                reason,
                after: None,
            } => {
                assert!(reason.starts_with(&format!("HTTP {code}")), "{reason}")
            }
            other => panic!("{code}: expected Retry, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn other_statuses_are_permanent_with_the_status_message() {
    let upstream = Upstream::default();
    upstream
        .then(
            Reply::status(400)
                .header("content-type", "application/x-protobuf")
                .body(protobuf_status("metric name is empty")),
        )
        .then(Reply::status(401).body(b"  no token  ".to_vec()))
        .then(
            Reply::status(500)
                .header("content-type", "application/json")
                .body(br#"{"code":13,"message":"disk full"}"#.to_vec()),
        );
    let addr = upstream.start(None).await;
    let sender = to(addr, "");
    let (_, batch) = metrics_batch();
    for want in [
        "HTTP 400: metric name is empty",
        "HTTP 401: no token",
        "HTTP 500: disk full",
    ] {
        assert_eq!(
            sender.send(&batch).await,
            Outcome::Permanent {
                reason: want.into()
            }
        );
    }
}

#[tokio::test]
async fn retries_a_refused_connection() {
    let addr = testing::closed_port().await;
    match to(addr, "").send(&metrics_batch().1).await {
        Outcome::Retry {
            reason,
            after: None,
        } => {
            assert!(reason.starts_with("connection failed"), "{reason}")
        }
        other => panic!("expected Retry, got {other:?}"),
    }
}

#[tokio::test]
async fn retries_a_request_that_outlives_the_timeout() {
    let upstream = Upstream::default();
    let mut slow = Reply::status(200);
    slow.delay = Duration::from_secs(2);
    upstream.then(slow);
    let addr = upstream.start(None).await;
    let started = std::time::Instant::now();
    let outcome = to(addr, "timeout: 200ms").send(&metrics_batch().1).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    match outcome {
        Outcome::Retry {
            reason,
            after: None,
        } => assert!(reason.starts_with("timeout"), "{reason}"),
        other => panic!("expected Retry, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signal_without_url_is_permanent() {
    let s = sender("traces_endpoint: http://127.0.0.1:1/v1/traces");
    let outcome = s.send(&metrics_batch().1).await;
    match outcome {
        Outcome::Permanent { reason } => assert!(reason.starts_with("NO_ENDPOINT"), "{reason}"),
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// === TLS ===

#[tokio::test]
async fn tls_with_the_ca_file_works() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let (_, batch) = metrics_batch();
    let s = sender(&format!(
        "endpoint: https://{addr}\ntls:\n  ca_file: {}",
        pki.ca_file
    ));
    assert_eq!(s.send(&batch).await, sent());
    assert_eq!(upstream.received()[0].plain_body(), batch.body.to_vec());
}

#[tokio::test]
async fn tls_with_system_roots_refuses_a_private_ca() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let outcome = sender(&format!("endpoint: https://{addr}"))
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
    let s = sender(&format!(
        "endpoint: https://{addr}\ntls:\n  insecure_skip_verify: true"
    ));
    assert_eq!(s.send(&metrics_batch().1).await, sent());
}

#[tokio::test]
async fn tls_verifies_the_server_name_override() {
    let pki = TestPki::new();
    let upstream = Upstream::default();
    let addr = upstream.start(Some(pki.server_config())).await;
    let (_, batch) = metrics_batch();
    let right = sender(&format!(
        "endpoint: https://localhost:{}\ntls:\n  ca_file: {}\n  server_name_override: {SERVER_NAME}",
        addr.port(),
        pki.ca_file
    ));
    assert_eq!(right.send(&batch).await, sent());
    let wrong = sender(&format!(
        "endpoint: https://{addr}\ntls:\n  ca_file: {}\n  server_name_override: other.test",
        pki.ca_file
    ));
    assert!(matches!(wrong.send(&batch).await, Outcome::Retry { .. }));
}

// === Configuration ===

#[test]
fn parses_every_key() {
    let pki = TestPki::new();
    let s = settings(&format!(
        r#"
endpoint: https://collector.example:4318/prefix/
metrics_endpoint: https://m.example/v1/m
traces_endpoint: ""
tls:
  ca_file: {}
  insecure_skip_verify: false
headers:
  authorization: Bearer abc
compression: gzip
timeout: 10s
encoding: proto
retry_on_failure:
  enabled: false
sending_queue:
  num_consumers: 2
  queue_size: 5
"#,
        pki.ca_file
    ));
    assert_eq!(
        s.url(Signal::Metrics).unwrap().to_string(),
        "https://m.example/v1/m"
    );
    assert_eq!(
        s.url(Signal::Traces).unwrap().to_string(),
        "https://collector.example:4318/prefix/v1/traces"
    );
    assert_eq!(
        s.url(Signal::Logs).unwrap().to_string(),
        "https://collector.example:4318/prefix/v1/logs"
    );
    assert_eq!(s.headers.get("authorization").unwrap(), "Bearer abc");
    assert_eq!(s.compression, Compression::Gzip);
    assert_eq!(s.timeout, Duration::from_secs(10));
    assert!(!s.retry.enabled);
    assert_eq!((s.queue.num_consumers, s.queue.queue_size), (2, 5));
}

#[test]
fn defaults_are_the_collectors() {
    let s = settings("endpoint: http://c:4318");
    assert_eq!(
        s.url(Signal::Metrics).unwrap().to_string(),
        "http://c:4318/v1/metrics"
    );
    assert_eq!(s.compression, Compression::Gzip);
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert!(s.retry.enabled);
    assert!(s.queue.enabled);
}

#[test]
fn refuses_unknown_keys() {
    for key in [
        "auth: {authenticator: x}",
        "read_buffer_size: 1",
        "profiles_endpoint: http://x",
    ] {
        let yaml = format!("endpoint: http://c:4318\n{key}");
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
        ("endpoint: collector:4318", "endpoint: "),
        ("endpoint: ftp://c", "endpoint: "),
        ("endpoint: http://c\nlogs_endpoint: nope", "logs_endpoint: "),
        (
            "endpoint: http://c\nencoding: json",
            "encoding: \"json\" is not supported",
        ),
        ("endpoint: http://c\nencoding: xml", "encoding: "),
        ("endpoint: http://c\ntimeout: 0s", "timeout: "),
        ("endpoint: http://c\ncompression: br", "compression: "),
        (
            "endpoint: http://c\nheaders: {\"x\": \"a\\nb\"}",
            "headers.x: ",
        ),
        (
            "endpoint: http://c\ntls: {min_version: \"1.0\"}",
            "tls.min_version: ",
        ),
        (
            "endpoint: http://c\nretry_on_failure: {max_interval: 1ms}",
            "retry_on_failure.max_interval: ",
        ),
        (
            "endpoint: http://c\nsending_queue: {sizer: bytes}",
            "sending_queue.sizer: ",
        ),
    ] {
        let err = serde_yaml::from_str::<Config>(yaml)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.starts_with(key), "{yaml}: {err}");
    }
}

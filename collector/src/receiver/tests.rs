//! Receiver tests: the OTLP/HTTP router through `oneshot` (no socket) and the
//! OTLP/gRPC server on a real loopback socket.
//!
//! Every refusal is asserted twice: the exact status code, and a body that
//! tells the sender what went wrong (a `google.rpc.Status` in the request's
//! media type, or plain text when the media type itself is the problem).
//! Every acceptance is asserted on what reached the store, as rendered
//! Prometheus text, so a test fails when data is lost or bent on the way in.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, NumberDataPoint};
use prost::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tower::ServiceExt;

use super::grpc::Grpc;
use super::{Counters, Error, Pipeline, bind, http};
use crate::export::prometheus::{self, Format};
use crate::store::{Filter, Options, Store};
use crate::test_support::{
    START, TIME, double_point, gauge, histogram, histogram_point, int_point, kv, logs_request,
    request_from, request_with, resource_metrics, sum, sum_with, traces_request,
};

const MIB: usize = 1024 * 1024;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

// gRPC status codes carried in `google.rpc.Status.code`.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNIMPLEMENTED: i32 = 12;

// === Fixtures ===

/// The zero-config pipeline (metrics into a store), with the store at hand.
#[derive(Clone)]
struct TestPipeline {
    inner: Pipeline,
    store: Arc<Store>,
    counters: Arc<Counters>,
}

impl std::ops::Deref for TestPipeline {
    type Target = Pipeline;
    fn deref(&self) -> &Pipeline {
        &self.inner
    }
}

fn pipeline() -> TestPipeline {
    let store = Arc::new(Store::new(Options::default()));
    let inner = Pipeline::to_store(store.clone());
    TestPipeline {
        counters: inner.counters.clone(),
        inner,
        store,
    }
}

/// The store as Prometheus text 0.0.4.
fn page(pipeline: &TestPipeline) -> String {
    prometheus::render(&pipeline.store.snapshot(&Filter::default()), Format::Text)
}

/// The store as OpenMetrics text (which carries exemplars).
fn openmetrics(pipeline: &TestPipeline) -> String {
    prometheus::render(
        &pipeline.store.snapshot(&Filter::default()),
        Format::OpenMetrics,
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `google.rpc.Status`, decoded independently of the receiver's own type so
/// the wire format itself is checked.
#[derive(Clone, PartialEq, prost::Message, serde::Deserialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A request as the HTTP receiver sees it.
fn post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).unwrap()
}

fn post_protobuf(path: &str, message: &impl Message) -> Request<Body> {
    post(path, Some(PROTOBUF), message.encode_to_vec())
}

fn post_gzip(path: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    let mut req = post(path, Some(content_type), body);
    req.headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    req
}

/// An HTTP response, read whole.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The error body as (gRPC code, message), decoded as its Content-Type says.
    fn rpc_status(&self) -> (i32, String) {
        let status = match self.content_type() {
            PROTOBUF => RpcStatus::decode(self.body.clone()).unwrap(),
            JSON => serde_json::from_slice::<RpcStatus>(&self.body).unwrap(),
            other => panic!("error body of type {other:?}: {:?}", self.body),
        };
        (status.code, status.message)
    }

    /// A plain-text body.
    fn text(&self) -> &str {
        assert_eq!(self.content_type(), "text/plain; charset=utf-8");
        std::str::from_utf8(&self.body).unwrap()
    }

    /// A protobuf `ExportMetricsServiceResponse`.
    fn metrics_response(&self) -> ExportMetricsServiceResponse {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        assert_eq!(self.content_type(), PROTOBUF);
        ExportMetricsServiceResponse::decode(self.body.clone()).unwrap()
    }

    /// Asserts a refusal: exact status, a `google.rpc.Status` with `code`, and
    /// a message containing `needle`.
    #[track_caller]
    fn assert_refused(&self, status: StatusCode, code: i32, needle: &str) {
        assert_eq!(self.status, status, "body: {:?}", self.body);
        let (got_code, message) = self.rpc_status();
        assert_eq!(got_code, code, "message: {message}");
        assert!(
            message.contains(needle),
            "message {message:?} does not mention {needle:?}"
        );
    }
}

async fn call(pipeline: &Pipeline, max_body: usize, req: Request<Body>) -> Reply {
    let resp = http::router(pipeline.clone(), max_body)
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// The request most tests send: a counter with two series, a gauge and a
/// histogram, all of one service ([`GOOD_PAGE`] is how it renders).
fn good_request() -> ExportMetricsServiceRequest {
    let mut latency = histogram(
        "latency",
        vec![histogram_point(&[0.1, 1.0], &[3, 2, 1], 4.5, vec![])],
    );
    latency.unit = "s".into();
    request_with(vec![
        sum(
            "http.requests",
            vec![
                int_point(42, vec![kv("route", "/a")]),
                int_point(7, vec![kv("route", "/b")]),
            ],
        ),
        gauge("queue.depth", vec![double_point(2.5, vec![])]),
        latency,
    ])
}

/// [`good_request`] as Prometheus text.
const GOOD_PAGE: &str = r#"# TYPE http_requests_total counter
http_requests_total{job="test",route="/a",otel_scope_name="test"} 42
http_requests_total{job="test",route="/b",otel_scope_name="test"} 7
# TYPE latency_seconds histogram
latency_seconds_bucket{job="test",otel_scope_name="test",le="0.1"} 3
latency_seconds_bucket{job="test",otel_scope_name="test",le="1"} 5
latency_seconds_bucket{job="test",otel_scope_name="test",le="+Inf"} 6
latency_seconds_sum{job="test",otel_scope_name="test"} 4.5
latency_seconds_count{job="test",otel_scope_name="test"} 6
# TYPE queue_depth gauge
queue_depth{job="test",otel_scope_name="test"} 2.5
"#;

/// One of each bad point the store must refuse, 4 points in all: a histogram
/// with 2 bounds and 2 counts (want 3), a Sum with unspecified temporality (2
/// points), and a number point without a value.
fn bad_metrics() -> Vec<opentelemetry_proto::tonic::metrics::v1::Metric> {
    vec![
        histogram(
            "bad.buckets",
            vec![HistogramDataPoint {
                bucket_counts: vec![1, 1],
                ..histogram_point(&[0.1, 1.0], &[1, 1, 0], 0.5, vec![])
            }],
        ),
        sum_with(
            "no.temporality",
            0,
            true,
            vec![int_point(1, vec![]), int_point(2, vec![kv("k", "v")])],
        ),
        gauge(
            "no.value",
            vec![NumberDataPoint {
                value: None,
                ..int_point(0, vec![])
            }],
        ),
    ]
}
const BAD_POINTS: i64 = 4;

// === HTTP: refusals ===

#[tokio::test]
async fn unknown_path_is_404_with_a_hint() {
    let p = pipeline();
    let reply = call(&p, MIB, post_protobuf("/v1/metric", &good_request())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let text = reply.text();
    assert!(text.contains("/v1/metric;"), "{text}");
    assert!(text.contains("POST /v1/metrics"), "{text}");
    assert_eq!(page(&p), "");
}

#[tokio::test]
async fn get_is_405_and_allows_post() {
    let p = pipeline();
    let req = Request::builder()
        .method(Method::GET)
        .uri("/v1/metrics")
        .body(Body::empty())
        .unwrap();
    let reply = call(&p, MIB, req).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers.get(header::ALLOW).unwrap(), "POST");
    assert!(reply.text().contains("OTLP/HTTP takes POST"), "{reply:?}");
}

#[tokio::test]
async fn text_plain_is_415_naming_the_media_types_to_use() {
    let p = pipeline();
    let reply = call(&p, MIB, post("/v1/metrics", Some("text/plain"), "hello")).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let text = reply.text();
    assert!(text.contains("\"text/plain\""), "{text}");
    assert!(
        text.contains("application/x-protobuf or application/json"),
        "{text}"
    );
    assert_eq!(p.counters.bad_requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn missing_content_type_is_415() {
    let p = pipeline();
    let body = good_request().encode_to_vec();
    let reply = call(&p, MIB, post("/v1/metrics", None, body)).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        reply.text().contains("unsupported Content-Type \"none\""),
        "{reply:?}"
    );
    assert_eq!(page(&p), "");
}

#[tokio::test]
async fn brotli_content_encoding_is_415_in_the_request_media_type() {
    let p = pipeline();
    for content_type in [PROTOBUF, JSON] {
        let mut req = post("/v1/metrics", Some(content_type), "irrelevant");
        req.headers_mut()
            .insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        let reply = call(&p, MIB, req).await;
        assert_eq!(reply.content_type(), content_type);
        reply.assert_refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNIMPLEMENTED,
            "unsupported Content-Encoding \"br\"",
        );
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let p = pipeline();
    let reply = call(
        &p,
        1024,
        post("/v1/metrics", Some(PROTOBUF), vec![0u8; 2048]),
    )
    .await;
    reply.assert_refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        RESOURCE_EXHAUSTED,
        "larger than the limit of 1024 bytes",
    );
    assert_eq!(p.counters.bad_requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn gzip_bomb_is_413_without_inflating_it_all() {
    let p = pipeline();
    // 50 MB of zeros, about 50 KB compressed: small enough to pass the body
    // limit, 50 times the limit once inflated.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let chunk = vec![0u8; MIB];
    for _ in 0..50 {
        encoder.write_all(&chunk).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < MIB / 4, "bomb is {} bytes", bomb.len());

    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        call(&p, MIB, post_gzip("/v1/metrics", PROTOBUF, bomb)),
    )
    .await
    .expect("a bomb is refused at the limit, not inflated");
    reply.assert_refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        RESOURCE_EXHAUSTED,
        "decompressed request body is larger than the limit of 1048576 bytes",
    );
    // Inflating 1 MiB takes milliseconds even unoptimized; all 50 would take
    // far longer. Generous, so a loaded CI machine does not flake.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn corrupt_gzip_is_400() {
    let p = pipeline();
    let valid = gzip(&good_request().encode_to_vec());
    let cases: [(&str, Vec<u8>); 3] = [
        ("not gzip at all", b"definitely not gzip".to_vec()),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("bad header", {
            let mut v = valid.clone();
            v[0] = 0;
            v
        }),
    ];
    for (what, body) in cases {
        let reply = call(&p, MIB, post_gzip("/v1/metrics", PROTOBUF, body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}");
        let (code, message) = reply.rpc_status();
        assert_eq!(code, INVALID_ARGUMENT, "{what}");
        assert!(
            message.starts_with("malformed gzip body"),
            "{what}: {message}"
        );
    }
    assert_eq!(page(&p), "");
}

#[tokio::test]
async fn truncated_protobuf_is_400() {
    let p = pipeline();
    let bytes = good_request().encode_to_vec();
    let half = bytes[..bytes.len() / 2].to_vec();
    let reply = call(&p, MIB, post("/v1/metrics", Some(PROTOBUF), half)).await;
    reply.assert_refused(
        StatusCode::BAD_REQUEST,
        INVALID_ARGUMENT,
        "malformed protobuf",
    );
    assert_eq!(page(&p), "");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let p = pipeline();
    let reply = call(
        &p,
        MIB,
        post("/v1/metrics", Some(JSON), r#"{"resourceMetrics": [{"#),
    )
    .await;
    assert_eq!(reply.content_type(), JSON);
    reply.assert_refused(
        StatusCode::BAD_REQUEST,
        INVALID_ARGUMENT,
        "malformed OTLP/JSON",
    );
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_400() {
    let p = pipeline();
    for body in [
        r#"{"resourceMetrics": 5}"#,
        r#"[1, 2, 3]"#,
        r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "x", "gauge": {"dataPoints": [{"timeUnixNano": "yesterday", "asInt": "1"}]}}]}]}]}"#,
    ] {
        let reply = call(&p, MIB, post("/v1/metrics", Some(JSON), body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let (code, message) = reply.rpc_status();
        assert_eq!(code, INVALID_ARGUMENT, "{body}");
        assert!(message.starts_with("malformed OTLP/JSON: "), "{message}");
    }
    assert_eq!(page(&p), "");
}

/// Regression: opentelemetry-proto's serde turned an error inside a metric's
/// data into "no data", and the metric was dropped with a 200 and no
/// `partial_success`.
#[tokio::test]
async fn json_metric_whose_points_do_not_parse_is_400_not_dropped() {
    let p = pipeline();
    let body = r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "good", "gauge": {"dataPoints": [{"asInt": "1"}]}},
        {"name": "late", "sum": {"aggregationTemporality": 2, "isMonotonic": true,
            "dataPoints": [{"timeUnixNano": "yesterday", "asInt": "1"}]}},
        {"name": "empty", "gauge": null}
    ]}]}]}"#;
    let reply = call(&p, MIB, post("/v1/metrics", Some(JSON), body)).await;
    reply.assert_refused(
        StatusCode::BAD_REQUEST,
        INVALID_ARGUMENT,
        "malformed OTLP/JSON: metric \"late\": sum: invalid digit found in string",
    );
    assert_eq!(page(&p), "", "a refused request stores nothing");
}

/// A value that does not parse is not a 400: opentelemetry-proto reads the
/// `asInt`/`asDouble` oneof through `#[serde(flatten)]`, which turns any error
/// inside it into "no value". The point is then refused as valueless and
/// reported, never stored or silently dropped.
#[tokio::test]
async fn json_number_value_that_does_not_parse_is_a_rejected_point() {
    let p = pipeline();
    let body = r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "x", "gauge": {"dataPoints": [{"asInt": "forty-two"}, {"asInt": "42"}]}}
    ]}]}]}"#;
    let reply = call(&p, MIB, post("/v1/metrics", Some(JSON), body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let response: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        response["partialSuccess"]["errorMessage"],
        "metric \"x\": number data point without a value",
        "{response}"
    );
    assert_eq!(p.counters.metrics.refused.load(Ordering::Relaxed), 1);
    assert_eq!(p.counters.metrics.accepted.load(Ordering::Relaxed), 1);
    assert!(page(&p).contains("\nx 42\n"), "{}", page(&p));
}

// === HTTP: acceptance ===

#[tokio::test]
async fn protobuf_export_is_stored_and_answered_with_an_empty_response() {
    let p = pipeline();
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &good_request())).await;
    let response = reply.metrics_response();
    assert_eq!(response, ExportMetricsServiceResponse::default());
    assert!(reply.body.is_empty(), "no partial_success on the wire");
    assert_eq!(page(&p), GOOD_PAGE);
    assert_eq!(p.counters.metrics.accepted.load(Ordering::Relaxed), 4);
    assert_eq!(p.counters.metrics.refused.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn gzip_protobuf_export_is_stored() {
    let p = pipeline();
    let body = gzip(&good_request().encode_to_vec());
    let reply = call(&p, MIB, post_gzip("/v1/metrics", PROTOBUF, body)).await;
    assert_eq!(
        reply.metrics_response(),
        ExportMetricsServiceResponse::default()
    );
    assert_eq!(page(&p), GOOD_PAGE);
}

/// Written by hand, not by serde, following the OTLP/JSON rules: lowerCamelCase
/// keys, 64-bit integers as strings (and once as a plain number, which
/// receivers also accept), enums as integers, trace and span ids as hex,
/// unknown fields ignored.
const HAND_WRITTEN_JSON: &str = r#"{
  "someFutureField": {},
  "resourceMetrics": [{
    "resource": {
      "attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "service.namespace", "value": {"stringValue": "shop"}},
        {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
        {"key": "host.name", "value": {"stringValue": "node-1"}}
      ]
    },
    "scopeMetrics": [{
      "scope": {"name": "json-scope", "version": "1.2.3"},
      "metrics": [
        {
          "name": "http.requests",
          "description": "Requests served.",
          "unit": "{request}",
          "someFutureField": {},
          "sum": {
            "aggregationTemporality": 2,
            "isMonotonic": true,
            "dataPoints": [
              {
                "attributes": [{"key": "route", "value": {"stringValue": "/a"}}],
                "startTimeUnixNano": "1700000000000000000",
                "timeUnixNano": "1700000010000000000",
                "asInt": "42",
                "someFutureField": {},
                "exemplars": [{
                  "timeUnixNano": "1700000005000000000",
                  "asInt": "3",
                  "traceId": "5b8efff798038103d269b633813fc60c",
                  "spanId": "eee19b7ec3c1b174"
                }]
              },
              {
                "attributes": [{"key": "route", "value": {"stringValue": "/b"}}],
                "startTimeUnixNano": "1700000000000000000",
                "timeUnixNano": "1700000010000000000",
                "asInt": 7
              }
            ]
          }
        },
        {
          "name": "queue.depth",
          "gauge": {
            "dataPoints": [{
              "attributes": [{"key": "shard", "value": {"intValue": "3"}}],
              "timeUnixNano": "1700000010000000000",
              "asDouble": 2.5
            }]
          }
        },
        {
          "name": "latency",
          "unit": "s",
          "histogram": {
            "aggregationTemporality": 2,
            "dataPoints": [{
              "startTimeUnixNano": "1700000000000000000",
              "timeUnixNano": "1700000010000000000",
              "count": "6",
              "sum": 4.5,
              "bucketCounts": ["1", "2", "3"],
              "explicitBounds": [0.1, 1]
            }]
          }
        }
      ]
    }]
  }]
}"#;

#[tokio::test]
async fn hand_written_otlp_json_is_stored_exactly() {
    let p = pipeline();
    let req = post(
        "/v1/metrics",
        Some("application/json; charset=utf-8"),
        HAND_WRITTEN_JSON,
    );
    let reply = call(&p, MIB, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type(), JSON);
    let response: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert!(
        response
            .get("partialSuccess")
            .is_none_or(serde_json::Value::is_null),
        "{response}"
    );

    const L: &str = r#"job="shop/checkout",instance="pod-1""#;
    const S: &str = r#"otel_scope_name="json-scope",otel_scope_version="1.2.3""#;
    let expected = format!(
        "# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{{{L},route=\"/a\",{S}}} 42
http_requests_total{{{L},route=\"/b\",{S}}} 7
# TYPE latency_seconds histogram
latency_seconds_bucket{{{L},{S},le=\"0.1\"}} 1
latency_seconds_bucket{{{L},{S},le=\"1\"}} 3
latency_seconds_bucket{{{L},{S},le=\"+Inf\"}} 6
latency_seconds_sum{{{L},{S}}} 4.5
latency_seconds_count{{{L},{S}}} 6
# TYPE queue_depth gauge
queue_depth{{{L},shard=\"3\",{S}}} 2.5
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{{{L},host_name=\"node-1\"}} 1
"
    );
    assert_eq!(page(&p), expected);

    // The exemplar's hex ids and the start time survive, as OpenMetrics shows them.
    let om = openmetrics(&p);
    let exemplar = format!(
        "http_requests_total{{{L},route=\"/a\",{S}}} 42 \
         # {{trace_id=\"5b8efff798038103d269b633813fc60c\",span_id=\"eee19b7ec3c1b174\"}} 3 1700000005\n\
         http_requests_created{{{L},route=\"/a\",{S}}} 1700000000\n"
    );
    assert!(om.contains(&exemplar), "{om}");
    let snap = p.store.snapshot(&Filter::default());
    assert!(snap.series.iter().all(|s| s.time == TIME), "{snap:?}");
    let counter = snap
        .metrics
        .iter()
        .find(|m| &*m.desc.name == "http.requests")
        .unwrap();
    let starts: Vec<u64> = snap.series_of(counter).iter().map(|s| s.start).collect();
    assert_eq!(starts, [START, START]);
}

// === HTTP: partial success ===

#[tokio::test]
async fn bad_points_are_rejected_by_count_and_good_ones_kept() {
    let p = pipeline();
    let mut req = good_request();
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .extend(bad_metrics());
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &req)).await;
    let partial = reply
        .metrics_response()
        .partial_success
        .expect("a partial_success");
    assert_eq!(partial.rejected_data_points, BAD_POINTS);
    assert_eq!(
        partial.error_message,
        "metric \"bad.buckets\": histogram has 2 bounds but 2 bucket counts (want bounds + 1) \
         (4 data points rejected in all)"
    );
    assert_eq!(page(&p), GOOD_PAGE);
    assert_eq!(p.counters.metrics.accepted.load(Ordering::Relaxed), 4);
    assert_eq!(p.counters.metrics.refused.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn partial_success_answers_json_in_json() {
    let p = pipeline();
    let body = serde_json::to_vec(&request_with(bad_metrics())).unwrap();
    let reply = call(&p, MIB, post("/v1/metrics", Some(JSON), body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), JSON);
    let response: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let partial = &response["partialSuccess"];
    // int64 is a string in proto3 JSON; senders must accept a number too.
    let rejected = match &partial["rejectedDataPoints"] {
        serde_json::Value::String(s) => s.parse::<i64>().unwrap(),
        n => n.as_i64().unwrap(),
    };
    assert_eq!(rejected, BAD_POINTS, "{response}");
    let message = partial["errorMessage"].as_str().unwrap();
    assert!(message.contains("bad.buckets"), "{message}");
}

#[tokio::test]
async fn refused_requests_leave_accepted_data_intact() {
    let p = pipeline();
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &good_request())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(page(&p), GOOD_PAGE);

    // Bad points aimed at the very series the good request created.
    let same_series_bad = request_with(vec![
        histogram(
            "latency",
            vec![HistogramDataPoint {
                bucket_counts: vec![100],
                time_unix_nano: TIME + 1,
                ..histogram_point(&[0.1, 1.0], &[100, 0, 0], 99.0, vec![])
            }],
        ),
        sum_with(
            "http.requests",
            0,
            true,
            vec![int_point(1000, vec![kv("route", "/a")])],
        ),
        sum(
            "http.requests",
            vec![NumberDataPoint {
                value: None,
                time_unix_nano: TIME + 1,
                ..int_point(0, vec![kv("route", "/b")])
            }],
        ),
    ]);
    let bytes = good_request().encode_to_vec();
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let mut brotli = post_protobuf("/v1/metrics", &good_request());
    brotli
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "br".parse().unwrap());
    let lying_json = r#"{"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "test"}}]},
        "scopeMetrics": [{"scope": {"name": "test"}, "metrics": [
        {"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": "soon", "asDouble": 99}]}}
    ]}]}]}"#;
    // (what, request, status, rejected points when the answer is a partial success)
    let refused: Vec<(&str, Request<Body>, StatusCode, Option<i64>)> = vec![
        (
            "bad points on the good series",
            post_protobuf("/v1/metrics", &same_series_bad),
            StatusCode::OK,
            Some(3),
        ),
        (
            "bad points on new metrics",
            post_protobuf("/v1/metrics", &request_with(bad_metrics())),
            StatusCode::OK,
            Some(BAD_POINTS),
        ),
        (
            "text/plain",
            post("/v1/metrics", Some("text/plain"), "x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "no Content-Type",
            post("/v1/metrics", None, bytes.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "Content-Encoding: br",
            brotli,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "over the limit",
            post("/v1/metrics", Some(PROTOBUF), vec![0u8; 2 * MIB]),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (
            "corrupt gzip",
            post_gzip("/v1/metrics", PROTOBUF, b"not gzip".to_vec()),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "truncated protobuf",
            post("/v1/metrics", Some(PROTOBUF), truncated),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "malformed JSON",
            post("/v1/metrics", Some(JSON), "{"),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "JSON of the wrong shape",
            post("/v1/metrics", Some(JSON), r#"{"resourceMetrics": 5}"#),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "JSON points that do not parse, on the good series",
            post("/v1/metrics", Some(JSON), lying_json),
            StatusCode::BAD_REQUEST,
            None,
        ),
    ];
    for (what, req, status, rejected) in refused {
        let reply = call(&p, MIB, req).await;
        assert_eq!(reply.status, status, "{what}: {:?}", reply.body);
        if let Some(rejected) = rejected {
            let partial = reply.metrics_response().partial_success;
            assert_eq!(
                partial.map(|ps| ps.rejected_data_points),
                Some(rejected),
                "{what}"
            );
        }
        assert_eq!(page(&p), GOOD_PAGE, "after {what}");
    }
}

// === HTTP: traces and logs ===

#[tokio::test]
async fn traces_and_logs_are_accepted_and_counted() {
    let p = pipeline();
    let reply = call(&p, MIB, post_protobuf("/v1/traces", &traces_request(3))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type(), PROTOBUF);
    assert!(
        reply.body.is_empty(),
        "no partial_success: {:?}",
        reply.body
    );

    let body = serde_json::to_vec(&logs_request(5)).unwrap();
    let reply = call(&p, MIB, post_gzip("/v1/logs", JSON, gzip(&body))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type(), JSON);

    assert_eq!(p.counters.traces.accepted.load(Ordering::Relaxed), 3);
    assert_eq!(p.counters.logs.accepted.load(Ordering::Relaxed), 5);
    assert_eq!(
        page(&p),
        "",
        "traces and logs do not touch the metric store"
    );
}

// === HTTP: type conflicts ===

/// Two services send `work` as a gauge and as a histogram: one Prometheus
/// family, two types. The first type wins; the second service's points are
/// rejected and the page keeps one `# TYPE` for the family.
#[tokio::test]
async fn type_conflict_between_resources_is_a_partial_success() {
    let p = pipeline();
    let first = request_from(vec![resource_metrics(
        vec![kv("service.name", "a")],
        vec![gauge("work", vec![int_point(1, vec![])])],
    )]);
    let second = request_from(vec![resource_metrics(
        vec![kv("service.name", "b")],
        vec![histogram(
            "work",
            vec![
                histogram_point(&[1.0], &[1, 0], 0.5, vec![]),
                histogram_point(&[1.0], &[0, 1], 2.0, vec![kv("k", "v")]),
            ],
        )],
    )]);
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &first)).await;
    assert_eq!(
        reply.metrics_response(),
        ExportMetricsServiceResponse::default()
    );
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &second)).await;
    assert_eq!(
        reply.metrics_response().partial_success,
        Some(ExportMetricsPartialSuccess {
            rejected_data_points: 2,
            error_message:
                "metric family \"work\" already has type gauge, refusing histogram points \
                 (2 data points rejected in all)"
                    .into(),
        })
    );
    assert_eq!(
        page(&p),
        "# TYPE work gauge\nwork{job=\"a\",otel_scope_name=\"test\"} 1\n"
    );
}

/// A counter `foo` is the text family `foo_total`; so is a gauge named
/// `foo_total`. Both in one page would give `foo_total` two `# TYPE` lines,
/// which Prometheus refuses, so the second must be rejected.
#[tokio::test]
async fn counter_and_gauge_meeting_on_one_text_family_is_a_partial_success() {
    let counter = crate::translate::metric_name(
        "foo",
        "",
        crate::translate::OtelKind::Sum { monotonic: true },
    );
    let gauge_name =
        crate::translate::metric_name("foo_total", "", crate::translate::OtelKind::Gauge);
    assert_eq!(counter.family, "foo_total");
    assert_eq!(gauge_name.family, "foo_total");

    let p = pipeline();
    let first = request_from(vec![resource_metrics(
        vec![kv("service.name", "a")],
        vec![sum("foo", vec![int_point(1, vec![])])],
    )]);
    let second = request_from(vec![resource_metrics(
        vec![kv("service.name", "b")],
        vec![gauge("foo_total", vec![int_point(2, vec![])])],
    )]);
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &first)).await;
    assert_eq!(
        reply.metrics_response(),
        ExportMetricsServiceResponse::default()
    );
    let reply = call(&p, MIB, post_protobuf("/v1/metrics", &second)).await;
    let partial = reply
        .metrics_response()
        .partial_success
        .expect("the gauge is rejected");
    assert_eq!(partial.rejected_data_points, 1);
    assert!(partial.error_message.contains("foo_total"), "{partial:?}");
    let text = page(&p);
    assert_eq!(text.matches("# TYPE foo_total ").count(), 1, "{text}");
    assert_eq!(
        text,
        "# TYPE foo_total counter\nfoo_total{job=\"a\",otel_scope_name=\"test\"} 1\n"
    );
}

// === gRPC ===

/// A gRPC receiver on 127.0.0.1:0, stopped by [`GrpcServer::stop`].
struct GrpcServer {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl GrpcServer {
    async fn start(pipeline: &TestPipeline, max_message_size: usize) -> GrpcServer {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let grpc = Grpc::new(pipeline.inner.clone(), max_message_size);
        let task = tokio::spawn(async move {
            grpc.serve(
                listener,
                async {
                    let _ = stop.await;
                },
                || {},
            )
            .await
        });
        GrpcServer {
            addr,
            shutdown,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn metrics_client(&self) -> MetricsServiceClient<tonic::transport::Channel> {
        MetricsServiceClient::connect(self.url()).await.unwrap()
    }

    /// Stop the server (drop clients first: graceful shutdown waits for
    /// open connections) and check it ends cleanly and promptly.
    async fn stop(self) {
        self.shutdown.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the gRPC server stops within 5 s")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn grpc_export_lands_in_the_store() {
    let p = pipeline();
    let server = GrpcServer::start(&p, 4 * MIB).await;
    let mut client = server.metrics_client().await;
    let response = client.export(good_request()).await.unwrap().into_inner();
    assert_eq!(response, ExportMetricsServiceResponse::default());
    assert_eq!(page(&p), GOOD_PAGE);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn grpc_partial_success_is_reported() {
    let p = pipeline();
    let server = GrpcServer::start(&p, 4 * MIB).await;
    let mut client = server.metrics_client().await;
    let mut req = good_request();
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .extend(bad_metrics());
    let response = client.export(req).await.unwrap().into_inner();
    let partial = response.partial_success.expect("a partial_success");
    assert_eq!(partial.rejected_data_points, BAD_POINTS);
    assert!(partial.error_message.contains("bad.buckets"), "{partial:?}");
    assert_eq!(page(&p), GOOD_PAGE);
    drop(client);
    server.stop().await;
}

/// tonic refuses a message whose length prefix is over the limit with
/// OUT_OF_RANGE before reading it, and a compressed message that inflates
/// past the limit with RESOURCE_EXHAUSTED.
#[tokio::test]
async fn grpc_message_over_the_limit_is_refused_by_tonic() {
    let p = pipeline();
    let server = GrpcServer::start(&p, 64 * 1024).await;
    // One metric whose description alone is twice the limit; it compresses to ~1 KB.
    let mut big = gauge("big", vec![int_point(1, vec![])]);
    big.description = "x".repeat(128 * 1024);
    let req = request_with(vec![big]);

    let mut client = server.metrics_client().await;
    let status = client.export(req.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("the limit is: 65536 bytes"),
        "{status:?}"
    );

    let mut client = client.send_compressed(CompressionEncoding::Gzip);
    let status = client.export(req).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("65536 bytes"), "{status:?}");

    assert_eq!(page(&p), "");
    // The connection is still good for a message within the limit.
    let response = client.export(good_request()).await.unwrap().into_inner();
    assert_eq!(response, ExportMetricsServiceResponse::default());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn grpc_gzip_requests_are_accepted() {
    let p = pipeline();
    let server = GrpcServer::start(&p, 4 * MIB).await;
    let mut client = server
        .metrics_client()
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let response = client.export(good_request()).await.unwrap().into_inner();
    assert_eq!(response, ExportMetricsServiceResponse::default());
    assert_eq!(page(&p), GOOD_PAGE);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn grpc_traces_and_logs_answer_ok() {
    let p = pipeline();
    let server = GrpcServer::start(&p, 4 * MIB).await;
    let mut traces = TraceServiceClient::connect(server.url()).await.unwrap();
    let response = traces.export(traces_request(2)).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    let mut logs = LogsServiceClient::connect(server.url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let response = logs.export(logs_request(4)).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(p.counters.traces.accepted.load(Ordering::Relaxed), 2);
    assert_eq!(p.counters.logs.accepted.load(Ordering::Relaxed), 4);
    drop((traces, logs));
    server.stop().await;
}

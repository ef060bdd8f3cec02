use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use prost::Message;
use tower::ServiceExt;

use super::*;
use crate::client::{Outcome, Sender, Target};
use crate::generate::{self, Mix, Shape, Temporality};

fn metrics_body(points: usize) -> Vec<u8> {
    let shape = Shape {
        series: points,
        batch: points,
        attrs: 2,
        resources: 2,
        mix: Mix {
            counters: 50,
            gauges: 30,
            histograms: 20,
        },
        temporality: Temporality::Cumulative,
    };
    generate::round(&shape, 1_700_000_000_000_000_000)[0].encode_to_vec()
}

fn state(fail_first: u64, fail: FailStatus, retry_after: Option<Duration>) -> Arc<State> {
    Arc::new(State {
        fail_remaining: AtomicU64::new(fail_first),
        fail_status: Some(fail),
        retry_after,
        ..State::default()
    })
}

#[test]
fn fails_the_first_n_requests_then_counts_points() {
    let s = state(2, FailStatus::Unavailable, None);
    let body = metrics_body(300);
    assert_eq!(
        s.accept::<Metrics>(&body, false),
        Err(Refusal::Injected(FailStatus::Unavailable))
    );
    assert_eq!(
        s.accept::<Metrics>(&body, false),
        Err(Refusal::Injected(FailStatus::Unavailable))
    );
    assert_eq!(s.accept::<Metrics>(&body, false), Ok(()));
    let c = s.counts();
    assert_eq!(c["requests"], 3);
    assert_eq!(c["failed"], 2);
    assert_eq!(c["metrics"]["requests"], 1);
    assert_eq!(c["metrics"]["points"], 300);
    assert_eq!(c["bytes"], body.len() as u64);
}

#[test]
fn no_decode_counts_requests_and_bytes_only() {
    let s = Arc::new(State {
        no_decode: true,
        ..State::default()
    });
    assert_eq!(s.accept::<Metrics>(b"not protobuf at all", false), Ok(()));
    let c = s.counts();
    assert_eq!(c["metrics"]["requests"], 1);
    assert_eq!(c["metrics"]["points"], 0);
    assert_eq!(c["bytes"], 19);
    assert_eq!(c["decoded"], false);
}

#[test]
fn malformed_requests_are_refused_and_counted() {
    let s = state(0, FailStatus::Unavailable, None);
    assert!(matches!(
        s.accept::<Traces>(&[0x0a, 0x05, 0x00], false),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        s.accept::<Logs>(b"{", true),
        Err(Refusal::Malformed(_))
    ));
    let c = s.counts();
    assert_eq!(c["decode_errors"], 2);
    assert_eq!(c["failed"], 2);
}

async fn post(
    router: Router,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap) {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn http_accepts_gzip_protobuf_and_json() {
    let s = state(0, FailStatus::Unavailable, None);
    let gz = crate::client::gzip_bytes(&metrics_body(100))
        .unwrap()
        .to_vec();
    let proto = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "gzip"),
    ];
    let (status, _) = post(otlp_http::router(s.clone()), "/v1/metrics", &proto, gz).await;
    assert_eq!(status, StatusCode::OK);
    let traces = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a","kind":1},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"b","kind":1}]}]}]}"#;
    let json = [("content-type", "application/json")];
    let (status, _) = post(
        otlp_http::router(s.clone()),
        "/v1/traces",
        &json,
        traces.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let c = s.counts();
    assert_eq!(c["metrics"]["points"], 100);
    assert_eq!(c["traces"]["spans"], 2);
}

#[tokio::test]
async fn http_injected_failures_carry_retry_after() {
    for (fail, want) in [
        (FailStatus::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        (FailStatus::TooManyRequests, StatusCode::TOO_MANY_REQUESTS),
        (FailStatus::BadRequest, StatusCode::BAD_REQUEST),
    ] {
        let s = state(1, fail, Some(Duration::from_millis(1500)));
        let proto = [("content-type", "application/x-protobuf")];
        let (status, headers) = post(
            otlp_http::router(s.clone()),
            "/v1/metrics",
            &proto,
            metrics_body(10),
        )
        .await;
        assert_eq!(status, want);
        assert_eq!(headers["retry-after"], "2", "rounded up to whole seconds");
        let (status, _) = post(
            otlp_http::router(s),
            "/v1/metrics",
            &proto,
            metrics_body(10),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "only the first request fails");
    }
}

/// Starts the gRPC side on an ephemeral port.
async fn grpc_sink(s: Arc<State>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(otlp_grpc::serve(listener, s));
    addr
}

#[tokio::test]
async fn grpc_round_trip_through_the_load_client() {
    let s = state(1, FailStatus::Unavailable, None);
    let addr = grpc_sink(s.clone()).await;
    for gzip in [false, true] {
        let mut sender = Sender::connect(&Target::Grpc(addr.clone()), gzip, Duration::from_secs(5))
            .await
            .unwrap();
        let body = Bytes::from(metrics_body(250));
        let first = sender.send(body.clone()).await;
        if !gzip {
            assert_eq!(first, Outcome::Failed("grpc UNAVAILABLE".into()));
        } else {
            assert_eq!(first, Outcome::Accepted { rejected: 0 });
        }
        assert_eq!(sender.send(body).await, Outcome::Accepted { rejected: 0 });
    }
    assert_eq!(s.counts()["metrics"]["points"], 750);
}

#[tokio::test]
async fn grpc_injected_failures_carry_retry_info() {
    let s = state(
        1,
        FailStatus::TooManyRequests,
        Some(Duration::from_millis(2500)),
    );
    let addr = grpc_sink(s).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    );
    let status = client
        .unary(
            tonic::Request::new(Bytes::from(metrics_body(5))),
            path,
            crate::codec::Raw,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = RpcStatus::decode(status.details()).unwrap();
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    let info = RetryInfo::decode(&details.details[0].value[..]).unwrap();
    assert_eq!(
        info.retry_delay,
        Some(ProtoDuration {
            seconds: 2,
            nanos: 500_000_000
        })
    );
}

#[tokio::test]
async fn http_round_trip_through_the_load_client() {
    let s = state(1, FailStatus::Unavailable, None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, otlp_http::router(s.clone())).await });
    let mut sender = Sender::connect(&Target::Http(base), true, Duration::from_secs(5))
        .await
        .unwrap();
    let body = Bytes::from(metrics_body(40));
    assert_eq!(
        sender.send(body.clone()).await,
        Outcome::Failed("http 503".into())
    );
    assert_eq!(sender.send(body).await, Outcome::Accepted { rejected: 0 });
}

//! Whole collectors in one process: one forwarding to another over OTLP/gRPC and OTLP/HTTP.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;

use super::{Running, start};
use crate::config::Config;
use crate::test_support::{int_point, kv, logs_request, request_with, sum};

async fn collector(yaml: &str) -> Running {
    let config = Config::from_yaml_str(yaml, "test").unwrap();
    start(&config).await.unwrap()
}

/// The zero-config pipeline on free ports: the upstream.
async fn upstream() -> Running {
    collector(
        "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}, http: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}}
",
    )
    .await
}

async fn wait_for_series(upstream: &Running, n: usize) {
    let store = upstream.store.as_deref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.series_count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.series_count(), n);
}

#[tokio::test]
async fn metrics_are_forwarded_over_grpc_and_http_and_logs_are_counted_sent() {
    let up = upstream().await;
    let grpc = up.grpc_addr.unwrap();
    let http = up.http_addr.unwrap();
    let gateway = collector(&format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters:
  otlp:
    endpoint: {grpc}
    tls: {{insecure: true}}
  otlphttp/second:
    endpoint: http://{http}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [otlp, otlphttp/second]}}
    logs: {{receivers: [otlp], exporters: [otlp]}}
"
    ))
    .await;
    let mut client =
        MetricsServiceClient::connect(format!("http://{}", gateway.grpc_addr.unwrap()))
            .await
            .unwrap();
    let request = request_with(vec![sum(
        "forwarded",
        vec![
            int_point(5, vec![kv("a", "1")]),
            int_point(6, vec![kv("a", "2")]),
        ],
    )]);
    let response = client.export(request).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    wait_for_series(&up, 2).await;
    let mut logs = LogsServiceClient::connect(format!("http://{}", gateway.grpc_addr.unwrap()))
        .await
        .unwrap();
    logs.export(logs_request(3)).await.unwrap();
    // The upstream has no logs pipeline: it acknowledges and counts them as dropped.
    let counters = up.counters.values().next().unwrap().grpc.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters
        .logs
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed)
        < 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        counters
            .logs
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let sent = || -> Vec<(String, u64)> {
        gateway
            .forwarding
            .iter()
            .map(|f| {
                (
                    f.id.to_string(),
                    f.stats
                        .sent_items
                        .load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect()
    };
    let want = [("otlp".to_string(), 5), ("otlphttp/second".to_string(), 2)];
    // The consumer counts a batch once the upstream's answer is in, just after the upstream
    // counted it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent() != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sent(), want);
    drop(client);
    drop(logs);
    gateway.shutdown().await;
    up.shutdown().await;
}

/// An OTLP/HTTP upstream that answers each request with the next scripted status (then 200),
/// recording when each request arrived.
struct ScriptedUpstream {
    addr: std::net::SocketAddr,
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedUpstream {
    async fn start(script: Vec<(u16, Option<&'static str>)>) -> ScriptedUpstream {
        use axum::http::{HeaderValue, StatusCode, header};
        use axum::response::IntoResponse;
        let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
            script,
        )));
        let seen = arrivals.clone();
        let app = axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move || {
                let seen = seen.clone();
                let script = script.clone();
                async move {
                    seen.lock().unwrap().push(Instant::now());
                    let next = script.lock().unwrap().pop_front();
                    match next {
                        None => (StatusCode::OK, Vec::<u8>::new()).into_response(),
                        Some((code, retry_after)) => {
                            let mut resp =
                                (StatusCode::from_u16(code).unwrap(), "scripted failure")
                                    .into_response();
                            if let Some(v) = retry_after {
                                resp.headers_mut()
                                    .insert(header::RETRY_AFTER, HeaderValue::from_static(v));
                            }
                            resp
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedUpstream {
            addr,
            arrivals,
            task,
        }
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

async fn gateway_to(upstream: &ScriptedUpstream) -> Running {
    collector(&format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters:
  otlphttp:
    endpoint: http://{}
    compression: none
    retry_on_failure: {{initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 20s}}
    sending_queue: {{num_consumers: 1, queue_size: 10}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [otlphttp]}}
",
        upstream.addr
    ))
    .await
}

async fn send_one(gateway: &Running) {
    let mut client =
        MetricsServiceClient::connect(format!("http://{}", gateway.grpc_addr.unwrap()))
            .await
            .unwrap();
    client
        .export(request_with(vec![sum(
            "retried",
            vec![int_point(1, vec![])],
        )]))
        .await
        .unwrap();
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_retry_after_from_the_upstream_is_honoured() {
    let upstream = ScriptedUpstream::start(vec![(503, Some("1"))]).await;
    let gateway = gateway_to(&upstream).await;
    send_one(&gateway).await;
    let stats = gateway.forwarding[0].stats.clone();
    wait_until("the retried send", || {
        stats.sent_items.load(std::sync::atomic::Ordering::Relaxed) == 1
    })
    .await;
    let arrivals = upstream.arrivals();
    assert_eq!(arrivals.len(), 2);
    let waited = arrivals[1] - arrivals[0];
    // The backoff alone would have waited at most 100 ms.
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(stats.retries.load(std::sync::atomic::Ordering::Relaxed), 1);
    gateway.shutdown().await;
    upstream.task.abort();
}

#[tokio::test]
async fn a_permanent_error_is_not_retried_and_is_counted() {
    let upstream = ScriptedUpstream::start(vec![(400, None), (400, None)]).await;
    let gateway = gateway_to(&upstream).await;
    send_one(&gateway).await;
    let stats = gateway.forwarding[0].stats.clone();
    wait_until("the dropped batch", || {
        stats
            .failed_items
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    // Give a wrongful retry the time it would need to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.arrivals().len(), 1);
    assert_eq!(
        stats.sent_items.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    gateway.shutdown().await;
    upstream.task.abort();
}

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
    let mut client = MetricsServiceClient::connect(format!("http://{}", gateway.grpc_addr.unwrap()))
        .await
        .unwrap();
    let request = request_with(vec![sum(
        "forwarded",
        vec![int_point(5, vec![kv("a", "1")]), int_point(6, vec![kv("a", "2")])],
    )]);
    let response = client.export(request).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    wait_for_series(&up, 2).await;
    let mut logs = LogsServiceClient::connect(format!("http://{}", gateway.grpc_addr.unwrap()))
        .await
        .unwrap();
    logs.export(logs_request(3)).await.unwrap();
    // The upstream has no logs pipeline: it acknowledges and counts them as dropped.
    let counters = up.counters.values().next().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.logs.dropped.load(std::sync::atomic::Ordering::Relaxed) < 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counters.logs.dropped.load(std::sync::atomic::Ordering::Relaxed), 3);
    let sent = || -> Vec<(String, u64)> {
        gateway
            .forwarding
            .iter()
            .map(|f| (f.id.to_string(), f.stats.sent_items.load(std::sync::atomic::Ordering::Relaxed)))
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

//! The self-telemetry after known traffic: exact figures on the telemetry address and at
//! `/api/v1/self`.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message as _;

use crate::app::{Running, start};
use crate::config::Config;
use crate::test_support::{gauge, int_point, kv, request_with, sum};

async fn collector(upstream_port: u16) -> Running {
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}, http: {{endpoint: 127.0.0.1:0}}}}}}}}
processors:
  filter/drop: {{metrics: {{exclude: {{match_type: strict, metric_names: [dropme]}}}}}}
exporters:
  prometheus: {{endpoint: 127.0.0.1:0}}
  otlphttp/down:
    endpoint: http://127.0.0.1:{upstream_port}
    compression: none
    retry_on_failure: {{initial_interval: 10s, max_interval: 10s, max_elapsed_time: 60s}}
    sending_queue: {{num_consumers: 1, queue_size: 10}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines:
    metrics: {{receivers: [otlp], processors: [filter/drop], exporters: [prometheus, otlphttp/down]}}
"
    );
    let config = Config::from_yaml_str(&yaml, "test").unwrap();
    start(&config).await.unwrap()
}

/// The value of the one series of `name` whose labels include every pair of `labels`.
fn value(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&str> = page
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in\n{page}");
    found[0]
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {:?}", found[0]))
}

#[tokio::test]
async fn figures_after_known_traffic_are_exact() {
    // A port nobody listens on: the forwarding exporter's upstream is down.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_port = down.local_addr().unwrap().port();
    drop(down);
    let vigil = collector(upstream_port).await;

    // 1. gRPC: 2 points of a counter and 1 the filter drops.
    let mut client = MetricsServiceClient::connect(format!("http://{}", vigil.grpc_addr.unwrap()))
        .await
        .unwrap();
    let points = vec![
        int_point(5, vec![kv("k", "a")]),
        int_point(7, vec![kv("k", "b")]),
    ];
    let request = request_with(vec![
        sum("jobs", points),
        gauge("dropme", vec![int_point(1, vec![])]),
    ]);
    client.export(request).await.unwrap();

    // 2. HTTP: the same name as a gauge, a type conflict the store refuses.
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/metrics", vigil.http_addr.unwrap());
    let conflict = request_with(vec![gauge("jobs", vec![int_point(1, vec![])])]);
    let answer = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(conflict.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // 3. HTTP: bytes that are not protobuf.
    let answer = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);

    // The first batch is in flight (retrying against the closed port), the second queued.
    let addr = vigil.telemetry_addr.unwrap();
    let page = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grpc = [("receiver", "otlp"), ("transport", "grpc")];
    let http_t = [("receiver", "otlp"), ("transport", "http")];
    let accepted = "otelcol_receiver_accepted_metric_points_total";
    let refused = "otelcol_receiver_refused_metric_points_total";
    assert_eq!(value(&page, accepted, &grpc), 3.0);
    assert_eq!(value(&page, refused, &grpc), 0.0);
    assert_eq!(value(&page, accepted, &http_t), 0.0);
    assert_eq!(value(&page, refused, &http_t), 1.0);
    assert_eq!(
        value(&page, "vigil_receiver_bad_requests_total", &http_t),
        1.0
    );
    assert_eq!(
        value(&page, "vigil_receiver_bad_requests_total", &grpc),
        0.0
    );
    assert_eq!(
        value(&page, "otelcol_receiver_accepted_spans_total", &grpc),
        0.0
    );

    let filter = [("processor", "filter/drop"), ("otel_signal", "metrics")];
    assert_eq!(
        value(&page, "otelcol_processor_incoming_items_total", &filter),
        4.0
    );
    assert_eq!(
        value(&page, "otelcol_processor_outgoing_items_total", &filter),
        3.0
    );

    let prom = [("exporter", "prometheus")];
    assert_eq!(
        value(&page, "otelcol_exporter_sent_metric_points_total", &prom),
        2.0
    );
    assert_eq!(
        value(
            &page,
            "otelcol_exporter_send_failed_metric_points_total",
            &prom
        ),
        1.0
    );
    assert_eq!(value(&page, "vigil_store_series", &prom), 2.0);
    assert_eq!(value(&page, "vigil_store_families", &prom), 1.0);
    let reason = |r| [("exporter", "prometheus"), ("reason", r)];
    assert_eq!(
        value(
            &page,
            "vigil_store_refused_points_total",
            &reason("type_conflict")
        ),
        1.0
    );
    assert_eq!(
        value(
            &page,
            "vigil_store_refused_points_total",
            &reason("series_limit")
        ),
        0.0
    );
    assert_eq!(
        value(&page, "vigil_store_overflow_points_total", &prom),
        0.0
    );

    let down = [("exporter", "otlphttp/down")];
    assert_eq!(value(&page, "otelcol_exporter_queue_size", &down), 2.0);
    assert_eq!(value(&page, "otelcol_exporter_queue_capacity", &down), 10.0);
    assert_eq!(
        value(&page, "otelcol_exporter_sent_metric_points_total", &down),
        0.0
    );
    assert_eq!(
        value(
            &page,
            "otelcol_exporter_send_failed_metric_points_total",
            &down
        ),
        0.0
    );

    assert!(value(&page, "otelcol_process_memory_rss_bytes", &[]) > 1e6);
    assert!(value(&page, "otelcol_process_cpu_seconds_total", &[]) >= 0.0);
    assert!(value(&page, "otelcol_process_uptime_seconds_total", &[]) > 0.0);
    // The self-telemetry never mixes into the data page.
    let listen = vigil.listen_addr.unwrap();
    let data = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!data.contains("otelcol_"), "{data}");
    assert_eq!(value(&data, "jobs_total", &[("k", "a")]), 5.0);

    // The same figures as JSON on the admin address; a page render is timed.
    let body = reqwest::get(format!("http://{listen}/api/v1/self"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let services = json["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["service"], "vigil-collector");
    let names: Vec<&str> = services[0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for name in [
        "otelcol_receiver_accepted_metric_points",
        "otelcol_exporter_queue_size",
        "vigil_store_series",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let page = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let render = [("exporter", "prometheus"), ("format", "prometheus")];
    assert_eq!(
        value(&page, "vigil_render_duration_seconds_count", &render),
        1.0
    );

    tokio::time::timeout(Duration::from_secs(30), vigil.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_explicit_telemetry_address_in_use_fails_the_start_and_level_none_serves_none() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters: {{prometheus: {{endpoint: 127.0.0.1:0}}}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:{port}}}}}
  pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheus]}}}}
"
    );
    let config = Config::from_yaml_str(&yaml, "test").unwrap();
    let err = start(&config).await.err().expect("the address is taken");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    let none = yaml.replace(&format!("address: 127.0.0.1:{port}"), "level: none");
    let config = Config::from_yaml_str(&none, "test").unwrap();
    let vigil = start(&config).await.unwrap();
    assert_eq!(vigil.telemetry_addr, None);
    vigil.shutdown().await;
}

//! A cardinality flood against the real binary (issue 10): a million points, each of a series
//! never seen before, spread over 200 metrics. The per-metric limit folds points into each
//! metric's overflow series, the store-wide limit refuses the rest in `partial_success`, and the
//! collector's peak resident memory, read from `/proc/<pid>/status` as the kernel counts it,
//! stays under a fixed ceiling: the limits bound memory, whatever the sender does.
//!
//! The ceiling (`PEAK_RSS_MAX`) is about twice what this flood peaks at in a debug build (the
//! profile `cargo test` uses); without the limits the same flood holds a million series, which
//! takes over 600 MB.

mod common;

use std::time::Instant;

use common::{peak_rss, start};
use vigil_store::testing::kv;
use vigil_tests::peers::{TempDir, free_port};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

const METRICS: usize = 200;
const METRICS_PER_REQUEST: usize = 10;
const POINTS_PER_METRIC: usize = 250;
const REQUESTS: usize = 400;
const MAX_SERIES_PER_METRIC: usize = 100;
const MAX_SERIES: usize = 20_000;
/// Peak resident memory allowed to the collector through the flood.
const PEAK_RSS_MAX: u64 = 80 << 20;

/// Request `r`: ten metrics of 250 points, every point a new series (cumulative counters at 1).
fn request(r: usize, now: u64) -> ExportMetricsServiceRequest {
    let metrics = (0..METRICS_PER_REQUEST)
        .map(|j| {
            let m = (r * METRICS_PER_REQUEST + j) % METRICS;
            let points = (0..POINTS_PER_METRIC)
                .map(|p| NumberDataPoint {
                    attributes: vec![kv("id", format!("{r}-{p}"))],
                    start_time_unix_nano: now - 1_000_000_000,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsInt(1)),
                    ..Default::default()
                })
                .collect();
            Metric {
                name: format!("flood.m{m}"),
                data: Some(Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "flood")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// The value of the first sample line starting with `prefix` and holding `part`.
fn sample(page: &str, prefix: &str, part: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(prefix) && l.contains(part))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}…{part} line"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cardinality_flood_is_folded_and_refused_within_a_memory_ceiling() {
    let dir = TempDir::new("flood");
    let (grpc, page, telemetry) = (free_port(), free_port(), free_port());
    let config = dir.path().join("flood.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{page}
    metric_expiration: 1h
    max_series_per_metric: {MAX_SERIES_PER_METRIC}
    max_series: {MAX_SERIES}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:{telemetry}}}}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"
        ),
    )
    .expect("write the config");
    let vigil = start(&config, &[grpc, page, telemetry]);
    let pid = vigil.0.id();
    let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .expect("connect");
    let now = vigil_store::store::unix_nanos(std::time::SystemTime::now());
    let started = Instant::now();
    let mut rejected = 0;
    let mut first_refusal = None;
    for r in 0..REQUESTS {
        let response = client
            .export(request(r, now))
            .await
            .unwrap_or_else(|e| panic!("request {r} failed: {e}"))
            .into_inner();
        if let Some(partial) = response.partial_success {
            rejected += partial.rejected_data_points;
            if partial.rejected_data_points > 0 && first_refusal.is_none() {
                first_refusal = Some(partial.error_message);
            }
        }
        if (r + 1) % 100 == 0 {
            eprintln!(
                "flood: {} of {REQUESTS} requests, {:.1} s, peak RSS {} MiB",
                r + 1,
                started.elapsed().as_secs_f64(),
                peak_rss(pid) >> 20
            );
        }
    }
    let sent = (REQUESTS * METRICS_PER_REQUEST * POINTS_PER_METRIC) as i64;

    // The store is full: every unit of it is a series (100 per metric, plus an overflow
    // series) or a cumulative source an overflow series follows.
    let telemetry_page = reqwest::get(format!("http://127.0.0.1:{telemetry}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("the self-telemetry page")
        .text()
        .await
        .expect("its text");
    assert_eq!(
        sample(&telemetry_page, "vigil_store_series{", ""),
        MAX_SERIES as f64
    );
    let folded = sample(&telemetry_page, "vigil_store_overflow_points_total{", "");
    let refused = sample(
        &telemetry_page,
        "vigil_store_refused_points_total{",
        r#"reason="series_limit""#,
    );
    assert_eq!(refused, rejected as f64);
    // Exactly, in the order the points come: each of the first 99 metrics takes 100 series, its
    // overflow series and 100 sources (201 of the store's 20,000), folding 100 points and
    // refusing the other 50 of its first 250; the 100th metric fills the store with its 100
    // series and its overflow series, and refuses its other 150; everything later is refused.
    assert_eq!(folded, 9_900.0);
    assert_eq!(rejected, sent - 19_900);
    let message = first_refusal.expect("the sender saw refusals");
    assert!(
        message.contains("limit of 100 series for this resource"),
        "{message}"
    );

    // The first metric's overflow series carries one point of each of the 100 sources it
    // follows.
    let page_text = reqwest::get(format!("http://127.0.0.1:{page}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("the /metrics page")
        .text()
        .await
        .expect("its text");
    assert_eq!(
        sample(
            &page_text,
            "flood_m0_total{",
            r#"otel_metric_overflow="true""#
        ),
        MAX_SERIES_PER_METRIC as f64
    );

    let peak = peak_rss(pid);
    eprintln!(
        "flood: {sent} points in {:.1} s, {rejected} refused, {folded} folded, peak RSS {} MiB",
        started.elapsed().as_secs_f64(),
        peak >> 20
    );
    assert!(
        peak < PEAK_RSS_MAX,
        "peak RSS {} MiB is over the ceiling of {} MiB",
        peak >> 20,
        PEAK_RSS_MAX >> 20
    );
    drop(vigil);
}

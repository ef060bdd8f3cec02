use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Summary,
    SummaryDataPoint, summary_data_point::ValueAtQuantile,
};
use prost::Message;
use tokio_util::sync::CancellationToken;
use vigil_proto::remote_write::{v1, v2};

use super::*;
use crate::exporters::common::testing::serve;
use crate::pipeline::Work;
use crate::processors::Request;
use crate::test_support::*;

// === A remote-write receiver ===

/// What the test receiver got: per request, its message version and its decoded body as 1.0
/// series (2.0 requests are resolved through their symbol table).
#[derive(Clone, Debug, PartialEq)]
enum Got {
    V1(v1::WriteRequest),
    V2(v2::Request),
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Got>>,
    /// The `X-Scope-OrgID` of each request taken.
    tenants: Mutex<Vec<Option<String>>>,
    /// Answers to give, in order; then 204 (with the 2.0 `-Written` headers for 2.0).
    script: Mutex<VecDeque<(StatusCode, &'static str, bool)>>,
}

async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let r = receiver.clone();
    let router = Router::new().route(
        "/api/v1/write",
        post(move |headers: HeaderMap, body: Bytes| {
            let r = r.clone();
            async move {
                let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                let v2 = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("io.prometheus.write.v2.Request"));
                let scripted = r.script.lock().unwrap().pop_front();
                let (status, text, confirm) =
                    scripted.unwrap_or((StatusCode::NO_CONTENT, "", true));
                if status.is_success() {
                    let tenant = headers
                        .get("x-scope-orgid")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    r.tenants.lock().unwrap().push(tenant);
                    r.got.lock().unwrap().push(if v2 {
                        Got::V2(v2::Request::decode(raw.as_slice()).unwrap())
                    } else {
                        Got::V1(v1::WriteRequest::decode(raw.as_slice()).unwrap())
                    });
                }
                let mut h = HeaderMap::new();
                if v2 && confirm && status.is_success() {
                    h.insert(
                        "x-prometheus-remote-write-samples-written",
                        "1".parse().unwrap(),
                    );
                }
                (status, h, text)
            }
        }),
    );
    let addr = serve(router, None).await;
    format!("http://{addr}/api/v1/write")
}

fn settings(yaml: &str) -> Settings {
    let config: Config = serde_yaml::from_str(yaml).unwrap();
    config.validate().unwrap()
}

async fn exporter(yaml: &str) -> (Arc<RemoteWrite>, Arc<Receiver>, CancellationToken) {
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;
    let s = settings(&format!("endpoint: {url}\n{yaml}"));
    let stop = CancellationToken::new();
    let e = RemoteWrite::start("prometheusremotewrite", &s, &stop).unwrap();
    (e, receiver, stop)
}

async fn send(e: &RemoteWrite, req: ExportMetricsServiceRequest) -> Accepted {
    let mut work = Work::decoded(Request::Metrics(req));
    e.export(&mut work).await.unwrap()
}

/// Waits (bounded) until the receiver holds `n` requests.
async fn wait_for(r: &Receiver, n: usize) -> Vec<Got> {
    for _ in 0..200 {
        if r.got.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.got.lock().unwrap().clone()
}

/// Every sample received, as `(sorted labels, value, timestamp ms)`.
fn samples(got: &[Got]) -> Vec<(BTreeMap<String, String>, f64, i64)> {
    let mut out = Vec::new();
    for g in got {
        match g {
            Got::V1(w) => {
                for ts in &w.timeseries {
                    let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
                    let mut sorted = names.clone();
                    sorted.sort();
                    assert_eq!(names, sorted, "labels must be sorted");
                    let labels: BTreeMap<_, _> = ts
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect();
                    for s in &ts.samples {
                        out.push((labels.clone(), s.value, s.timestamp));
                    }
                }
            }
            Got::V2(r) => {
                assert_eq!(r.symbols.first().map(String::as_str), Some(""));
                for ts in &r.timeseries {
                    let labels: BTreeMap<_, _> = ts
                        .labels_refs
                        .chunks(2)
                        .map(|p| {
                            (
                                r.symbols[p[0] as usize].clone(),
                                r.symbols[p[1] as usize].clone(),
                            )
                        })
                        .collect();
                    for s in &ts.samples {
                        out.push((labels.clone(), s.value, s.timestamp));
                    }
                }
            }
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const MS: i64 = (TIME / 1_000_000) as i64;

fn delta_sum(value: i64, start: u64, time: u64) -> ExportMetricsServiceRequest {
    let mut p = int_point(value, vec![kv("route", "/a")]);
    p.start_time_unix_nano = start;
    p.time_unix_nano = time;
    request_with(vec![sum_with(
        "http.requests",
        AggregationTemporality::Delta as i32,
        true,
        vec![p],
    )])
}

// === Tests ===

#[tokio::test]
async fn each_tenant_has_its_own_cumulative_state_and_header() {
    let (e, r, _stop) = exporter(
        "target_info: {enabled: false}\ntenant_header: X-Scope-OrgID\nremote_write_queue: {num_consumers: 1}",
    )
    .await;
    let step = 10_000_000_000;
    // The same delta series from two tenants and the implicit one: three counts, not one sum.
    for (tenant, value) in [(Some("team-a"), 5), (Some("team-b"), 7), (None, 11)] {
        let mut work = Work::decoded(Request::Metrics(delta_sum(value, START, START + step)));
        work.tenant = tenant.map(Into::into);
        e.export(&mut work).await.unwrap();
    }
    let got = wait_for(&r, 3).await;
    let values: Vec<f64> = samples(&got).into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(values, [5.0, 7.0, 11.0]);
    assert_eq!(
        *r.tenants.lock().unwrap(),
        [Some("team-a".to_owned()), Some("team-b".to_owned()), None]
    );
    // A queued body carries its tenant, and one without reads as the implicit tenant's.
    let frames = vec![wire::frame(Protocol::V1, 1, b"x").unwrap()];
    let body = wire::join(Some("team-a"), &frames);
    assert_eq!(
        wire::split(&body),
        Ok((Some("team-a".to_owned()), frames.clone()))
    );
    assert_eq!(wire::split(&wire::join(None, &frames)), Ok((None, frames)));
}

#[tokio::test]
async fn without_a_tenant_header_tenants_share_one_stream_per_series() {
    let (e, r, _stop) =
        exporter("target_info: {enabled: false}\nremote_write_queue: {num_consumers: 1}").await;
    let step = 10_000_000_000;
    // The database cannot tell the tenants apart: one count, not three under the same labels.
    for (i, (tenant, value)) in [(Some("team-a"), 5), (Some("team-b"), 7), (None, 11)]
        .into_iter()
        .enumerate()
    {
        let start = START + i as u64 * step;
        let mut work = Work::decoded(Request::Metrics(delta_sum(value, start, start + step)));
        work.tenant = tenant.map(Into::into);
        e.export(&mut work).await.unwrap();
    }
    let got = wait_for(&r, 3).await;
    let values: Vec<f64> = samples(&got).into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(values, [5.0, 12.0, 23.0]);
    assert_eq!(*r.tenants.lock().unwrap(), [None, None, None]);
}

#[tokio::test]
async fn deltas_are_written_as_the_cumulative_sums_of_the_store() {
    let (e, r, _stop) = exporter("target_info: {enabled: false}").await;
    let step = 10_000_000_000;
    send(&e, delta_sum(5, START, START + step)).await;
    send(&e, delta_sum(7, START + step, START + 2 * step)).await;
    let got = wait_for(&r, 2).await;
    let series = labels(&[
        ("__name__", "http_requests_total"),
        ("job", "test"),
        ("otel_scope_name", "test"),
        ("route", "/a"),
    ]);
    let ms = |t: u64| (t / 1_000_000) as i64;
    assert_eq!(
        samples(&got),
        vec![
            (series.clone(), 5.0, ms(START + step)),
            (series, 12.0, ms(START + 2 * step)),
        ]
    );
    assert!(matches!(got[0], Got::V1(_)));
}

#[tokio::test]
async fn histograms_summaries_and_target_info_follow_the_metrics_page() {
    let (e, r, _stop) = exporter("export_created_metric: {enabled: true}").await;
    let mut req = request_with(vec![
        histogram(
            "latency",
            vec![histogram_point(&[0.1, 1.0], &[2, 3, 1], 4.5, vec![])],
        ),
        metric(
            "work",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    start_time_unix_nano: START,
                    time_unix_nano: TIME,
                    count: 4,
                    sum: 10.0,
                    quantile_values: vec![ValueAtQuantile {
                        quantile: 0.5,
                        value: 2.0,
                    }],
                    ..Default::default()
                }],
            }),
        ),
    ]);
    req.resource_metrics[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(kv("host.name", "h1"));
    req.resource_metrics[0].scope_metrics[0].metrics[0].unit = "s".to_owned();
    send(&e, req).await;
    let got = wait_for(&r, 1).await;
    let base = [("job", "test"), ("otel_scope_name", "test")];
    let with = |name: &str, extra: &[(&str, &str)]| {
        let mut l: Vec<(&str, &str)> = base.to_vec();
        l.push(("__name__", name));
        l.extend_from_slice(extra);
        labels(&l)
    };
    let created = START as f64 / 1e9;
    let mut expected = vec![
        (with("latency_seconds_bucket", &[("le", "0.1")]), 2.0, MS),
        (with("latency_seconds_bucket", &[("le", "1")]), 5.0, MS),
        (with("latency_seconds_bucket", &[("le", "+Inf")]), 6.0, MS),
        (with("latency_seconds_sum", &[]), 4.5, MS),
        (with("latency_seconds_count", &[]), 6.0, MS),
        (with("latency_seconds_created", &[]), created, MS),
        (with("work", &[("quantile", "0.5")]), 2.0, MS),
        (with("work_sum", &[]), 10.0, MS),
        (with("work_count", &[]), 4.0, MS),
        (with("work_created", &[]), created, MS),
        (
            labels(&[
                ("__name__", "target_info"),
                ("job", "test"),
                ("host_name", "h1"),
            ]),
            1.0,
            MS,
        ),
    ];
    let mut got = samples(&got);
    let key = |s: &(BTreeMap<String, String>, f64, i64)| format!("{:?}", s.0);
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
}

fn exp_request(scale: i32, offset: i32, counts: Vec<u64>) -> ExportMetricsServiceRequest {
    let count = counts.iter().sum::<u64>() + 1;
    request_with(vec![metric(
        "size",
        Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: START,
                time_unix_nano: TIME,
                count,
                sum: Some(20.0),
                scale,
                zero_count: 1,
                positive: Some(Buckets {
                    offset,
                    bucket_counts: counts,
                }),
                ..Default::default()
            }],
        }),
    )])
}

#[tokio::test]
async fn exponential_histograms_are_native_in_2_0_and_classic_in_1_0() {
    let (e, r, _stop) =
        exporter("protobuf_message: io.prometheus.write.v2.Request\ntarget_info: {enabled: false}")
            .await;
    // Scale 0: OTLP bucket 1 is (2, 4], Prometheus bucket 2; buckets 1, 2 (empty), 3.
    send(&e, exp_request(0, 1, vec![3, 0, 2])).await;
    let got = wait_for(&r, 1).await;
    let Got::V2(req) = &got[0] else {
        panic!("expected 2.0, got {got:?}")
    };
    let h = &req.timeseries[0].histograms[0];
    assert_eq!(
        (h.count_int, h.sum, h.schema, h.zero_count_int, h.timestamp),
        (6, 20.0, 0, 1, MS)
    );
    // One span from index 2 holding three buckets (a lone empty bucket stays inside).
    assert_eq!(
        h.positive_spans,
        vec![v2::BucketSpan {
            offset: 2,
            length: 3
        }]
    );
    assert_eq!(h.positive_deltas, vec![3, -3, 2]);
    assert_eq!(
        req.timeseries[0].created_timestamp,
        (START / 1_000_000) as i64
    );
    let meta = req.timeseries[0].metadata.clone().unwrap();
    assert_eq!(meta.r#type, 3);

    // The same histogram through 1.0: classic buckets at the exponential bounds.
    let (e1, r1, _stop1) = exporter("target_info: {enabled: false}").await;
    send(&e1, exp_request(0, 1, vec![3, 0, 2])).await;
    let got1 = wait_for(&r1, 1).await;
    let buckets: Vec<(String, f64)> = samples(&got1)
        .into_iter()
        .filter(|(l, _, _)| l["__name__"] == "size_bucket")
        .map(|(l, v, _)| (l["le"].clone(), v))
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("0".to_owned(), 1.0),
            ("4".to_owned(), 4.0),
            ("16".to_owned(), 6.0),
            ("+Inf".to_owned(), 6.0)
        ]
    );
    // And a queued 2.0 request rewritten as 1.0 says the same.
    let frame = wire::frame(Protocol::V2, 1, &req.encode_to_vec()).unwrap();
    let v1_frame = fallback::to_v1(&frame, false).unwrap();
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&v1_frame.body)
        .unwrap();
    let rewritten = samples(&[Got::V1(v1::WriteRequest::decode(raw.as_slice()).unwrap())]);
    let mut direct = samples(&got1);
    direct.sort_by_key(|s| format!("{:?}", s.0));
    let mut rewritten = rewritten;
    rewritten.sort_by_key(|s| format!("{:?}", s.0));
    assert_eq!(rewritten, direct);
}

#[test]
fn scales_above_8_merge_buckets_down_to_schema_8() {
    let e = crate::store::ExpHistogram {
        scale: 10,
        count: 10,
        sum: Some(1.0),
        min: None,
        max: None,
        zero_count: 0,
        zero_threshold: 0.0,
        // OTLP indices 5..=9 at scale 10 are 1, 1, 1, 2, 2 at scale 8 (index >> 2).
        positive: crate::store::ExpBuckets {
            offset: 5,
            counts: vec![1, 2, 3, 4, 0],
        },
        negative: crate::store::ExpBuckets::default(),
    };
    let n = convert::native(&e).unwrap();
    assert_eq!((n.schema, n.positive.clone()), (8, (2, vec![6, 4])));
    let low = crate::store::ExpHistogram { scale: -5, ..e };
    assert_eq!(convert::native(&low), None);
}

#[tokio::test]
async fn a_415_to_2_0_switches_to_1_0_and_resends() {
    let (e, r, _stop) =
        exporter("protobuf_message: io.prometheus.write.v2.Request\ntarget_info: {enabled: false}")
            .await;
    r.script
        .lock()
        .unwrap()
        .push_back((StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported", true));
    send(&e, delta_sum(5, START, TIME)).await;
    let got = wait_for(&r, 1).await;
    assert!(matches!(got[0], Got::V1(_)), "{got:?}");
    assert_eq!(samples(&got).len(), 1);
    assert_eq!(e.protocol(), Protocol::V1);
    // New batches are written as 1.0 at once.
    send(&e, delta_sum(1, TIME, TIME + 1_000_000_000)).await;
    let got = wait_for(&r, 2).await;
    assert!(matches!(got[1], Got::V1(_)));
    assert_eq!(samples(&got)[1].1, 6.0);
}

#[tokio::test]
async fn a_2xx_without_the_written_headers_means_a_1_0_receiver() {
    let (e, r, _stop) =
        exporter("protobuf_message: io.prometheus.write.v2.Request\ntarget_info: {enabled: false}")
            .await;
    // A 1.0-only receiver answers 204 to anything; the test receiver records it as 2.0.
    r.script
        .lock()
        .unwrap()
        .push_back((StatusCode::NO_CONTENT, "", false));
    send(&e, delta_sum(5, START, TIME)).await;
    let got = wait_for(&r, 2).await;
    assert!(
        matches!(got[0], Got::V2(_)) && matches!(got[1], Got::V1(_)),
        "{got:?}"
    );
    assert_eq!(samples(&got[1..]).len(), 1);
    assert_eq!(e.protocol(), Protocol::V1);
}

#[tokio::test]
async fn refusals_are_counted_per_cause_and_never_retried() {
    let (e, r, _stop) = exporter("target_info: {enabled: false}").await;
    r.script.lock().unwrap().push_back((
        StatusCode::BAD_REQUEST,
        "out of order sample for series http_requests_total",
        true,
    ));
    send(&e, delta_sum(5, START, TIME)).await;
    send(&e, delta_sum(1, TIME, TIME + 1_000_000_000)).await;
    let got = wait_for(&r, 1).await;
    // The refused request is not sent again: the next one is the second batch.
    assert_eq!(
        samples(&got).iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![6.0]
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.got.lock().unwrap().len(), 1);
    assert_eq!(e.refusals.counts(), BTreeMap::from([("out_of_order", 1)]));
    assert_eq!(
        e.stats
            .rejected_items
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_503_is_retried_until_written() {
    let (e, r, _stop) = exporter("target_info: {enabled: false}").await;
    {
        let mut script = r.script.lock().unwrap();
        script.push_back((StatusCode::SERVICE_UNAVAILABLE, "busy", true));
        script.push_back((StatusCode::SERVICE_UNAVAILABLE, "busy", true));
    }
    send(&e, delta_sum(5, START, TIME)).await;
    let got = wait_for(&r, 1).await;
    assert_eq!(
        samples(&got).iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![5.0]
    );
    assert_eq!(
        e.stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn each_series_keeps_its_order_across_shards() {
    let (e, r, _stop) =
        exporter("target_info: {enabled: false}\nremote_write_queue: {num_consumers: 4}").await;
    let step = 1_000_000_000;
    for i in 0..30u64 {
        let points = (0..8)
            .map(|k| {
                let mut p = int_point(1, vec![kv("k", k)]);
                p.start_time_unix_nano = START + i * step;
                p.time_unix_nano = START + (i + 1) * step;
                p
            })
            .collect();
        send(
            &e,
            request_with(vec![sum_with(
                "c",
                AggregationTemporality::Delta as i32,
                true,
                points,
            )]),
        )
        .await;
    }
    for _ in 0..200 {
        if samples(&r.got.lock().unwrap()).len() >= 240 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = samples(&r.got.lock().unwrap());
    assert_eq!(all.len(), 240);
    let mut per_series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (l, v, _) in all {
        per_series.entry(l["k"].clone()).or_default().push(v);
    }
    let in_order: Vec<f64> = (1..=30).map(f64::from).collect();
    assert_eq!(per_series.len(), 8);
    for values in per_series.values() {
        assert_eq!(values, &in_order);
    }
}

#[tokio::test]
async fn labels_names_and_metadata_follow_the_settings() {
    let (e, r, _stop) = exporter(
        "namespace: acme\nadd_metric_suffixes: false\nsend_metadata: true\ntarget_info: {enabled: false}\nexternal_labels: {cluster: c1, route: ignored}\nresource_to_telemetry_conversion: {enabled: true}",
    )
    .await;
    let mut req = delta_sum(5, START, TIME);
    req.resource_metrics[0].scope_metrics[0].metrics[0].unit = "By".to_owned();
    req.resource_metrics[0].scope_metrics[0].metrics[0].description = "Requests.".to_owned();
    send(&e, req).await;
    let got = wait_for(&r, 1).await;
    assert_eq!(
        samples(&got),
        vec![(
            labels(&[
                ("__name__", "acme_http_requests"),
                ("cluster", "c1"),
                ("job", "test"),
                ("otel_scope_name", "test"),
                ("route", "/a"),
                ("service_name", "test"),
            ]),
            5.0,
            MS
        )]
    );
    let Got::V1(w) = &got[0] else { panic!() };
    assert_eq!(
        w.metadata,
        vec![v1::MetricMetadata {
            r#type: 1,
            metric_family_name: "acme_http_requests".to_owned(),
            help: "Requests.".to_owned(),
            unit: "bytes".to_owned(),
        }]
    );
}

#[tokio::test]
async fn requests_are_cut_at_max_batch_size_bytes() {
    let (e, r, _stop) =
        exporter("target_info: {enabled: false}\nmax_batch_size_bytes: 4096\nremote_write_queue: {num_consumers: 1}").await;
    let points = (0..200).map(|k| int_point(1, vec![kv("k", k)])).collect();
    send(&e, request_with(vec![sum("c", points)])).await;
    for _ in 0..200 {
        if samples(&r.got.lock().unwrap()).len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = r.got.lock().unwrap().clone();
    assert_eq!(samples(&got).len(), 200);
    assert!(got.len() >= 3, "{} requests", got.len());
    for g in &got {
        let Got::V1(w) = g else { panic!() };
        // A request is cut once it reaches the limit: at most one series beyond it.
        assert!(w.encoded_len() < 4096 + 200, "{} bytes", w.encoded_len());
    }
}

#[test]
fn configuration_errors_name_the_key() {
    let err = |yaml: &str| {
        serde_yaml::from_str::<Config>(yaml)
            .unwrap()
            .validate()
            .unwrap_err()
    };
    assert_eq!(
        err("{}"),
        "endpoint: required (the receiver's URL, e.g. \"http://prometheus:9090/api/v1/write\")"
    );
    assert_eq!(
        err("endpoint: http://p/api/v1/write\nprotobuf_message: v3"),
        "protobuf_message: \"v3\" is not a remote-write message (expected \"prometheus.WriteRequest\" or \"io.prometheus.write.v2.Request\")"
    );
    assert_eq!(
        err("endpoint: http://p/\nexternal_labels: {__x: y}"),
        "external_labels: \"__x\" is not a label name (letters, digits and _, not starting with a digit or __)"
    );
    assert_eq!(
        err("endpoint: http://p/\nwal: {buffer_size: 3}"),
        "wal.directory: required when wal is set"
    );
    assert_eq!(
        err("endpoint: http://p/\nremote_write_queue: {num_consumers: 0}"),
        "remote_write_queue.num_consumers: 0 is out of range (1 to 256)"
    );
    assert_eq!(
        err("endpoint: http://p/\ncompression: gzip"),
        "compression: \"gzip\" is not supported: remote-write bodies are snappy-compressed"
    );
    let e = serde_yaml::from_str::<Config>("endpoint: x\nqueue: {}").unwrap_err();
    assert!(e.to_string().contains("unknown field `queue`"), "{e}");
    let s = settings("endpoint: http://p:9090/api/v1/write");
    assert_eq!(
        (
            s.shards,
            s.shard_capacity,
            s.protocol,
            s.max_batch_bytes,
            s.target_info
        ),
        (5, 2000, Protocol::V1, 3_000_000, true)
    );
    assert_eq!(
        (
            s.retry.initial_interval,
            s.retry.max_interval,
            s.retry.max_elapsed_time
        ),
        (
            Duration::from_millis(50),
            Duration::from_millis(200),
            Some(Duration::from_secs(60))
        )
    );
}

#[test]
fn label_text_reads_back_with_its_escapes() {
    let parsed = convert::parse_labels(r#"job="a",k="x\"y\\z\nw",e="""#);
    let pairs: Vec<(&str, &str)> = parsed.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(pairs, vec![("job", "a"), ("k", "x\"y\\z\nw"), ("e", "")]);
}

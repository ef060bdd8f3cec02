//! Store throughput: OTLP decode + ingest in steady state, and Prometheus /
//! OpenMetrics rendering of a 200,000-series store.
//!
//! Run with `cargo bench -p vigil-collector --bench store` (add a filter such
//! as `-- ingest` or `-- render` to run one group). Targets from the issue:
//! at least 700,000 points/s/core decoded and ingested, and 200,000 series
//! rendered in under 200 ms. Memory per series is measured separately by
//! `cargo run --release -p vigil-collector --example store_memory`.
//!
//! Ingest workload: one resource, one scope, ten metrics (four monotonic
//! cumulative int counters, three double gauges, three explicit histograms
//! with 10 bounds / 11 buckets and min/max), each with 1,000 series from
//! three string attributes (`host` × `route` × `status` = 10 × 20 × 5). That
//! is 10,000 series, sent as ten pre-encoded batches of 1,000 points (one per
//! host, as one SDK per host would send them). The batches are cycled, and the
//! `time_unix_nano` of every point is patched in the encoded bytes before each
//! iteration (fixed64 fields, so in place; outside the timed region), so every
//! point is an in-order update of an existing series. The decoded request is
//! dropped inside the timed region, as the receiver drops it. `decode_only`
//! and `ingest_only` (requests decoded beforehand, timestamps patched in the
//! structs outside the timed region) show the split. After each benchmark the
//! store's counters are checked: no out-of-order points, resets or rejections,
//! and still exactly 10,000 series.
//!
//! Render workload: 200,000 series over 100 metrics of 2,000 series each
//! (`host` × `route` × `status` = 20 × 20 × 5): "mixed" is 35 counters, 35
//! gauges and 30 histograms (11 buckets each); "scalar" is 50 counters and 50
//! gauges. Each iteration takes a snapshot and renders it, as a scrape does.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    metric::Data, number_data_point,
};
use prost::Message;
use std::sync::atomic::Ordering;
use vigil_collector::export::prometheus::{self, Format};
use vigil_collector::store::{Filter, Options, Store, otlp};

mod common;
use common::{BASE_NS, DURATION_BOUNDS, START_NS, attr_sets, request};

/// Placeholder `time_unix_nano` in the encoded batches, found and patched per iteration.
const SENTINEL_NS: u64 = 0x1A2B_3C4D_5E6F_7081;

const SIZE_BOUNDS: [f64; 10] = [
    100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 50000.0, 100000.0,
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

struct MetricDef {
    name: String,
    unit: &'static str,
    description: &'static str,
    kind: Kind,
}

fn ingest_metrics() -> Vec<MetricDef> {
    let def = |name: &str, unit, description, kind| MetricDef {
        name: name.to_string(),
        unit,
        description,
        kind,
    };
    vec![
        def(
            "http.server.requests",
            "{request}",
            "Requests served.",
            Kind::Counter,
        ),
        def(
            "http.server.errors",
            "{error}",
            "Requests that failed.",
            Kind::Counter,
        ),
        def(
            "http.server.request.bytes",
            "By",
            "Request bytes read.",
            Kind::Counter,
        ),
        def(
            "http.server.response.bytes",
            "By",
            "Response bytes written.",
            Kind::Counter,
        ),
        def(
            "http.server.active_requests",
            "{request}",
            "Requests in flight.",
            Kind::Gauge,
        ),
        def(
            "http.server.queue.depth",
            "{request}",
            "Requests queued.",
            Kind::Gauge,
        ),
        def(
            "http.server.cpu.utilization",
            "1",
            "CPU used per route.",
            Kind::Gauge,
        ),
        def(
            "http.server.request.duration",
            "s",
            "Duration of HTTP server requests.",
            Kind::Histogram(&DURATION_BOUNDS),
        ),
        def(
            "http.server.request.body.size",
            "By",
            "Size of HTTP server request bodies.",
            Kind::Histogram(&SIZE_BOUNDS),
        ),
        def(
            "http.server.response.body.size",
            "By",
            "Size of HTTP server response bodies.",
            Kind::Histogram(&SIZE_BOUNDS),
        ),
    ]
}

/// `count` metrics: the last `histograms` of them histograms, the others
/// alternating counter and gauge.
fn render_metrics(count: usize, histograms: usize) -> Vec<MetricDef> {
    (0..count)
        .map(|i| {
            let (kind, unit, stem) = if i >= count - histograms {
                let bounds: &'static [f64] = if i % 2 == 0 {
                    &DURATION_BOUNDS
                } else {
                    &SIZE_BOUNDS
                };
                (Kind::Histogram(bounds), "s", "duration")
            } else if i % 2 == 0 {
                (Kind::Counter, "{request}", "requests")
            } else {
                (Kind::Gauge, "{request}", "inflight")
            };
            MetricDef {
                name: format!("app.component{i:03}.{stem}"),
                unit,
                description: "Synthetic metric for the render benchmark.",
                kind,
            }
        })
        .collect()
}

/// One metric's points for the given attribute sets.
fn metric(def: &MetricDef, sets: &[Vec<KeyValue>], time: u64, seed: u64) -> Metric {
    let data = match def.kind {
        Kind::Counter | Kind::Gauge => {
            let points = sets
                .iter()
                .enumerate()
                .map(|(i, attrs)| {
                    let n = seed + i as u64;
                    NumberDataPoint {
                        attributes: attrs.clone(),
                        start_time_unix_nano: if matches!(def.kind, Kind::Counter) {
                            START_NS
                        } else {
                            0
                        },
                        time_unix_nano: time,
                        value: Some(if matches!(def.kind, Kind::Counter) {
                            number_data_point::Value::AsInt((n * 7919 % 1_000_003) as i64)
                        } else {
                            number_data_point::Value::AsDouble((n % 97) as f64 * 0.37)
                        }),
                        ..Default::default()
                    }
                })
                .collect();
            if matches!(def.kind, Kind::Counter) {
                Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })
            } else {
                Data::Gauge(Gauge {
                    data_points: points,
                })
            }
        }
        Kind::Histogram(bounds) => {
            let points = sets
                .iter()
                .enumerate()
                .map(|(i, attrs)| {
                    let n = seed + i as u64;
                    let counts: Vec<u64> = (0..=bounds.len() as u64)
                        .map(|b| (n * 31 + b * 17) % 400)
                        .collect();
                    let count: u64 = counts.iter().sum();
                    HistogramDataPoint {
                        attributes: attrs.clone(),
                        start_time_unix_nano: START_NS,
                        time_unix_nano: time,
                        count,
                        sum: Some(count as f64 * bounds[3]),
                        bucket_counts: counts,
                        explicit_bounds: bounds.to_vec(),
                        min: Some(bounds[0] / 2.0),
                        max: Some(bounds[bounds.len() - 1] * 1.5),
                        ..Default::default()
                    }
                })
                .collect();
            Data::Histogram(Histogram {
                data_points: points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })
        }
    };
    Metric {
        name: def.name.clone(),
        description: def.description.to_string(),
        unit: def.unit.to_string(),
        data: Some(data),
        ..Default::default()
    }
}

// === ingest ===

/// An encoded batch and the offsets of its points' `time_unix_nano` values.
struct Batch {
    bytes: Vec<u8>,
    time_offsets: Vec<usize>,
    points: u64,
}

impl Batch {
    fn new(req: &ExportMetricsServiceRequest) -> Self {
        let points = otlp::count_points(req);
        let bytes = req.encode_to_vec();
        // `time_unix_nano` is field 3, fixed64, in both point types: tag byte
        // 0x19 followed by 8 little-endian bytes.
        let needle = SENTINEL_NS.to_le_bytes();
        let time_offsets: Vec<usize> = (1..bytes.len().saturating_sub(7))
            .filter(|&i| bytes[i - 1] == 0x19 && bytes[i..i + 8] == needle)
            .collect();
        assert_eq!(
            time_offsets.len() as u64,
            points,
            "every point's timestamp must be patchable"
        );
        Batch {
            bytes,
            time_offsets,
            points,
        }
    }

    fn set_time(&mut self, time: u64) {
        let le = time.to_le_bytes();
        for &at in &self.time_offsets {
            self.bytes[at..at + 8].copy_from_slice(&le);
        }
    }
}

fn set_request_time(req: &mut ExportMetricsServiceRequest, time: u64) {
    for m in req
        .resource_metrics
        .iter_mut()
        .flat_map(|rm| &mut rm.scope_metrics)
        .flat_map(|sm| &mut sm.metrics)
    {
        match &mut m.data {
            Some(Data::Sum(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| p.time_unix_nano = time),
            Some(Data::Gauge(g)) => g
                .data_points
                .iter_mut()
                .for_each(|p| p.time_unix_nano = time),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter_mut()
                .for_each(|p| p.time_unix_nano = time),
            _ => unreachable!("the fixture only has sums, gauges and histograms"),
        }
    }
}

fn ingest_batches() -> Vec<ExportMetricsServiceRequest> {
    let defs = ingest_metrics();
    (0..10)
        .map(|h| {
            let sets = attr_sets(h);
            let metrics = defs
                .iter()
                .enumerate()
                .map(|(m, d)| metric(d, &sets, SENTINEL_NS, (h * 1000 + m * 100) as u64))
                .collect();
            request(metrics)
        })
        .collect()
}

/// Monotonic clock for point timestamps: 10 ms per batch.
struct Clock(u64);

impl Clock {
    fn tick(&mut self) -> u64 {
        self.0 += 10_000_000;
        self.0
    }
}

struct Checked {
    accepted: u64,
    out_of_order: u64,
    resets: u64,
    rejected: u64,
}

fn counters(store: &Store) -> Checked {
    let s = store.stats();
    Checked {
        accepted: s.accepted_points.load(Ordering::Relaxed),
        out_of_order: s.out_of_order_points.load(Ordering::Relaxed),
        resets: s.resets.load(Ordering::Relaxed),
        rejected: s.rejected_points.load(Ordering::Relaxed),
    }
}

/// The steady state held: every point since `before` was an in-order update.
fn assert_steady(store: &Store, before: &Checked, what: &str) {
    let now = counters(store);
    if now.accepted == before.accepted {
        // Filtered out on the command line.
        return;
    }
    assert_eq!(
        now.out_of_order, before.out_of_order,
        "{what}: out-of-order points"
    );
    assert_eq!(now.resets, before.resets, "{what}: resets");
    assert_eq!(now.rejected, before.rejected, "{what}: rejected points");
    assert!(
        now.accepted > before.accepted,
        "{what}: nothing was ingested"
    );
    assert_eq!(store.series_count(), 10_000, "{what}: series count");
    eprintln!(
        "{what}: {} points ingested in steady state, 0 out of order, 0 resets, 0 rejected",
        now.accepted - before.accepted
    );
}

fn bench_ingest(c: &mut Criterion) {
    let requests = ingest_batches();
    let mut batches: Vec<Batch> = requests.iter().map(Batch::new).collect();
    let points: u64 = batches.iter().map(|b| b.points).sum();
    let bytes: usize = batches.iter().map(|b| b.bytes.len()).sum();
    eprintln!(
        "ingest fixture: {} batches, {points} points, {bytes} bytes: {:.1} bytes/point on the wire",
        batches.len(),
        bytes as f64 / points as f64
    );
    let per_batch = batches[0].points;
    assert!(batches.iter().all(|b| b.points == per_batch));

    let store = Store::new(Options::default());
    let mut clock = Clock(BASE_NS);
    // Create all 10,000 series, then one more round of updates.
    for _ in 0..2 {
        for b in &mut batches {
            b.set_time(clock.tick());
            let req = ExportMetricsServiceRequest::decode(&b.bytes[..]).expect("valid batch");
            let report = otlp::ingest_request(&store, &req);
            assert_eq!((report.accepted, report.rejected), (per_batch, 0));
        }
    }
    assert_eq!(store.series_count(), 10_000);
    assert_eq!(counters(&store).out_of_order, 0);

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(per_batch));
    group.measurement_time(Duration::from_secs(10));

    let before = counters(&store);
    let mut next = 0usize;
    group.bench_function("decode_ingest", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = &mut batches[next % 10];
                next += 1;
                batch.set_time(clock.tick());
                let t = Instant::now();
                let req = ExportMetricsServiceRequest::decode(black_box(&batch.bytes[..]))
                    .expect("valid");
                let report = otlp::ingest_request(&store, &req);
                drop(black_box(req));
                total += t.elapsed();
                black_box(report);
            }
            total
        })
    });
    assert_steady(&store, &before, "decode_ingest");

    group.bench_function("decode_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = &batches[next % 10];
                next += 1;
                let t = Instant::now();
                let req = ExportMetricsServiceRequest::decode(black_box(&batch.bytes[..]))
                    .expect("valid");
                drop(black_box(req));
                total += t.elapsed();
            }
            total
        })
    });

    let mut decoded = requests;
    let before = counters(&store);
    group.bench_function("ingest_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let req = &mut decoded[next % 10];
                next += 1;
                set_request_time(req, clock.tick());
                let t = Instant::now();
                let report = otlp::ingest_request(&store, black_box(req));
                total += t.elapsed();
                black_box(report);
            }
            total
        })
    });
    assert_steady(&store, &before, "ingest_only");
    group.finish();
}

// === render ===

/// A store of 20 hosts × 100 attribute sets × `defs.len()` metrics, built the
/// way the collector builds it (decode-free: ingest of generated requests).
fn render_store(defs: &[MetricDef]) -> Store {
    let store = Store::new(Options::default());
    for h in 0..20 {
        let sets = attr_sets(h);
        let metrics = defs
            .iter()
            .enumerate()
            .map(|(m, d)| metric(d, &sets, BASE_NS, (h * 1000 + m * 100) as u64))
            .collect();
        let report = otlp::ingest_request(&store, &request(metrics));
        assert_eq!(report.rejected, 0, "{:?}", report.message);
    }
    store
}

fn bench_render(c: &mut Criterion) {
    // Built on first use, so a filter that skips a variant skips its store.
    let stores: [(&str, OnceCell<Store>, usize); 2] = [
        ("mixed", OnceCell::new(), 30),
        ("scalar", OnceCell::new(), 0),
    ];
    let build = |name: &str, histograms: usize| -> Store {
        let store = render_store(&render_metrics(100, histograms));
        assert_eq!(store.series_count(), 200_000, "{name}");
        let snap = store.snapshot(&Filter::default());
        for format in [Format::Text, Format::OpenMetrics] {
            let text = prometheus::render(&snap, format);
            eprintln!(
                "render fixture {name}/{format:?}: {} series, {} lines, {:.1} MB",
                snap.series.len(),
                text.lines().count(),
                text.len() as f64 / 1e6
            );
        }
        store
    };

    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(200_000));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    for (name, cell, histograms) in &stores {
        let store = || cell.get_or_init(|| build(name, *histograms));
        group.bench_function(BenchmarkId::new("snapshot", name), |b| {
            let store = store();
            b.iter(|| store.snapshot(black_box(&Filter::default())))
        });
        for (label, format) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
            group.bench_function(BenchmarkId::new(label, name), |b| {
                let store = store();
                b.iter(|| {
                    let snap = store.snapshot(black_box(&Filter::default()));
                    prometheus::render(&snap, format)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_ingest, bench_render);
criterion_main!(benches);

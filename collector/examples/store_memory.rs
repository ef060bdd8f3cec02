//! Resident memory per series of the collector's store.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p vigil-collector --example store_memory
//! ```
//!
//! It prints one line per case (10k, 100k and 200k scalar series, 100k
//! histogram series) with the growth of the process's resident set and that
//! growth divided by the number of series. The issue's target is at most 1 KB
//! per series.
//!
//! Method: each case runs in a fresh child process (the example re-executes
//! itself with `--case NAME`), so memory freed by one case cannot be reused by
//! the next and flatter it. The child builds the store the way the collector
//! does, by ingesting decoded OTLP requests of 2,000 points (one metric × 2,000
//! attribute sets: `host` × `route` × `status` = 20 × 20 × 5, three short
//! string attributes per series, one resource with seven attributes, one
//! scope). One request of the same shape is built and dropped before the
//! first reading, so the allocator already holds the transient memory a
//! request needs. The reading is `resident` from `/proc/self/statm` (pages)
//! times 4096, the page size on x86-64 Linux. Scalar cases alternate
//! monotonic cumulative counters and gauges; histogram series have 10 bounds
//! (11 buckets), min and max.
//!
//! Why RSS rather than a counting allocator: a `GlobalAlloc` impl needs
//! `unsafe`, and the workspace sets `unsafe_code = "forbid"`. RSS includes the
//! allocator's own overhead and fragmentation, which is what an operator pays.

use std::process::Command;

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    metric::Data, number_data_point,
};
use vigil_collector::store::{Options, Store, otlp};

#[path = "../benches/common/mod.rs"]
mod common;
use common::{BASE_NS, DURATION_BOUNDS, START_NS, attr_sets};

const PAGE_SIZE: u64 = 4096;
const SERIES_PER_METRIC: usize = 2_000;
/// `(name, series, histograms)`.
const CASES: [(&str, usize, bool); 4] = [
    ("scalar-10k", 10_000, false),
    ("scalar-100k", 100_000, false),
    ("scalar-200k", 200_000, false),
    ("histogram-100k", 100_000, true),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, flag, name] if flag == "--case" => return run_case(name),
        _ => {}
    }
    let exe = std::env::current_exe().context("locating this example's binary")?;
    println!(
        "{:<16} {:>9} {:>12} {:>14}",
        "case", "series", "rss growth", "bytes/series"
    );
    for (name, _, _) in CASES {
        let out = Command::new(&exe)
            .args(["--case", name])
            .output()
            .with_context(|| format!("running case {name}"))?;
        if !out.status.success() {
            bail!(
                "case {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

fn run_case(name: &str) -> anyhow::Result<()> {
    let Some(&(_, series, histograms)) = CASES.iter().find(|(n, _, _)| *n == name) else {
        bail!("unknown case {name:?}");
    };
    let metrics = series / SERIES_PER_METRIC;
    let store = Store::new(Options::default());
    // Warm the allocator with one request's worth of transient memory.
    drop(std::hint::black_box(request(0, histograms)));
    let before = resident_bytes()?;
    for m in 0..metrics {
        let report = otlp::ingest_request(&store, &request(m, histograms));
        if report.rejected != 0 {
            bail!("points rejected: {:?}", report.message);
        }
    }
    let after = resident_bytes()?;
    let count = store.series_count();
    if count != series {
        bail!("expected {series} series, the store holds {count}");
    }
    let growth = after.saturating_sub(before);
    println!(
        "{name:<16} {count:>9} {:>9.1} MB {:>14.0}",
        growth as f64 / 1e6,
        growth as f64 / count as f64
    );
    std::hint::black_box(&store);
    Ok(())
}

/// Resident set size: the second field of `/proc/self/statm`, in pages.
fn resident_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("statm has no resident field")?
        .parse()
        .context("parsing statm")?;
    Ok(pages * PAGE_SIZE)
}

fn attribute_sets() -> impl Iterator<Item = Vec<KeyValue>> {
    (0..20).flat_map(attr_sets)
}

/// Metric `m` with all of its 2,000 series.
fn request(m: usize, histograms: bool) -> ExportMetricsServiceRequest {
    // Scalar metrics alternate: counters at even indices, gauges at odd ones.
    let counter = [true, false][m % 2];
    let data = if histograms {
        Data::Histogram(Histogram {
            data_points: attribute_sets()
                .enumerate()
                .map(|(i, attributes)| {
                    let counts: Vec<u64> =
                        (0..11).map(|b| (i as u64 * 31 + b * 17) % 400).collect();
                    let count = counts.iter().sum();
                    HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: START_NS,
                        time_unix_nano: BASE_NS,
                        count,
                        sum: Some(count as f64 * 0.05),
                        bucket_counts: counts,
                        explicit_bounds: DURATION_BOUNDS.to_vec(),
                        min: Some(0.001),
                        max: Some(7.5),
                        ..Default::default()
                    }
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })
    } else {
        let points = attribute_sets()
            .enumerate()
            .map(|(i, attributes)| NumberDataPoint {
                attributes,
                start_time_unix_nano: if counter { START_NS } else { 0 },
                time_unix_nano: BASE_NS,
                value: Some(if counter {
                    number_data_point::Value::AsInt(i as i64 * 7919)
                } else {
                    number_data_point::Value::AsDouble(i as f64 * 0.37)
                }),
                ..Default::default()
            })
            .collect();
        if counter {
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
    };
    let (stem, unit) = match (histograms, counter) {
        (true, _) => ("duration", "s"),
        (false, true) => ("requests", "{request}"),
        (false, false) => ("inflight", "{request}"),
    };
    common::request(vec![Metric {
        name: format!("app.component{m:03}.{stem}"),
        description: "Synthetic metric for the memory measurement.".to_string(),
        unit: unit.to_string(),
        data: Some(data),
        ..Default::default()
    }])
}

//! The overflow series: points past `max_series_per_metric` folded so that totals stay right.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint};

use super::otlp::ingest_request;
use super::{Filter, Kind, Options, PointError, Store, SummaryPoint};
use crate::export::prometheus::{Format, render};
use crate::testing::*;

const LIMIT: usize = 2;

fn store() -> Store {
    Store::new(Options {
        max_series_per_metric: LIMIT,
        ..Options::default()
    })
}

/// A point of series `k=<key>` with `value`, started at `START` and taken `step` seconds later.
fn point(key: &str, value: i64, step: u64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: START + step * 1_000_000_000,
        ..int_point(value, vec![kv("k", key)])
    }
}

/// The sample lines of family `name`, with the labels every series shares left out.
fn samples(store: &Store, name: &str) -> Vec<String> {
    render(&store.snapshot(&Filter::default()), Format::Text)
        .lines()
        .filter(|l| l.starts_with(name))
        .map(|l| {
            l.replace(r#"job="test","#, "")
                .replace(r#",otel_scope_name="test""#, "")
        })
        .collect()
}

/// Up-down counter `u`, cumulative.
fn updown(points: Vec<NumberDataPoint>) -> opentelemetry_proto::tonic::metrics::v1::Metric {
    sum_with(
        "u",
        AggregationTemporality::Cumulative as i32,
        false,
        points,
    )
}

fn accepted_rejected(
    store: &Store,
    metrics: Vec<opentelemetry_proto::tonic::metrics::v1::Metric>,
) -> (u64, u64, Option<String>) {
    let r = ingest_request(store, &request_with(metrics));
    (r.accepted, r.rejected, r.message)
}

#[test]
fn cumulative_counters_past_the_limit_add_their_increase_to_the_overflow_series() {
    let s = store();
    let first: Vec<_> = (0..4).map(|i| point(&format!("a{i}"), i + 1, 10)).collect();
    assert_eq!(accepted_rejected(&s, vec![sum("c", first)]), (4, 0, None));
    assert_eq!(
        samples(&s, "c_total"),
        [
            r#"c_total{k="a0"} 1"#,
            r#"c_total{k="a1"} 2"#,
            r#"c_total{otel_metric_overflow="true"} 7"#,
        ]
    );
    // a2 counted 7 more; a3 restarted (its start moved) and counted 1 since.
    let restarted = NumberDataPoint {
        start_time_unix_nano: START + 15_000_000_000,
        ..point("a3", 1, 20)
    };
    let second = vec![point("a2", 10, 20), restarted, point("a0", 4, 20)];
    assert_eq!(accepted_rejected(&s, vec![sum("c", second)]), (3, 0, None));
    assert_eq!(
        samples(&s, "c_total"),
        [
            r#"c_total{k="a0"} 4"#,
            r#"c_total{k="a1"} 2"#,
            r#"c_total{otel_metric_overflow="true"} 15"#,
        ]
    );
    // A point older than its source's last one is ignored, as in a series.
    assert_eq!(
        accepted_rejected(&s, vec![sum("c", vec![point("a2", 100, 15)])]),
        (1, 0, None)
    );
    assert_eq!(
        samples(&s, "c_total")[2],
        r#"c_total{otel_metric_overflow="true"} 15"#
    );
    assert_eq!(
        s.stats()
            .overflow_points
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    // Two series, the overflow series and its two sources count against `max_series`.
    assert_eq!(s.sizes().series, 5);
}

#[test]
fn up_down_counters_fold_to_the_sum_of_their_current_values() {
    let s = store();
    let first = vec![
        point("a0", 1, 10),
        point("a1", 1, 10),
        point("a2", 5, 10),
        point("a3", 7, 10),
    ];
    assert_eq!(accepted_rejected(&s, vec![updown(first)]), (4, 0, None));
    assert_eq!(samples(&s, "u{")[2], r#"u{otel_metric_overflow="true"} 12"#);
    let second = vec![point("a2", 2, 20), point("a3", -1, 20)];
    assert_eq!(accepted_rejected(&s, vec![updown(second)]), (2, 0, None));
    assert_eq!(samples(&s, "u{")[2], r#"u{otel_metric_overflow="true"} 1"#);
}

#[test]
fn a_sum_that_is_not_a_finite_number_is_refused_rather_than_added_for_good() {
    let s = store();
    let first = vec![point("a0", 1, 10), point("a1", 1, 10), point("a2", 5, 10)];
    assert_eq!(accepted_rejected(&s, vec![updown(first)]), (3, 0, None));
    // An infinity (or NaN) would stay in the overflow total: every later change adds to it.
    let infinite = NumberDataPoint {
        time_unix_nano: START + 20_000_000_000,
        ..double_point(f64::INFINITY, vec![kv("k", "a2")])
    };
    let (accepted, rejected, message) = accepted_rejected(&s, vec![updown(vec![infinite])]);
    assert_eq!((accepted, rejected), (0, 1));
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("not a finite number")),
        "{message:?}"
    );
    assert_eq!(samples(&s, "u{")[2], r#"u{otel_metric_overflow="true"} 5"#);
    // The source goes on from its last finite value.
    let later = vec![point("a2", 8, 30)];
    assert_eq!(accepted_rejected(&s, vec![updown(later)]), (1, 0, None));
    assert_eq!(samples(&s, "u{")[2], r#"u{otel_metric_overflow="true"} 8"#);
}

#[test]
fn delta_sums_add_and_gauges_keep_the_newest_point() {
    let s = store();
    let delta = |points| sum_with("d", AggregationTemporality::Delta as i32, true, points);
    let first = vec![
        point("a0", 1, 10),
        point("a1", 1, 10),
        point("a2", 5, 10),
        point("a3", 7, 10),
    ];
    assert_eq!(
        accepted_rejected(&s, vec![delta(first.clone())]),
        (4, 0, None)
    );
    let later: Vec<_> = first
        .iter()
        .map(|p| NumberDataPoint {
            start_time_unix_nano: p.time_unix_nano,
            time_unix_nano: p.time_unix_nano + 10_000_000_000,
            ..p.clone()
        })
        .collect();
    assert_eq!(accepted_rejected(&s, vec![delta(later)]), (4, 0, None));
    assert_eq!(
        samples(&s, "d_total"),
        [
            r#"d_total{k="a0"} 2"#,
            r#"d_total{k="a1"} 2"#,
            r#"d_total{otel_metric_overflow="true"} 24"#,
        ]
    );
    let gauges = vec![
        point("a0", 1, 10),
        point("a1", 1, 10),
        point("a2", 5, 11),
        point("a3", 7, 12),
        point("a4", 3, 11),
    ];
    assert_eq!(
        accepted_rejected(&s, vec![gauge("g", gauges)]),
        (5, 0, None)
    );
    assert_eq!(samples(&s, "g{")[2], r#"g{otel_metric_overflow="true"} 7"#);
    // Gauges and deltas remember no source: only the overflow series is added.
    assert_eq!(s.sizes().series, 6);
}

#[test]
fn cumulative_histograms_fold_their_increase_and_other_bounds_are_refused() {
    let s = store();
    let bounds = [1.0, 10.0];
    let hp = |key: &str, counts: &[u64], sum: f64, step: u64| {
        let mut p = histogram_point(&bounds, counts, sum, vec![kv("k", key)]);
        p.time_unix_nano = START + step * 1_000_000_000;
        p
    };
    let first = vec![
        hp("a0", &[1, 0, 0], 0.5, 10),
        hp("a1", &[1, 0, 0], 0.5, 10),
        hp("a2", &[1, 2, 0], 10.0, 10),
        hp("a3", &[0, 1, 1], 20.0, 10),
    ];
    assert_eq!(
        accepted_rejected(&s, vec![histogram("h", first)]),
        (4, 0, None)
    );
    let second = vec![hp("a2", &[2, 2, 1], 50.0, 20)];
    assert_eq!(
        accepted_rejected(&s, vec![histogram("h", second)]),
        (1, 0, None)
    );
    let overflow: Vec<String> = samples(&s, "h_")
        .into_iter()
        .filter(|l| l.contains("overflow"))
        .collect();
    assert_eq!(
        overflow,
        [
            r#"h_bucket{otel_metric_overflow="true",le="1"} 2"#,
            r#"h_bucket{otel_metric_overflow="true",le="10"} 5"#,
            r#"h_bucket{otel_metric_overflow="true",le="+Inf"} 7"#,
            r#"h_sum{otel_metric_overflow="true"} 70"#,
            r#"h_count{otel_metric_overflow="true"} 7"#,
        ]
    );
    let other = histogram_point(&[5.0], &[1, 1], 3.0, vec![kv("k", "a9")]);
    let (accepted, rejected, message) = accepted_rejected(&s, vec![histogram("h", vec![other])]);
    assert_eq!((accepted, rejected), (0, 1));
    assert_eq!(
        message.as_deref(),
        Some(
            "metric \"h\": the metric already holds its limit of 2 series for this resource, and the point's bucket bounds differ from those of its overflow series; the point is refused"
        )
    );
}

#[test]
fn sources_past_the_limit_are_refused_and_forgotten_when_they_expire() {
    let s = Store::new(Options {
        max_series_per_metric: LIMIT,
        expire_after: Duration::from_secs(60),
        ..Options::default()
    });
    let points: Vec<_> = (0..5).map(|i| point(&format!("a{i}"), 1, 10)).collect();
    let (accepted, rejected, message) = accepted_rejected(&s, vec![sum("c", points)]);
    assert_eq!((accepted, rejected), (4, 1));
    assert_eq!(
        message.as_deref(),
        Some(
            "metric \"c\": the metric already holds its limit of 2 series for this resource, and its overflow series already follows as many cumulative sources; the point is refused"
        )
    );
    assert_eq!(s.sizes().series, 5);
    assert_eq!(s.expire(Instant::now() + Duration::from_secs(3600)), 3);
    assert_eq!(s.sizes().series, 0);
}

#[test]
fn the_store_limit_counts_sources() {
    let s = Store::new(Options {
        max_series_per_metric: LIMIT,
        max_series: 4,
        ..Options::default()
    });
    let points: Vec<_> = (0..5).map(|i| point(&format!("a{i}"), 1, 10)).collect();
    let (accepted, rejected, message) = accepted_rejected(&s, vec![sum("c", points)]);
    assert_eq!((accepted, rejected), (3, 2));
    assert_eq!(
        message.as_deref(),
        Some(
            "metric \"c\": the metric already holds its limit of 2 series for this resource, and the collector holds its limit of series; the point is refused"
        )
    );
    assert_eq!(s.sizes().series, 4);
}

#[test]
fn summaries_past_the_limit_are_refused() {
    let s = store();
    let mut ingest = s.ingest();
    let resource = ingest
        .resource(&[kv("service.name", "svc")][..], "")
        .unwrap();
    let none: &[opentelemetry_proto::tonic::common::v1::KeyValue] = &[];
    let scope = ingest.scope(resource, "", "", "", none).unwrap();
    let metric = ingest.metric(scope, "q", "", "", Kind::Summary).unwrap();
    let p = SummaryPoint {
        start: START,
        time: TIME,
        count: 1,
        sum: 1.0,
        quantiles: &[],
    };
    for key in ["a0", "a1"] {
        ingest
            .summary(metric, &[kv("k", key)][..], p, false)
            .unwrap();
    }
    assert_eq!(
        ingest.summary(metric, &[kv("k", "a2")][..], p, false),
        Err(PointError::OverflowRefused {
            limit: LIMIT,
            cause: "exponential histograms and summaries cannot be folded into its overflow series",
        })
    );
    drop(ingest);
    assert_eq!(s.series_count(), 2);
}

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use prost::Message;

use super::*;
use crate::generate::{self, Mix, Shape, Temporality};

const START: u64 = 1_700_000_000_000_000_000;

fn shape(temporality: Temporality) -> Shape {
    Shape {
        series: 1_000,
        batch: 250,
        attrs: 3,
        resources: 3,
        mix: Mix {
            counters: 50,
            gauges: 30,
            histograms: 20,
        },
        temporality,
    }
}

/// Encodes each request of a round, then rewrites it to round `k`.
fn stamped(
    temporality: Temporality,
    k: u64,
    now: u64,
    prev: u64,
) -> Vec<ExportMetricsServiceRequest> {
    generate::round(&shape(temporality), START)
        .iter()
        .map(|r| {
            let template = r.encode_to_vec();
            let plan = Plan::of(&template).unwrap();
            let mut out = template.clone();
            plan.apply(
                &template,
                &mut out,
                Round {
                    k,
                    now_ns: now,
                    prev_ns: prev,
                },
            );
            ExportMetricsServiceRequest::decode(&out[..]).unwrap()
        })
        .collect()
}

/// One comparable value list per data point: (times, values).
#[derive(Debug, Clone, PartialEq)]
struct Point {
    kind: &'static str,
    start: u64,
    time: u64,
    values: Vec<f64>,
}

fn flatten(requests: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for m in requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
    {
        let number = |kind, p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint| Point {
            kind,
            start: p.start_time_unix_nano,
            time: p.time_unix_nano,
            values: vec![match p.value {
                Some(Value::AsInt(i)) => i as f64,
                Some(Value::AsDouble(d)) => d,
                None => f64::NAN,
            }],
        };
        match &m.data {
            Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| number("sum", p))),
            Some(Data::Gauge(g)) => out.extend(g.data_points.iter().map(|p| number("gauge", p))),
            Some(Data::Histogram(h)) => out.extend(h.data_points.iter().map(|p| {
                let mut values = vec![p.count as f64, p.sum.unwrap_or(f64::NAN)];
                values.extend(p.bucket_counts.iter().map(|&c| c as f64));
                Point {
                    kind: "histogram",
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    values,
                }
            })),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn plan_counts_the_points_the_generator_built() {
    for r in generate::round(&shape(Temporality::Cumulative), START) {
        let plan = Plan::of(&r.encode_to_vec()).unwrap();
        assert_eq!(plan.points, generate::count_points(&r));
    }
}

#[test]
fn round_zero_keeps_the_generated_values_and_sets_the_time() {
    let original = flatten(&generate::round(&shape(Temporality::Cumulative), START));
    let now = START + 5_000_000_000;
    let zero = flatten(&stamped(Temporality::Cumulative, 0, now, START));
    assert_eq!(original.len(), zero.len());
    for (o, z) in original.iter().zip(&zero) {
        assert_eq!(o.values, z.values);
        assert_eq!(z.start, START);
        assert_eq!(z.time, now);
    }
}

#[test]
fn cumulative_values_increase_between_rounds() {
    let rounds: Vec<Vec<Point>> = (0..4)
        .map(|k| stamped(Temporality::Cumulative, k, START + 10 * (k + 1), START))
        .map(|r| flatten(&r))
        .collect();
    for pair in rounds.windows(2) {
        for (a, b) in pair[0].iter().zip(&pair[1]) {
            assert_eq!(b.start, START, "cumulative start time never moves");
            assert!(b.time > a.time);
            match a.kind {
                "sum" => assert!(b.values[0] > a.values[0], "{a:?} -> {b:?}"),
                "histogram" => {
                    assert!(b.values[0] > a.values[0], "count grows: {a:?} -> {b:?}");
                    assert!(b.values[1] > a.values[1], "sum grows");
                    assert!(
                        a.values[2..]
                            .iter()
                            .zip(&b.values[2..])
                            .all(|(x, y)| y >= x)
                    );
                    let buckets: f64 = b.values[2..].iter().sum();
                    assert_eq!(buckets, b.values[0], "buckets still add up to the count");
                }
                "gauge" => assert!(b.values[0].is_finite()),
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn delta_points_keep_their_values_and_chain_their_times() {
    let base = flatten(&generate::round(&shape(Temporality::Delta), START));
    let prev = START + 1_000;
    let now = START + 2_000;
    let later = flatten(&stamped(Temporality::Delta, 7, now, prev));
    for (o, p) in base.iter().zip(&later) {
        assert_eq!(p.time, now);
        match p.kind {
            "gauge" => assert_eq!(p.start, START),
            _ => {
                assert_eq!(
                    p.values, o.values,
                    "a delta carries the same change each round"
                );
                assert_eq!(p.start, prev, "a delta starts where the previous one ended");
            }
        }
    }
}

#[test]
fn malformed_bytes_are_an_error_not_a_panic() {
    let good = generate::round(&shape(Temporality::Cumulative), START)[0].encode_to_vec();
    for cut in [1, 2, 7, good.len() / 2, good.len() - 1] {
        // Truncation inside a nested message is caught by its length; at the top
        // level it may cut cleanly between fields, so only "no panic" is asserted.
        let _ = Plan::of(&good[..cut]);
    }
    assert!(Plan::of(&[0x0b]).is_err(), "wire type 3 (group) is refused");
    assert!(
        Plan::of(&[0x0a, 0x05, 0x00]).is_err(),
        "length past the end"
    );
    assert!(Plan::of(&[0x09, 0x01]).is_err(), "truncated fixed64");
}

use std::collections::{BTreeMap, HashSet};

use super::*;

fn shape(series: usize, batch: usize) -> Shape {
    Shape {
        series,
        batch,
        attrs: 3,
        resources: 10,
        mix: Mix {
            counters: 50,
            gauges: 30,
            histograms: 20,
        },
        temporality: Temporality::Cumulative,
    }
}

/// Every data point with its resource's service.name, metric name, kind and attributes.
fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<(String, String, Kind, Vec<KeyValue>)> {
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let service = rm
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| format!("{:?}", kv.value))
            .unwrap_or_default();
        for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            let mut push = |kind, attrs: &Vec<KeyValue>| {
                out.push((service.clone(), m.name.clone(), kind, attrs.clone()))
            };
            match &m.data {
                Some(Data::Sum(s)) => s
                    .data_points
                    .iter()
                    .for_each(|p| push(Kind::Counter, &p.attributes)),
                Some(Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .for_each(|p| push(Kind::Gauge, &p.attributes)),
                Some(Data::Histogram(h)) => h
                    .data_points
                    .iter()
                    .for_each(|p| push(Kind::Histogram, &p.attributes)),
                other => panic!("unexpected metric data {other:?}"),
            }
        }
    }
    out
}

#[test]
fn points_are_counted_exactly_and_batched_as_asked() {
    let requests = round(&shape(2_500, 1_000), 1);
    let sizes: Vec<usize> = requests.iter().map(count_points).collect();
    assert_eq!(sizes, vec![1_000, 1_000, 500]);
    assert_eq!(points(&requests).len(), 2_500);

    let requests = round(&shape(10_000, 1_000), 1);
    assert_eq!(requests.len(), 10);
    assert!(requests.iter().all(|r| count_points(r) == 1_000));
}

#[test]
fn every_series_is_distinct() {
    let requests = round(&shape(10_000, 777), 1);
    let all = points(&requests);
    let distinct: HashSet<String> = all.iter().map(|p| format!("{p:?}")).collect();
    assert_eq!(distinct.len(), 10_000);
}

#[test]
fn mix_is_honoured() {
    let requests = round(&shape(10_000, 1_000), 1);
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, kind, _) in points(&requests) {
        *by_kind.entry(format!("{kind:?}")).or_default() += 1;
    }
    assert_eq!(by_kind["Counter"], 5_000);
    assert_eq!(by_kind["Gauge"], 3_000);
    assert_eq!(by_kind["Histogram"], 2_000);

    let mut only_gauges = shape(1_000, 100);
    only_gauges.mix = Mix::parse("0,100,0").unwrap();
    let all = points(&round(&only_gauges, 1));
    assert!(all.iter().all(|p| p.2 == Kind::Gauge));
    assert_eq!(all.len(), 1_000);
}

#[test]
fn temporality_is_honoured() {
    for (temporality, want) in [
        (Temporality::Cumulative, AggregationTemporality::Cumulative),
        (Temporality::Delta, AggregationTemporality::Delta),
    ] {
        let mut s = shape(2_000, 500);
        s.temporality = temporality;
        let mut seen = 0;
        for m in round(&s, 1)
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
        {
            match &m.data {
                Some(Data::Sum(sum)) => {
                    assert_eq!(sum.aggregation_temporality, want as i32);
                    assert!(sum.is_monotonic);
                    seen += 1;
                }
                Some(Data::Histogram(h)) => {
                    assert_eq!(h.aggregation_temporality, want as i32);
                    seen += 1;
                }
                _ => {}
            }
        }
        assert!(seen > 0);
    }
}

#[test]
fn attributes_per_series_are_honoured() {
    for attrs in [0, 1, 3, 10] {
        let mut s = shape(1_000, 1_000);
        s.attrs = attrs;
        let all = points(&round(&s, 1));
        assert!(all.iter().all(|p| p.3.len() == attrs), "attrs={attrs}");
        let distinct: HashSet<String> = all.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(distinct.len(), 1_000, "attrs={attrs}");
    }
}

#[test]
fn resources_are_honoured() {
    let all = points(&round(&shape(10_000, 1_000), 1));
    let services: HashSet<&String> = all.iter().map(|p| &p.0).collect();
    assert_eq!(services.len(), 10);
    // More resources than series: one series each.
    let mut s = shape(5, 10);
    s.resources = 50;
    let all = points(&round(&s, 1));
    assert_eq!(all.len(), 5);
}

#[test]
fn histogram_counts_match_their_buckets() {
    for r in round(&shape(1_000, 1_000), 1) {
        for m in r
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
        {
            if let Some(Data::Histogram(h)) = &m.data {
                for p in &h.data_points {
                    assert!(p.count > 0);
                    assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
                    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
                }
            }
        }
    }
}

#[test]
fn mix_parser_rejects_bad_input() {
    assert_eq!(
        Mix::parse("50, 30, 20"),
        Ok(Mix {
            counters: 50,
            gauges: 30,
            histograms: 20
        })
    );
    assert!(Mix::parse("50,30").is_err());
    assert!(Mix::parse("50,30,30").is_err());
    assert!(Mix::parse("a,b,c").is_err());
}

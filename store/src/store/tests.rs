//! Store behaviour through its public ingest API, asserted on the rendered page.

use std::time::{Duration, Instant};

use super::*;
use crate::export::prometheus::{Format, render};
use crate::translate::PromType;

const SEC: u64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z: a fixed start time.
const T0: u64 = 1_700_000_000 * SEC;

type Attrs<'a> = [(&'a str, AttrValue<'a>)];

fn service<'a>(name: &'a str) -> Vec<(&'a str, AttrValue<'a>)> {
    vec![
        ("service.name", AttrValue::Str(name)),
        ("service.instance.id", AttrValue::Str("i1")),
    ]
}

struct Fixture {
    store: Store,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            store: Store::new(Options::default()),
        }
    }

    fn metric(
        &self,
        ingest: &mut Ingest<'_>,
        svc: &str,
        name: &str,
        unit: &str,
        kind: Kind,
    ) -> Result<MetricId, Refusal> {
        let r = ingest.resource(service(svc).as_slice(), "").unwrap();
        let empty: &Attrs<'_> = &[];
        let s = ingest.scope(r, "test", "1.0", "", empty).unwrap();
        ingest.metric(s, name, "", unit, kind)
    }

    // One argument per point field keeps the tests readable as tables.
    #[allow(clippy::too_many_arguments)]
    fn sum(
        &self,
        name: &str,
        delta: bool,
        monotonic: bool,
        attrs: &Attrs<'_>,
        start: u64,
        time: u64,
        v: Number,
    ) -> Result<Applied, PointError> {
        let mut ingest = self.store.ingest();
        let m = self
            .metric(&mut ingest, "svc", name, "", Kind::Sum { monotonic, delta })
            .unwrap();
        ingest.number(
            m,
            attrs,
            NumberPoint {
                start,
                time,
                value: v,
            },
            false,
            &[],
        )
    }

    fn gauge(
        &self,
        name: &str,
        attrs: &Attrs<'_>,
        time: u64,
        v: f64,
    ) -> Result<Applied, PointError> {
        let mut ingest = self.store.ingest();
        let m = self
            .metric(&mut ingest, "svc", name, "", Kind::Gauge)
            .unwrap();
        ingest.number(
            m,
            attrs,
            NumberPoint {
                start: 0,
                time,
                value: Number::Double(v),
            },
            false,
            &[],
        )
    }

    fn page(&self) -> String {
        render(&self.store.snapshot(&Filter::default()), Format::Text)
    }

    /// Sample lines only (no comments, no target_info).
    fn samples(&self) -> Vec<String> {
        self.page()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("target_info"))
            .map(str::to_string)
            .collect()
    }
}

const L: &str = r#"job="svc",instance="i1",otel_scope_name="test",otel_scope_version="1.0""#;

/// A sample line; `extra` labels (`le`, `quantile`) go last, as the renderer appends them.
fn line(name: &str, extra: &str, value: &str) -> String {
    if extra.is_empty() {
        format!("{name}{{{L}}} {value}")
    } else {
        format!("{name}{{{L},{extra}}} {value}")
    }
}

/// A sample line with attribute labels, which sort before the `otel_scope_*` labels.
fn attr_line(name: &str, attrs: &str, value: &str) -> String {
    format!(
        r#"{name}{{job="svc",instance="i1",{attrs},otel_scope_name="test",otel_scope_version="1.0"}} {value}"#
    )
}

#[test]
fn cumulative_monotonic_sum_is_a_counter_with_the_latest_value() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[("k", AttrValue::Str("v"))];
    f.sum("requests", false, true, a, T0, T0 + SEC, Number::Int(3))
        .unwrap();
    f.sum("requests", false, true, a, T0, T0 + 2 * SEC, Number::Int(5))
        .unwrap();
    assert_eq!(
        f.samples(),
        vec![attr_line("requests_total", r#"k="v""#, "5")]
    );
    assert!(f.page().contains("# TYPE requests_total counter\n"));
}

#[test]
fn delta_sums_accumulate_into_a_cumulative_counter() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[];
    f.sum("jobs", true, true, a, T0, T0 + SEC, Number::Int(2))
        .unwrap();
    f.sum(
        "jobs",
        true,
        true,
        a,
        T0 + SEC,
        T0 + 2 * SEC,
        Number::Int(3),
    )
    .unwrap();
    f.sum(
        "jobs",
        true,
        true,
        a,
        T0 + 2 * SEC,
        T0 + 3 * SEC,
        Number::Double(0.5),
    )
    .unwrap();
    assert_eq!(f.samples(), vec![line("jobs_total", "", "5.5")]);
    let snap = f.store.snapshot(&Filter::default());
    assert_eq!(
        snap.series[0].start, T0,
        "accumulation keeps the first start time"
    );
    assert!(snap.metrics[0].delta);
}

#[test]
fn misaligned_deltas_gap_resets_and_overlap_is_rejected() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[];
    f.sum("jobs", true, true, a, T0, T0 + SEC, Number::Int(2))
        .unwrap();
    // Gap: [T0+5s, T0+6s] does not start where the last ended.
    assert_eq!(
        f.sum(
            "jobs",
            true,
            true,
            a,
            T0 + 5 * SEC,
            T0 + 6 * SEC,
            Number::Int(7)
        ),
        Ok(Applied::Reset)
    );
    assert_eq!(f.samples(), vec![line("jobs_total", "", "7")]);
    // Overlap: starts before the last end.
    assert_eq!(
        f.sum(
            "jobs",
            true,
            true,
            a,
            T0 + 5 * SEC,
            T0 + 7 * SEC,
            Number::Int(100)
        ),
        Err(PointError::Overlap)
    );
    assert_eq!(f.samples(), vec![line("jobs_total", "", "7")]);
}

#[test]
fn non_monotonic_sums_are_gauges_in_both_temporalities() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[];
    f.sum("queue.depth", false, false, a, T0, T0 + SEC, Number::Int(4))
        .unwrap();
    f.sum(
        "queue.depth",
        false,
        false,
        a,
        T0,
        T0 + 2 * SEC,
        Number::Int(-2),
    )
    .unwrap();
    f.sum("inflight", true, false, a, T0, T0 + SEC, Number::Int(4))
        .unwrap();
    f.sum(
        "inflight",
        true,
        false,
        a,
        T0 + SEC,
        T0 + 2 * SEC,
        Number::Int(-3),
    )
    .unwrap();
    assert_eq!(
        f.samples(),
        vec![line("inflight", "", "1"), line("queue_depth", "", "-2")]
    );
    let page = f.page();
    assert!(page.contains("# TYPE inflight gauge\n"));
    assert!(page.contains("# TYPE queue_depth gauge\n"));
}

#[test]
fn counter_resets_on_moved_start_and_on_drops() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[];
    f.sum("c", false, true, a, T0, T0 + SEC, Number::Int(10))
        .unwrap();
    assert_eq!(
        f.sum(
            "c",
            false,
            true,
            a,
            T0 + 10 * SEC,
            T0 + 11 * SEC,
            Number::Int(1)
        ),
        Ok(Applied::Reset)
    );
    assert_eq!(
        f.store.snapshot(&Filter::default()).series[0].start,
        T0 + 10 * SEC
    );
    assert_eq!(
        f.sum(
            "c",
            false,
            true,
            a,
            T0 + 10 * SEC,
            T0 + 12 * SEC,
            Number::Int(4)
        ),
        Ok(Applied::Updated)
    );
    assert_eq!(
        f.sum(
            "c",
            false,
            true,
            a,
            T0 + 10 * SEC,
            T0 + 13 * SEC,
            Number::Int(2)
        ),
        Ok(Applied::Reset)
    );
    assert_eq!(f.samples(), vec![line("c_total", "", "2")]);
    assert_eq!(f.store.stats().resets.load(Ordering::Relaxed), 2);
}

#[test]
fn out_of_order_points_are_ignored_and_counted() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[];
    f.gauge("temp", a, T0 + 5 * SEC, 20.0).unwrap();
    assert_eq!(
        f.gauge("temp", a, T0 + 4 * SEC, 99.0),
        Ok(Applied::OutOfOrder)
    );
    f.sum("c", false, true, a, T0, T0 + 5 * SEC, Number::Int(5))
        .unwrap();
    assert_eq!(
        f.sum("c", false, true, a, T0, T0 + 3 * SEC, Number::Int(9)),
        Ok(Applied::OutOfOrder)
    );
    assert_eq!(
        f.samples(),
        vec![line("c_total", "", "5"), line("temp", "", "20")]
    );
    assert_eq!(
        f.store.stats().out_of_order_points.load(Ordering::Relaxed),
        2
    );
}

#[test]
fn gauges_keep_the_newest_value_and_spell_special_floats() {
    let f = Fixture::new();
    f.gauge("g.nan", &[], T0, f64::NAN).unwrap();
    f.gauge("g.pinf", &[], T0, f64::INFINITY).unwrap();
    f.gauge("g.ninf", &[], T0, f64::NEG_INFINITY).unwrap();
    f.gauge("g.x", &[], T0, 1.0).unwrap();
    f.gauge("g.x", &[], T0 + SEC, 2.25).unwrap();
    assert_eq!(
        f.samples(),
        vec![
            line("g_nan", "", "NaN"),
            line("g_ninf", "", "-Inf"),
            line("g_pinf", "", "+Inf"),
            line("g_x", "", "2.25")
        ]
    );
}

#[test]
fn histograms_cumulative_replace_and_delta_accumulate() {
    let f = Fixture::new();
    let bounds = [0.1, 1.0];
    let hp = |start, time, counts: &'static [u64], sum| HistogramPoint {
        start,
        time,
        count: counts.iter().sum(),
        sum: Some(sum),
        min: None,
        max: None,
        bounds: &bounds,
        counts,
    };
    let mut ingest = f.store.ingest();
    let cum = f
        .metric(
            &mut ingest,
            "svc",
            "lat.cum",
            "s",
            Kind::Histogram { delta: false },
        )
        .unwrap();
    let del = f
        .metric(
            &mut ingest,
            "svc",
            "lat.delta",
            "s",
            Kind::Histogram { delta: true },
        )
        .unwrap();
    ingest
        .histogram(
            cum,
            &[] as &Attrs<'_>,
            hp(T0, T0 + SEC, &[1, 1, 0], 0.6),
            false,
            &[],
        )
        .unwrap();
    ingest
        .histogram(
            cum,
            &[] as &Attrs<'_>,
            hp(T0, T0 + 2 * SEC, &[2, 1, 1], 3.0),
            false,
            &[],
        )
        .unwrap();
    ingest
        .histogram(
            del,
            &[] as &Attrs<'_>,
            hp(T0, T0 + SEC, &[1, 1, 0], 0.6),
            false,
            &[],
        )
        .unwrap();
    ingest
        .histogram(
            del,
            &[] as &Attrs<'_>,
            hp(T0 + SEC, T0 + 2 * SEC, &[2, 1, 1], 3.0),
            false,
            &[],
        )
        .unwrap();
    drop(ingest);
    assert_eq!(
        f.samples(),
        vec![
            line("lat_cum_seconds_bucket", r#"le="0.1""#, "2"),
            line("lat_cum_seconds_bucket", r#"le="1""#, "3"),
            line("lat_cum_seconds_bucket", r#"le="+Inf""#, "4"),
            line("lat_cum_seconds_sum", "", "3"),
            line("lat_cum_seconds_count", "", "4"),
            line("lat_delta_seconds_bucket", r#"le="0.1""#, "3"),
            line("lat_delta_seconds_bucket", r#"le="1""#, "5"),
            line("lat_delta_seconds_bucket", r#"le="+Inf""#, "6"),
            line("lat_delta_seconds_sum", "", "3.6"),
            line("lat_delta_seconds_count", "", "6"),
        ]
    );
}

#[test]
fn histogram_with_mismatched_buckets_is_rejected() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let m = f
        .metric(
            &mut ingest,
            "svc",
            "h",
            "",
            Kind::Histogram { delta: false },
        )
        .unwrap();
    let p = HistogramPoint {
        start: T0,
        time: T0,
        count: 1,
        sum: None,
        min: None,
        max: None,
        bounds: &[1.0],
        counts: &[1],
    };
    assert_eq!(
        ingest.histogram(m, &[] as &Attrs<'_>, p, false, &[]),
        Err(PointError::BucketMismatch {
            bounds: 1,
            counts: 1
        })
    );
    let p = HistogramPoint {
        bounds: &[2.0, 1.0],
        counts: &[1, 0, 0],
        ..p
    };
    assert_eq!(
        ingest.histogram(m, &[] as &Attrs<'_>, p, false, &[]),
        Err(PointError::BadBounds)
    );
}

#[test]
fn exponential_histograms_render_as_classic_buckets() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let m = f
        .metric(
            &mut ingest,
            "svc",
            "size",
            "By",
            Kind::ExpHistogram { delta: false },
        )
        .unwrap();
    // scale 0: base 2; positive bucket i covers (2^i, 2^(i+1)].
    let p = ExpHistogramPoint {
        start: T0,
        time: T0 + SEC,
        count: 6,
        sum: Some(20.0),
        min: None,
        max: None,
        scale: 0,
        zero_count: 1,
        zero_threshold: 0.0,
        positive: (1, &[2, 0, 3]), // (2,4]: 2, (4,8]: 0, (8,16]: 3
        negative: (0, &[]),
    };
    ingest
        .exp_histogram(m, &[] as &Attrs<'_>, p, false, &[])
        .unwrap();
    drop(ingest);
    assert_eq!(
        f.samples(),
        vec![
            line("size_bytes_bucket", r#"le="0""#, "1"),
            line("size_bytes_bucket", r#"le="4""#, "3"),
            line("size_bytes_bucket", r#"le="16""#, "6"),
            line("size_bytes_bucket", r#"le="+Inf""#, "6"),
            line("size_bytes_sum", "", "20"),
            line("size_bytes_count", "", "6"),
        ]
    );
}

#[test]
fn summaries_expose_quantiles_sum_and_count() {
    use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let m = f
        .metric(&mut ingest, "svc", "rpc.latency", "ms", Kind::Summary)
        .unwrap();
    let q = [
        ValueAtQuantile {
            quantile: 0.5,
            value: 12.0,
        },
        ValueAtQuantile {
            quantile: 0.99,
            value: 80.5,
        },
    ];
    let p = SummaryPoint {
        start: T0,
        time: T0 + SEC,
        count: 10,
        sum: 200.0,
        quantiles: &q,
    };
    ingest.summary(m, &[] as &Attrs<'_>, p, false).unwrap();
    drop(ingest);
    assert_eq!(
        f.samples(),
        vec![
            line("rpc_latency_milliseconds", r#"quantile="0.5""#, "12"),
            line("rpc_latency_milliseconds", r#"quantile="0.99""#, "80.5"),
            line("rpc_latency_milliseconds_sum", "", "200"),
            line("rpc_latency_milliseconds_count", "", "10"),
        ]
    );
    assert!(
        f.page()
            .contains("# TYPE rpc_latency_milliseconds summary\n")
    );
}

#[test]
fn no_recorded_value_removes_the_series() {
    let f = Fixture::new();
    let a: &Attrs<'_> = &[("k", AttrValue::Str("a"))];
    let b: &Attrs<'_> = &[("k", AttrValue::Str("b"))];
    f.gauge("g", a, T0, 1.0).unwrap();
    f.gauge("g", b, T0, 2.0).unwrap();
    let mut ingest = f.store.ingest();
    let m = f.metric(&mut ingest, "svc", "g", "", Kind::Gauge).unwrap();
    ingest
        .number(
            m,
            a,
            NumberPoint {
                start: 0,
                time: T0 + SEC,
                value: Number::Int(0),
            },
            true,
            &[],
        )
        .unwrap();
    drop(ingest);
    assert_eq!(f.samples(), vec![attr_line("g", r#"k="b""#, "2")]);
    assert_eq!(f.store.stats().removed_series.load(Ordering::Relaxed), 1);
}

#[test]
fn attribute_order_does_not_split_a_series_but_types_do() {
    let f = Fixture::new();
    let ab: &Attrs<'_> = &[("a", AttrValue::Str("1")), ("b", AttrValue::Bool(true))];
    let ba: &Attrs<'_> = &[("b", AttrValue::Bool(true)), ("a", AttrValue::Str("1"))];
    f.gauge("g", ab, T0, 1.0).unwrap();
    f.gauge("g", ba, T0 + SEC, 2.0).unwrap();
    assert_eq!(f.store.series_count(), 1);
    assert_eq!(f.samples(), vec![attr_line("g", r#"a="1",b="true""#, "2")]);
    let dup: &Attrs<'_> = &[("a", AttrValue::Str("1")), ("a", AttrValue::Str("2"))];
    assert_eq!(
        f.gauge("g", dup, T0 + 2 * SEC, 3.0),
        Err(PointError::DuplicateAttribute)
    );
}

#[test]
fn type_conflicts_keep_the_first_type_and_are_counted() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let counter = f
        .metric(
            &mut ingest,
            "a",
            "work",
            "",
            Kind::Sum {
                monotonic: true,
                delta: false,
            },
        )
        .unwrap();
    ingest
        .number(
            counter,
            &[] as &Attrs<'_>,
            NumberPoint {
                start: T0,
                time: T0,
                value: Number::Int(1),
            },
            false,
            &[],
        )
        .unwrap();
    // Same family name `work` from another service, as a gauge.
    let refused = f.metric(&mut ingest, "b", "work", "", Kind::Gauge);
    let Err(refusal @ Refusal::TypeConflict { .. }) = refused else {
        panic!("expected a conflict, got {refused:?}")
    };
    ingest.refuse_points(&refusal, 3);
    // The same metric as the first type from another service is fine.
    assert!(
        f.metric(
            &mut ingest,
            "b",
            "work",
            "",
            Kind::Sum {
                monotonic: true,
                delta: true
            }
        )
        .is_ok()
    );
    drop(ingest);
    assert_eq!(
        f.store.stats().type_conflict_points.load(Ordering::Relaxed),
        3
    );
    assert_eq!(f.page().matches("# TYPE work_total counter").count(), 1);
}

#[test]
fn expiry_drops_stale_series_and_then_the_resource() {
    let f = Fixture::new();
    let start = Instant::now();
    {
        let mut ingest = f.store.ingest_at(start);
        let m1 = f.metric(&mut ingest, "old", "g", "", Kind::Gauge).unwrap();
        ingest
            .number(
                m1,
                &[] as &Attrs<'_>,
                NumberPoint {
                    start: 0,
                    time: T0,
                    value: Number::Int(1),
                },
                false,
                &[],
            )
            .unwrap();
    }
    {
        let mut ingest = f.store.ingest_at(start + Duration::from_secs(200));
        let m2 = f.metric(&mut ingest, "new", "g", "", Kind::Gauge).unwrap();
        ingest
            .number(
                m2,
                &[] as &Attrs<'_>,
                NumberPoint {
                    start: 0,
                    time: T0,
                    value: Number::Int(2),
                },
                false,
                &[],
            )
            .unwrap();
    }
    assert_eq!(f.store.resource_count(), 2);
    // 5 min after the first update: only the first service is stale.
    assert_eq!(f.store.expire(start + Duration::from_secs(301)), 1);
    assert_eq!(f.store.resource_count(), 1);
    let page = f.page();
    assert!(!page.contains(r#"job="old""#), "{page}");
    assert!(page.contains(r#"g{job="new""#), "{page}");
    assert_eq!(f.store.expire(start + Duration::from_secs(501)), 1);
    assert_eq!(f.store.resource_count(), 0);
    assert_eq!(f.page(), "");
    assert_eq!(f.store.stats().expired_series.load(Ordering::Relaxed), 2);
}

#[test]
fn target_info_carries_the_other_resource_attributes() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let attrs: &Attrs<'_> = &[
        ("service.name", AttrValue::Str("api")),
        ("service.namespace", AttrValue::Str("shop")),
        ("service.instance.id", AttrValue::Str("pod-7")),
        ("host.name", AttrValue::Str("node \"1\"")),
        ("process.pid", AttrValue::Int(42)),
    ];
    let r = ingest.resource(attrs, "").unwrap();
    let s = ingest.scope(r, "", "", "", &[] as &Attrs<'_>).unwrap();
    let m = ingest.metric(s, "up", "", "", Kind::Gauge).unwrap();
    ingest
        .number(
            m,
            &[] as &Attrs<'_>,
            NumberPoint {
                start: 0,
                time: T0,
                value: Number::Int(1),
            },
            false,
            &[],
        )
        .unwrap();
    drop(ingest);
    let page = f.page();
    assert!(
        page.contains("target_info{job=\"shop/api\",instance=\"pod-7\",host_name=\"node \\\"1\\\"\",process_pid=\"42\"} 1\n"),
        "{page}"
    );
    assert!(
        page.contains("up{job=\"shop/api\",instance=\"pod-7\"} 1\n"),
        "{page}"
    );
}

#[test]
fn openmetrics_adds_unit_created_and_eof() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let m = f
        .metric(
            &mut ingest,
            "svc",
            "busy.time",
            "s",
            Kind::Sum {
                monotonic: true,
                delta: false,
            },
        )
        .unwrap();
    ingest
        .number(
            m,
            &[] as &Attrs<'_>,
            NumberPoint {
                start: T0 + SEC / 2,
                time: T0 + SEC,
                value: Number::Double(1.5),
            },
            false,
            &[],
        )
        .unwrap();
    drop(ingest);
    let om = render(&f.store.snapshot(&Filter::default()), Format::OpenMetrics);
    let expected = format!(
        "# TYPE busy_time_seconds counter\n# UNIT busy_time_seconds seconds\n{}\n{}\n# EOF\n",
        line("busy_time_seconds_total", "", "1.5"),
        line("busy_time_seconds_created", "", "1700000000.5"),
    );
    assert_eq!(om, expected);
}

#[test]
fn a_gauge_cannot_take_a_histograms_sample_name() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let h = f
        .metric(
            &mut ingest,
            "a",
            "lat",
            "",
            Kind::Histogram { delta: false },
        )
        .unwrap();
    let p = HistogramPoint {
        start: T0,
        time: T0,
        count: 1,
        sum: Some(1.0),
        min: None,
        max: None,
        bounds: &[],
        counts: &[1],
    };
    ingest
        .histogram(h, &[] as &Attrs<'_>, p, false, &[])
        .unwrap();
    let clash = f.metric(&mut ingest, "b", "lat_count", "", Kind::Gauge);
    assert!(
        matches!(
            clash,
            Err(Refusal::TypeConflict {
                existing: PromType::Histogram,
                ..
            })
        ),
        "{clash:?}"
    );
    // A counter `x` and a gauge `x_total` meet on the text family `x_total`.
    let c = f
        .metric(
            &mut ingest,
            "a",
            "x",
            "",
            Kind::Sum {
                monotonic: true,
                delta: false,
            },
        )
        .unwrap();
    ingest
        .number(
            c,
            &[] as &Attrs<'_>,
            NumberPoint {
                start: T0,
                time: T0,
                value: Number::Int(1),
            },
            false,
            &[],
        )
        .unwrap();
    assert!(
        f.metric(&mut ingest, "b", "x_total", "", Kind::Gauge)
            .is_err()
    );
}

#[test]
fn a_metric_whose_points_were_all_refused_does_not_hold_its_type() {
    let f = Fixture::new();
    let mut ingest = f.store.ingest();
    let g = f.metric(&mut ingest, "a", "w", "", Kind::Gauge).unwrap();
    let dup: &Attrs<'_> = &[("k", AttrValue::Str("1")), ("k", AttrValue::Str("2"))];
    assert!(
        ingest
            .number(
                g,
                dup,
                NumberPoint {
                    start: 0,
                    time: T0,
                    value: Number::Int(1)
                },
                false,
                &[]
            )
            .is_err()
    );
    ingest.release_if_empty(g);
    assert!(
        f.metric(&mut ingest, "a", "w", "", Kind::Histogram { delta: false })
            .is_ok()
    );
}

/// One gauge point from a resource of `attrs`.
fn gauge_from(store: &Store, attrs: &Attrs<'_>, now: Instant, v: i64) {
    let mut ingest = store.ingest_at(now);
    let r = ingest.resource(attrs, "").unwrap();
    let empty: &Attrs<'_> = &[];
    let s = ingest.scope(r, "test", "", "", empty).unwrap();
    let m = ingest.metric(s, "up_now", "", "", Kind::Gauge).unwrap();
    let point = NumberPoint {
        start: 0,
        time: T0,
        value: Number::Int(v),
    };
    ingest.number(m, empty, point, false, &[]).unwrap();
}

#[test]
fn resources_with_the_same_job_and_instance_get_distinct_instances() {
    let store = Store::new(Options::default());
    let now = Instant::now();
    // Two services without service.name (and so without job), differing only by host.
    let a: &Attrs<'_> = &[("host.name", AttrValue::Str("a"))];
    let b: &Attrs<'_> = &[("host.name", AttrValue::Str("b"))];
    // Two processes of one service without service.instance.id.
    let c: &Attrs<'_> = &[
        ("service.name", AttrValue::Str("api")),
        ("process.pid", AttrValue::Int(1)),
    ];
    let d: &Attrs<'_> = &[
        ("service.name", AttrValue::Str("api")),
        ("process.pid", AttrValue::Int(2)),
    ];
    for (i, attrs) in [a, b, c, d, a].into_iter().enumerate() {
        gauge_from(&store, attrs, now, i as i64);
    }
    let samples: Vec<String> = render(&store.snapshot(&Filter::default()), Format::Text)
        .lines()
        .filter(|l| l.starts_with("up_now"))
        .map(str::to_owned)
        .collect();
    // The first of each pair keeps its labels; the second gets a distinct instance, the same
    // for the same attributes every time (a fixed hash).
    let owned = |attrs: &Attrs<'_>| {
        super::attrs::SortedView::new(attrs)
            .unwrap()
            .to_owned_attrs()
    };
    let b_instance = crate::exposition::distinct_instance(&owned(b), None, 0);
    let d_instance = crate::exposition::distinct_instance(&owned(d), None, 0);
    assert!(
        d_instance.starts_with("resource~") && d_instance.len() == 25,
        "{d_instance}"
    );
    assert_eq!(
        samples,
        vec![
            r#"up_now{otel_scope_name="test"} 4"#.to_owned(),
            format!(r#"up_now{{instance="{b_instance}",otel_scope_name="test"}} 1"#),
            r#"up_now{job="api",otel_scope_name="test"} 2"#.to_owned(),
            format!(r#"up_now{{job="api",instance="{d_instance}",otel_scope_name="test"}} 3"#),
        ]
    );
    // Once every resource expired, the pairs are free again: `b` alone keeps plain labels.
    assert_eq!(store.expire(now + Duration::from_secs(301)), 4);
    gauge_from(&store, b, now + Duration::from_secs(302), 9);
    let page = render(&store.snapshot(&Filter::default()), Format::Text);
    assert!(
        page.contains("up_now{otel_scope_name=\"test\"} 9"),
        "{page}"
    );
}

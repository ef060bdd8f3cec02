//! Values and timestamps chosen to freeze or corrupt a series: future stamps, negative and NaN
//! counts, overlapping deltas, missing values, histograms whose counts, bounds or buckets
//! disagree, summaries with quantiles outside [0, 1], and exponential histograms at the ends of
//! their scale and offset ranges or with counts their buckets do not add up to.

use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, ExponentialHistogram, ExponentialHistogramDataPoint,
    HistogramDataPoint, NumberDataPoint, Summary, SummaryDataPoint, metric::Data,
};
use vigil_store::testing::{
    START, TIME, double_point, gauge, histogram, histogram_point, int_point, metric, request_with,
    sum_with,
};

use crate::case::{Case, Expect, Send};

const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

fn refused(rejected: i64, message: &'static str, reason: &'static str) -> Expect {
    Expect::Partial {
        rejected,
        message,
        reason,
    }
}

fn counter(name: &str, temporality: i32, p: NumberDataPoint) -> Send {
    Send::proto(&request_with(vec![sum_with(
        name,
        temporality,
        true,
        vec![p],
    )]))
}

fn stamped(p: NumberDataPoint, start: u64, time: u64) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        ..p
    }
}

fn hist(name: &str, p: HistogramDataPoint) -> Send {
    Send::proto(&request_with(vec![histogram(name, vec![p])]))
}

fn with_count(mut p: HistogramDataPoint, count: u64) -> HistogramDataPoint {
    p.count = count;
    p
}

fn summary(name: &str, quantile: f64) -> Send {
    let p = SummaryDataPoint {
        start_time_unix_nano: START,
        time_unix_nano: TIME,
        count: 2,
        sum: 3.0,
        quantile_values: vec![ValueAtQuantile {
            quantile,
            value: 1.5,
        }],
        ..Default::default()
    };
    Send::proto(&request_with(vec![metric(
        name,
        Data::Summary(Summary {
            data_points: vec![p],
        }),
    )]))
}

fn exponential(name: &str, scale: i32, offset: i32, counts: Vec<u64>) -> Send {
    let count = counts.iter().sum();
    let p = ExponentialHistogramDataPoint {
        start_time_unix_nano: START,
        time_unix_nano: TIME,
        count,
        sum: Some(1.0),
        scale,
        positive: Some(Buckets {
            offset,
            bucket_counts: counts,
        }),
        ..Default::default()
    };
    let data = Data::ExponentialHistogram(ExponentialHistogram {
        data_points: vec![p],
        aggregation_temporality: CUMULATIVE,
    });
    Send::proto(&request_with(vec![metric(name, data)]))
}

pub(crate) fn cases() -> Vec<Case> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut future = int_point(9, vec![]);
    future.time_unix_nano = u64::MAX;
    let mut no_value = int_point(0, vec![]);
    no_value.value = None;
    let wide = histogram_point(
        &(0..10_000).map(f64::from).collect::<Vec<_>>(),
        &[1; 10_001],
        1.0,
        vec![],
    );
    let delta = |v: i64, start: u64, time: u64| stamped(int_point(v, vec![]), start, time);
    vec![
        Case::new("a point stamped u64::MAX", Send::proto(&request_with(vec![gauge("time.frozen", vec![future.clone()])])), refused(1, "data point is stamped more than 600s in the future", "future"))
            .lacks(&["time_frozen"]),
        Case::new("a point stamped u64::MAX (gRPC)", Send::grpc(&request_with(vec![gauge("time.frozen", vec![future])])), refused(1, "in the future", "future")),
        Case::new("a point stamped an hour ahead", Send::proto(&request_with(vec![gauge("time.hour", vec![stamped(int_point(1, vec![]), now, now + 3_600_000_000_000)])])), refused(1, "in the future", "future")),
        Case::new("a point stamped at 0", Send::proto(&request_with(vec![gauge("time.zero", vec![stamped(int_point(4, vec![]), 0, 0)])])), Expect::Accepted),
        Case::new("a counter value of -1", counter("neg.cumulative", CUMULATIVE, int_point(-1, vec![])), refused(1, "a monotonic sum's value must be a number at least 0", "point"))
            .lacks(&["neg_cumulative"]),
        Case::new("a counter value of NaN", counter("nan.cumulative", CUMULATIVE, double_point(f64::NAN, vec![])), refused(1, "a monotonic sum's value must be a number at least 0", "point")),
        Case::new("a counter value of +Inf", counter("inf.cumulative", CUMULATIVE, double_point(f64::INFINITY, vec![])), Expect::Accepted)
            .has(&[r#"inf_cumulative_total{job="test",otel_scope_name="test"} +Inf"#]),
        Case::new("a delta of -5", counter("neg.delta", DELTA, int_point(-5, vec![])), refused(1, "a monotonic sum's value must be a number at least 0", "point")),
        Case::new("a delta overlapping the previous one", counter("delta.overlap", DELTA, delta(1, START + 1, TIME + 1)), refused(1, "delta point overlaps the previous point of its series", "overlap"))
            .after(vec![counter("delta.overlap", DELTA, delta(2, START, TIME))])
            .has(&[r#"delta_overlap_total{job="test",otel_scope_name="test"} 2"#]),
        Case::new("a sum without temporality", Send::proto(&request_with(vec![sum_with("sum.unspecified", 0, true, vec![int_point(1, vec![])])])), refused(1, "aggregation temporality is unspecified", "metric")),
        Case::new("a number point without a value", Send::proto(&request_with(vec![gauge("value.missing", vec![no_value])])), refused(1, "number data point without a value", "point")),
        Case::new("a gauge of NaN", Send::proto(&request_with(vec![gauge("gauge.nan", vec![double_point(f64::NAN, vec![])])])), Expect::Accepted)
            .has(&[r#"gauge_nan{job="test",otel_scope_name="test"} NaN"#]),
        Case::new("a gauge of -Inf", Send::proto(&request_with(vec![gauge("gauge.neg_inf", vec![double_point(f64::NEG_INFINITY, vec![])])])), Expect::Accepted)
            .has(&[r#"gauge_neg_inf{job="test",otel_scope_name="test"} -Inf"#]),
        Case::new("a gauge with no points", Send::proto(&request_with(vec![gauge("gauge.empty", vec![])])), Expect::Accepted)
            .lacks(&["gauge_empty"]),
        Case::new("histogram count 5 with buckets summing to 3", hist("hist.count", with_count(histogram_point(&[1.0], &[1, 2], 3.0, vec![]), 5)), refused(1, "histogram count 5 is not the sum of its bucket counts (3)", "point")),
        Case::new("histogram with 2 bounds and 2 buckets", hist("hist.mismatch", histogram_point(&[1.0, 2.0], &[1, 2], 3.0, vec![])), refused(1, "histogram has 2 bounds but 2 bucket counts (want bounds + 1)", "point")),
        Case::new("histogram with a NaN bound", hist("hist.nan_bound", histogram_point(&[1.0, f64::NAN], &[1, 1, 1], 3.0, vec![])), refused(1, "histogram bounds must be finite and strictly increasing", "point")),
        Case::new("histogram with a +Inf bound", hist("hist.inf_bound", histogram_point(&[1.0, f64::INFINITY], &[1, 1, 1], 3.0, vec![])), refused(1, "histogram bounds must be finite and strictly increasing", "point")),
        Case::new("histogram with decreasing bounds", hist("hist.decreasing", histogram_point(&[2.0, 1.0], &[1, 1, 1], 3.0, vec![])), refused(1, "histogram bounds must be finite and strictly increasing", "point")),
        Case::new("histogram with u64::MAX buckets", hist("hist.huge", HistogramDataPoint { bucket_counts: vec![u64::MAX, 1], count: 0, ..histogram_point(&[1.0], &[0, 0], 3.0, vec![]) }), refused(1, "is not the sum of its bucket counts", "point")),
        Case::new("histogram with 10,000 bounds", hist("hist.wide", wide.clone()), Expect::Accepted)
            .has(&[r#"hist_wide_bucket{job="test",otel_scope_name="test",le="+Inf"} 10001"#])
            .cleanup(vec![hist("hist.wide", HistogramDataPoint { flags: DataPointFlags::NoRecordedValueMask as u32, ..wide })]),
        Case::new("summary quantile 1.5", summary("sum.q_high", 1.5), refused(1, "summary quantile 1.5 is outside [0, 1]", "point")),
        Case::new("summary quantile -0.1", summary("sum.q_low", -0.1), refused(1, "summary quantile -0.1 is outside [0, 1]", "point")),
        Case::new("summary quantile NaN", summary("sum.q_nan", f64::NAN), refused(1, "summary quantile NaN is outside [0, 1]", "point")),
        Case::new("exponential histogram at scale 20", exponential("exp.scale_max", 20, 0, vec![1, 1]), Expect::Accepted)
            .has(&[r#"exp_scale_max_bucket{job="test",otel_scope_name="test",le="1.0000013220742012"} 2"#]),
        Case::new("exponential histogram at scale -10", exponential("exp.scale_min", -10, 0, vec![1]), Expect::Accepted)
            .has(&[r#"exp_scale_min_bucket{job="test",otel_scope_name="test",le="+Inf"} 1"#]),
        // Fixed here: a scale outside [-10, 20] was clamped into it, so the points landed in
        // buckets with the wrong bounds.
        Case::new("exponential histogram at scale 127", exponential("exp.scale_127", 127, 0, vec![1]), refused(1, "exponential histogram scale 127 is outside [-10, 20]", "point"))
            .lacks(&["exp_scale_127"]),
        Case::new("exponential histogram at scale -128", exponential("exp.scale_neg", -128, 0, vec![1]), refused(1, "exponential histogram scale -128 is outside [-10, 20]", "point")),
        // Bounds past f64's range: everything is in +Inf.
        Case::new("exponential histogram offset i32::MAX", exponential("exp.offset_max", 0, i32::MAX, vec![1, 1]), Expect::Accepted)
            .has(&[r#"exp_offset_max_bucket{job="test",otel_scope_name="test",le="+Inf"} 2"#, r#"exp_offset_max_count{job="test",otel_scope_name="test"} 2"#]),
        // A bound of 2^(i32::MIN + 1) is 0 as an f64.
        Case::new("exponential histogram offset i32::MIN", exponential("exp.offset_min", 0, i32::MIN, vec![1]), Expect::Accepted)
            .has(&[r#"exp_offset_min_bucket{job="test",otel_scope_name="test",le="0"} 1"#]),
        Case::new("exponential histogram with count != buckets", {
            let Send::Http { body, .. } = exponential("exp.count", 0, 0, vec![1]) else { unreachable!() };
            use prost::Message;
            let mut req = opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::decode(body.as_slice()).expect("just encoded");
            if let Some(Data::ExponentialHistogram(e)) = &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data {
                e.data_points[0].count = 7;
            }
            Send::proto(&req)
        }, refused(1, "histogram count 7 is not the sum of its bucket counts (1)", "point"))
            .lacks(&["exp_count"]),
    ]
}

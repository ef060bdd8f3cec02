//! What the store refuses rather than take silently: points that would freeze a series or that
//! are not what their metric's kind says (names a page cannot show are the exposition's to
//! refuse, see `crate::exposition`). Each refusal reaches the sender in
//! `partial_success` with its reason (see [`super::Refusal`] and [`super::PointError`]).
//!
//! * A point stamped more than the allowed skew in the future would hold its series: every later,
//!   truthful point would be older and ignored until the series expired.
//! * A monotonic sum's value must be a number at least 0 (a negative delta or counter value, or
//!   NaN, is not a count); summary quantiles must lie in [0, 1]; a histogram's count must equal
//!   the sum of its bucket counts, and an exponential histogram's count the sum of its zero
//!   count and bucket counts, at a scale within [-10, 20] (a scale outside was once clamped
//!   into the range, which put the points in buckets with the wrong bounds).

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;

use super::{Kind, Number, PointError};

/// How far in the future a point may be stamped, by default.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(600);

/// Whether a point stamped `time` is within `skew` of `now` (Unix nanoseconds).
pub(super) fn time(time: u64, now: u64, skew: Duration) -> Result<(), PointError> {
    let limit = now.saturating_add(u64::try_from(skew.as_nanos()).unwrap_or(u64::MAX));
    if time > limit {
        return Err(PointError::Future { skew });
    }
    Ok(())
}

/// Whether `value` may be a point of a metric of `kind`.
pub(super) fn number(kind: Kind, value: Number) -> Result<(), PointError> {
    if let Kind::Sum {
        monotonic: true, ..
    } = kind
    {
        let v = value.as_f64();
        if v.is_nan() || v < 0.0 {
            return Err(PointError::NotACount);
        }
    }
    Ok(())
}

/// Whether every quantile lies in [0, 1].
pub(super) fn quantiles(quantiles: &[ValueAtQuantile]) -> Result<(), PointError> {
    match quantiles
        .iter()
        .find(|q| !(0.0..=1.0).contains(&q.quantile))
    {
        Some(q) => Err(PointError::BadQuantile(q.quantile)),
        None => Ok(()),
    }
}

/// Whether a histogram's `count` is the sum of its bucket `counts`.
pub(super) fn histogram_count(count: u64, counts: &[u64]) -> Result<(), PointError> {
    let total = counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
    if total != count {
        return Err(PointError::CountMismatch {
            count,
            buckets: total,
        });
    }
    Ok(())
}

/// Whether an exponential histogram's scale lies in [-10, 20] and (unless the point carries no
/// value) its `count` is the sum of its zero count and bucket counts.
pub(super) fn exp_histogram(
    p: &super::ExpHistogramPoint<'_>,
    no_value: bool,
) -> Result<(), PointError> {
    if !(-10..=20).contains(&p.scale) {
        return Err(PointError::BadScale(p.scale));
    }
    if no_value {
        return Ok(());
    }
    let total = p
        .positive
        .1
        .iter()
        .chain(p.negative.1)
        .fold(p.zero_count, |a, c| a.saturating_add(*c));
    if total != p.count {
        return Err(PointError::CountMismatch {
            count: p.count,
            buckets: total,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Summary, SummaryDataPoint,
    };

    use super::super::otlp::ingest_request;
    use super::super::{Options, Store};
    use super::*;
    use crate::testing::*;

    fn store() -> Store {
        Store::new(Options::default())
    }

    /// `(accepted, rejected, message)` of one request into a fresh store.
    fn ingest(
        req: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    ) -> (u64, u64, String) {
        let r = ingest_request(&store(), &req);
        (r.accepted, r.rejected, r.message.unwrap_or_default())
    }

    #[test]
    fn names_with_no_letter_or_digit_and_target_info_are_refused() {
        for name in ["é", ".", "_"] {
            let req = request_with(vec![gauge(name, vec![int_point(1, vec![])])]);
            assert_eq!(
                ingest(req),
                (
                    0,
                    1,
                    format!(
                        "metric {name:?}: the name has no letter or digit, so no Prometheus name is left"
                    )
                )
            );
        }
        for name in ["target_info", "target.info"] {
            let req = request_with(vec![gauge(name, vec![int_point(1, vec![])])]);
            assert_eq!(
                ingest(req),
                (
                    0,
                    1,
                    format!(
                        "metric {name:?}: target_info is reserved for the resources' own series"
                    )
                )
            );
        }
        // A name with one valid character stays.
        let req = request_with(vec![gauge("é1", vec![int_point(1, vec![])])]);
        assert_eq!(ingest(req).0, 1);
    }

    #[test]
    fn a_point_far_in_the_future_is_refused_and_does_not_freeze_its_series() {
        let s = store();
        let now = crate::store::unix_nanos(std::time::SystemTime::now());
        let mut future = int_point(5, vec![]);
        future.time_unix_nano = u64::MAX;
        let r = ingest_request(&s, &request_with(vec![gauge("g", vec![future])]));
        assert_eq!(
            (r.rejected, r.message.as_deref()),
            (
                1,
                Some("metric \"g\": data point is stamped more than 600s in the future")
            )
        );
        let mut later = int_point(7, vec![]);
        later.time_unix_nano = now;
        let r = ingest_request(&s, &request_with(vec![gauge("g", vec![later])]));
        assert_eq!((r.accepted, r.rejected), (1, 0));
        // Within the skew is fine.
        let mut soon = int_point(8, vec![]);
        soon.time_unix_nano = now + 60_000_000_000;
        assert_eq!(
            ingest_request(&s, &request_with(vec![gauge("g", vec![soon])])).accepted,
            1
        );
    }

    #[test]
    fn monotonic_sums_must_count() {
        for temporality in [
            AggregationTemporality::Delta,
            AggregationTemporality::Cumulative,
        ] {
            let req = request_with(vec![sum_with(
                "c",
                temporality as i32,
                true,
                vec![
                    int_point(-1, vec![]),
                    double_point(f64::NAN, vec![kv("k", 1)]),
                ],
            )]);
            assert_eq!(
                ingest(req),
                (
                    0,
                    2,
                    "metric \"c\": a monotonic sum's value must be a number at least 0".to_owned()
                )
            );
        }
        // A non-monotonic sum may go below zero.
        let req = request_with(vec![sum_with(
            "updown",
            AggregationTemporality::Cumulative as i32,
            false,
            vec![int_point(-3, vec![])],
        )]);
        assert_eq!(ingest(req).0, 1);
    }

    #[test]
    fn quantiles_outside_0_1_and_histogram_counts_that_disagree_are_refused() {
        let summary = |q: f64| {
            request_with(vec![metric(
                "s",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: TIME,
                        count: 1,
                        sum: 1.0,
                        quantile_values: vec![ValueAtQuantile {
                            quantile: q,
                            value: 1.0,
                        }],
                        ..Default::default()
                    }],
                }),
            )])
        };
        assert_eq!(
            ingest(summary(1.5)),
            (
                0,
                1,
                "metric \"s\": summary quantile 1.5 is outside [0, 1]".to_owned()
            )
        );
        assert_eq!(ingest(summary(f64::NAN)).1, 1);
        assert_eq!(ingest(summary(0.99)).0, 1);
        let mut h = histogram_point(&[1.0], &[1, 2], 3.0, vec![]);
        h.count = 5;
        assert_eq!(
            ingest(request_with(vec![histogram("h", vec![h])])),
            (
                0,
                1,
                "metric \"h\": histogram count 5 is not the sum of its bucket counts (3)"
                    .to_owned()
            )
        );
    }
}

#[cfg(test)]
mod limit_tests {
    use super::super::otlp::ingest_request;
    use super::super::{Options, Store};
    use crate::testing::*;

    fn points(
        n: usize,
        prefix: &str,
    ) -> Vec<opentelemetry_proto::tonic::metrics::v1::NumberDataPoint> {
        (0..n)
            .map(|i| int_point(1, vec![kv("k", format!("{prefix}{i}").as_str())]))
            .collect()
    }

    #[test]
    fn series_past_the_per_metric_limit_fold_into_the_overflow_series_and_existing_ones_still_update()
     {
        let s = Store::new(Options {
            max_series_per_metric: 3,
            ..Options::default()
        });
        let r = ingest_request(&s, &request_with(vec![gauge("g", points(5, "a"))]));
        assert_eq!((r.accepted, r.rejected, r.message), (5, 0, None));
        // Three series and the overflow series (see `overflow_tests.rs`).
        assert_eq!(s.series_count(), 4);
        // The three it holds take new points; another metric has its own limit.
        let r = ingest_request(
            &s,
            &request_with(vec![gauge("g", points(3, "a")), gauge("h", points(3, "b"))]),
        );
        assert_eq!((r.accepted, r.rejected), (6, 0));
        assert_eq!(s.series_count(), 7);
    }

    #[test]
    fn two_names_that_sanitize_alike_do_not_share_a_family() {
        let s = Store::new(Options::default());
        let r = ingest_request(&s, &request_with(vec![gauge("coll.x", points(1, "a"))]));
        assert_eq!((r.accepted, r.rejected), (1, 0));
        let r = ingest_request(&s, &request_with(vec![gauge("coll_x", points(1, "a"))]));
        assert_eq!((r.accepted, r.rejected), (0, 1));
        assert_eq!(
            r.message.as_deref(),
            Some(
                "metric \"coll_x\": its Prometheus name \"coll_x\" is already given by metric \"coll.x\""
            )
        );
        // The same name from another service shares the family, as before.
        let other = request_from(vec![resource_metrics(
            vec![kv("service.name", "other")],
            vec![gauge("coll.x", points(1, "a"))],
        )]);
        assert_eq!(ingest_request(&s, &other).accepted, 1);
    }

    #[test]
    fn series_past_the_store_limit_are_refused_until_some_expire() {
        let s = Store::new(Options {
            max_series: 4,
            expire_after: std::time::Duration::from_millis(1),
            ..Options::default()
        });
        let r = ingest_request(
            &s,
            &request_with(vec![gauge("g", points(3, "a")), gauge("h", points(3, "b"))]),
        );
        assert_eq!((r.accepted, r.rejected), (4, 2));
        assert_eq!(
            r.message.as_deref(),
            Some("metric \"h\": the collector holds its limit of 4 series; new series are refused")
        );
        // Expiry frees room.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(s.expire(std::time::Instant::now()), 4);
        let r = ingest_request(&s, &request_with(vec![gauge("h", points(3, "b"))]));
        assert_eq!((r.accepted, r.rejected), (3, 0));
    }
}

#[cfg(test)]
mod exp_tests {
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint,
    };

    use super::super::otlp::ingest_request;
    use super::super::{Options, Store};
    use crate::testing::*;

    /// `(accepted, rejected, message)` of one exponential histogram point into a fresh store.
    fn ingest(scale: i32, count: u64) -> (u64, u64, String) {
        let p = ExponentialHistogramDataPoint {
            start_time_unix_nano: START,
            time_unix_nano: TIME,
            count,
            zero_count: 1,
            scale,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: vec![1, 2],
            }),
            negative: Some(Buckets {
                offset: 3,
                bucket_counts: vec![4],
            }),
            ..Default::default()
        };
        let data = Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![p],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        });
        let r = ingest_request(
            &Store::new(Options::default()),
            &request_with(vec![metric("e", data)]),
        );
        (r.accepted, r.rejected, r.message.unwrap_or_default())
    }

    #[test]
    fn exponential_histograms_out_of_scale_or_miscounted_are_refused() {
        assert_eq!(ingest(20, 8), (1, 0, String::new()));
        assert_eq!(ingest(-10, 8).0, 1);
        for scale in [21, 127, -11, i32::MIN] {
            assert_eq!(
                ingest(scale, 8),
                (
                    0,
                    1,
                    format!(
                        "metric \"e\": exponential histogram scale {scale} is outside [-10, 20]"
                    )
                )
            );
        }
        assert_eq!(
            ingest(0, 7),
            (
                0,
                1,
                "metric \"e\": histogram count 7 is not the sum of its bucket counts (8)"
                    .to_owned()
            )
        );
    }
}

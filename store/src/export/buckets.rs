//! A histogram as classic cumulative buckets: `(upper bound, observations at or below it)` for
//! each finite bound, then the `+Inf` count. The one routine every output uses for it: the
//! Prometheus pages, the JSON snapshot, and remote-write (direct, and when a queued 2.0 request
//! is rewritten as 1.0).
//!
//! Explicit-bucket histograms give one bucket per finite bound. Exponential histograms have no
//! classic form, so they are given one at their exponential bucket boundaries: negative buckets
//! (upper bound `-base^i`), the zero bucket (upper bound `zero_threshold`), positive buckets
//! (upper bound `base^(i+1)`). Empty exponential buckets are left out: the cumulative count stays
//! exact at every bound that is given.
//!
//! The `+Inf` count is the larger of the histogram's `count` and the sum of its buckets. The
//! store refuses explicit histograms whose count disagrees with their buckets, but exponential
//! ones are taken as sent, and a `+Inf` below a finite bucket (or below `count`) would make the
//! series invalid. Outputs used to differ here: the JSON snapshot gave an exponential
//! histogram's `count` even when its buckets held more (issue 9).

use crate::store::ExpHistogram;

/// One classic bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Where the bucket comes from: for an explicit histogram, its index into the bounds and
    /// counts (exemplars are kept by it); for an exponential one, its position in this list.
    pub index: usize,
    /// Upper bound (finite).
    pub le: f64,
    /// Observations at or below `le`.
    pub cumulative: u64,
}

/// A histogram as classic buckets.
#[derive(Clone, Debug)]
pub struct Classic<I> {
    /// The buckets with a finite bound, bounds increasing.
    pub finite: I,
    /// The `+Inf` bucket's count, which is also the count to print:
    /// `max(count, sum of all buckets)`.
    pub inf: u64,
}

/// The classic buckets of an explicit-bucket histogram (`counts` has one entry more than
/// `bounds`: the last bucket is `+Inf`'s).
pub fn explicit<'a>(
    bounds: &'a [f64],
    counts: &'a [u64],
    count: u64,
) -> Classic<impl Iterator<Item = Bucket> + 'a> {
    let total = counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
    let finite = counts
        .iter()
        .zip(bounds)
        .enumerate()
        .scan(0u64, |cumulative, (index, (c, le))| {
            *cumulative = cumulative.saturating_add(*c);
            Some(Bucket {
                index,
                le: *le,
                cumulative: *cumulative,
            })
        })
        .filter(|b| b.le.is_finite());
    Classic {
        finite,
        inf: count.max(total),
    }
}

/// The classic buckets of an exponential histogram, at its exponential bounds.
pub fn exponential(e: &ExpHistogram) -> Classic<std::vec::IntoIter<Bucket>> {
    let base_exp = (-f64::from(e.scale)).exp2(); // log2(base)
    let bound = |i: i64| (i as f64 * base_exp).exp2();
    let mut out: Vec<(f64, u64)> = Vec::new();
    let mut cumulative = 0u64;
    // Negative buckets, most negative first: bucket i covers [-base^(i+1), -base^i).
    for (k, c) in e.negative.counts.iter().enumerate().rev() {
        if *c == 0 {
            continue;
        }
        cumulative = cumulative.saturating_add(*c);
        out.push((-bound(i64::from(e.negative.offset) + k as i64), cumulative));
    }
    if e.zero_count > 0 {
        cumulative = cumulative.saturating_add(e.zero_count);
        let zero = if e.zero_threshold.is_finite() && e.zero_threshold > 0.0 {
            e.zero_threshold
        } else {
            0.0
        };
        out.push((zero, cumulative));
    }
    for (k, c) in e.positive.counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        cumulative = cumulative.saturating_add(*c);
        out.push((
            bound(i64::from(e.positive.offset) + k as i64 + 1),
            cumulative,
        ));
    }
    // Extreme indices overflow to infinite bounds: the `+Inf` bucket covers
    // them, and the cumulative counts after them already include them.
    out.retain(|(le, _)| le.is_finite());
    // Bounds must strictly increase; rounding at extreme scales could repeat one.
    out.dedup_by(|later, earlier| {
        if later.0 <= earlier.0 {
            earlier.1 = later.1;
            true
        } else {
            false
        }
    });
    let finite: Vec<Bucket> = out
        .into_iter()
        .enumerate()
        .map(|(index, (le, cumulative))| Bucket {
            index,
            le,
            cumulative,
        })
        .collect();
    Classic {
        finite: finite.into_iter(),
        inf: e.count.max(cumulative),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use serde_json::json;

    use super::*;
    use crate::export::json;
    use crate::export::prometheus::{Format, render};
    use crate::store::{
        AttrValue, ExpBuckets, ExpHistogramPoint, Filter, Kind, Options, Store, unix_nanos,
    };

    fn b(index: usize, le: f64, cumulative: u64) -> Bucket {
        Bucket {
            index,
            le,
            cumulative,
        }
    }

    #[test]
    fn explicit_buckets_cumulate_and_inf_is_the_larger_of_count_and_buckets() {
        let bounds = [1.0, 2.0];
        let counts = [1, 2, 3];
        let c = explicit(&bounds, &counts, 6);
        assert_eq!(c.finite.collect::<Vec<_>>(), [b(0, 1.0, 1), b(1, 2.0, 3)]);
        assert_eq!(c.inf, 6);
        // A count above the buckets' sum is the `+Inf` count; one below is not.
        assert_eq!(explicit(&bounds, &counts, 10).inf, 10);
        assert_eq!(explicit(&bounds, &counts, 4).inf, 6);
        // No bounds: only `+Inf`.
        let c = explicit(&[], &[5], 5);
        assert_eq!(c.finite.count(), 0);
        assert_eq!(c.inf, 5);
    }

    fn exp(count: u64) -> ExpHistogram {
        ExpHistogram {
            scale: 0,
            count,
            sum: Some(1.0),
            min: None,
            max: None,
            zero_count: 1,
            zero_threshold: 0.0,
            // Buckets 0 and 2 at scale 0: (1, 2] and (4, 8].
            positive: ExpBuckets {
                offset: 0,
                counts: vec![1, 0, 2],
            },
            // Bucket 0: [-2, -1).
            negative: ExpBuckets {
                offset: 0,
                counts: vec![1],
            },
        }
    }

    #[test]
    fn exponential_buckets_are_classic_at_exponential_bounds() {
        let c = exponential(&exp(5));
        assert_eq!(
            c.finite.collect::<Vec<_>>(),
            [b(0, -1.0, 1), b(1, 0.0, 2), b(2, 2.0, 3), b(3, 8.0, 5)]
        );
        assert_eq!(c.inf, 5);
    }

    #[test]
    fn exponential_inf_is_the_count_when_it_exceeds_the_buckets_and_never_below_them() {
        // Regression (issue 9): the JSON snapshot gave `count` as the `+Inf` count even when it
        // was below the last finite bucket; the Prometheus page gave the larger of the two.
        assert_eq!(exponential(&exp(9)).inf, 9);
        assert_eq!(exponential(&exp(2)).inf, 5);
    }

    #[test]
    fn exponential_buckets_with_infinite_bounds_count_only_in_inf() {
        let mut e = exp(0);
        e.zero_count = 0;
        e.negative.counts.clear();
        // Bucket i32::MAX - 1 at scale 0 has the upper bound 2^(2^31), infinite as an f64.
        e.positive = ExpBuckets {
            offset: i32::MAX - 2,
            counts: vec![0, 4],
        };
        let c = exponential(&e);
        assert_eq!(c.finite.count(), 0);
        assert_eq!(c.inf, 4);
    }

    #[test]
    fn the_page_and_the_snapshot_give_the_same_inf_count() {
        // Regression (issue 9): with `count` below the buckets' sum (6), the snapshot's `+Inf`
        // bucket said 4, under its own last finite bucket.
        const SEC: u64 = 1_000_000_000;
        let empty: &[(&str, AttrValue<'_>)] = &[];
        // A count that disagrees with the buckets (9 or 4 here) is refused at ingest since
        // checks::exp_histogram (issue 10), so only the consistent point is left to render.
        for (count, inf) in [(9u64, None), (4, None), (6, Some("6"))] {
            let store = Store::new(Options::default());
            let mut ingest = store.ingest();
            let svc: &[(&str, AttrValue<'_>)] = &[("service.name", AttrValue::Str("svc"))];
            let r = ingest.resource(svc, "").unwrap();
            let s = ingest.scope(r, "", "", "", empty).unwrap();
            let m = ingest
                .metric(s, "size", "", "By", Kind::ExpHistogram { delta: false })
                .unwrap();
            let now = unix_nanos(SystemTime::now());
            let p = ExpHistogramPoint {
                start: now - SEC,
                time: now,
                count,
                sum: Some(20.0),
                min: None,
                max: None,
                scale: 0,
                zero_count: 1,
                zero_threshold: 0.0,
                positive: (1, &[2, 0, 3]), // (2,4]: 2, (4,8]: 0, (8,16]: 3
                negative: (0, &[]),
            };
            let applied = ingest.exp_histogram(m, empty, p, false, &[]);
            let Some(inf) = inf else {
                assert_eq!(
                    applied.err(),
                    Some(crate::store::PointError::CountMismatch { count, buckets: 6 })
                );
                continue;
            };
            applied.unwrap();
            drop(ingest);
            let snap = store.snapshot(&Filter::default());
            let page = render(&snap, Format::Text);
            let lines: Vec<&str> = page.lines().filter(|l| l.starts_with("size_")).collect();
            assert_eq!(
                lines,
                [
                    r#"size_bytes_bucket{job="svc",le="0"} 1"#.to_string(),
                    r#"size_bytes_bucket{job="svc",le="4"} 3"#.to_string(),
                    r#"size_bytes_bucket{job="svc",le="16"} 6"#.to_string(),
                    format!(r#"size_bytes_bucket{{job="svc",le="+Inf"}} {inf}"#),
                    r#"size_bytes_sum{job="svc"} 20"#.to_string(),
                    format!(r#"size_bytes_count{{job="svc"}} {inf}"#),
                ]
            );
            let doc = json::build(&snap);
            let got: Vec<(serde_json::Value, u64)> = doc.services[0].metrics[0].series[0]
                .buckets
                .iter()
                .flatten()
                .map(|b| (b.le.clone(), b.count))
                .collect();
            let inf: u64 = inf.parse().unwrap();
            assert_eq!(
                got,
                [
                    (json!(0.0), 1),
                    (json!(4.0), 3),
                    (json!(16.0), 6),
                    (json!("+Inf"), inf)
                ]
            );
        }
    }
}

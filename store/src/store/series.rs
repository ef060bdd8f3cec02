//! One series' state and the rules that fold an incoming point into it.
//!
//! Every OTLP point type lands here: cumulative points replace the state,
//! delta points are accumulated into a cumulative state, and the rules for
//! resets, gaps and out-of-order points are decided in one place
//! ([`Series::apply_number`] and friends) so the store and its tests agree.
//!
//! The rules, in order, for a point `p` against a series last updated at `t`
//! with start `s`:
//!
//! | case | cumulative | delta |
//! |---|---|---|
//! | `p.time <= t` | ignored (out of order) | ignored (out of order) |
//! | `p.start` moved (≠ `s`) | reset: replace, start = `p.start` | — |
//! | monotonic value / count dropped | reset: replace, start = `t` | — |
//! | `p.start == t` or `p.start == 0` | — | accumulated |
//! | `p.start > t` (a gap) | — | reset: start over from `p` |
//! | `p.start < t < p.time` (overlap) | — | rejected: it would double count |
//! | histogram bucket layout changed | reset | reset |
//!
//! Gauges keep the newest point (a point with the same timestamp replaces).
//!
//! Updating never allocates once a series exists, except when a histogram's
//! bucket layout changes or an exponential histogram grows its bucket range.

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::Exemplar;

use super::exp_merge::merge_exp;
use super::values::{
    ExpBuckets, ExpHistogram, ExpHistogramPoint, Histogram, HistogramPoint, NumberPoint,
    SeriesMeta, StoredExemplar, Summary, SummaryPoint, Value,
};

/// What applying a point did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The point updated the series.
    Updated,
    /// The point started the series over (a counter reset or a gap).
    Reset,
    /// The point was older than the series and was ignored.
    OutOfOrder,
    /// A delta point overlapping the previous one: accepting it would double count.
    Overlap,
}

/// A live series.
#[derive(Debug)]
pub(crate) struct Series {
    /// Attributes and label text.
    pub meta: Arc<SeriesMeta>,
    /// Second hash of the attribute set (see `Ingest::upsert`).
    pub check: u64,
    /// Start time of the cumulative value, Unix nanoseconds.
    pub start: u64,
    /// Time of the last applied point, Unix nanoseconds.
    pub time: u64,
    /// Store clock (milliseconds) when a point last arrived; drives expiry.
    pub touched: u64,
    /// The cumulative value.
    pub value: Value,
    /// Latest exemplars (one per histogram bucket, or one for a counter).
    /// Boxed: 8 bytes per series when absent (the usual case) instead of 24.
    #[allow(clippy::box_collection)]
    pub exemplars: Option<Box<Vec<(usize, StoredExemplar)>>>,
}

/// Delta alignment decision shared by every delta type.
enum DeltaStep {
    Accumulate,
    Restart,
    Overlap,
}

fn delta_step(series_time: u64, start: u64) -> DeltaStep {
    if start == 0 || start == series_time {
        DeltaStep::Accumulate
    } else if start > series_time {
        DeltaStep::Restart
    } else {
        DeltaStep::Overlap
    }
}

pub(super) fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

pub(super) fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

// === impl Series ===

impl Series {
    /// A new series holding `value`.
    pub(crate) fn new(
        meta: Arc<SeriesMeta>,
        start: u64,
        time: u64,
        touched: u64,
        value: Value,
    ) -> Self {
        let start = if start == 0 { time } else { start };
        Series {
            meta,
            check: 0,
            start,
            time,
            touched,
            value,
            exemplars: None,
        }
    }

    /// Finish applying a cumulative point: move the clock, and the start when
    /// the point reset the series (its start moved, or its value dropped: then
    /// the reset happened after the previous point).
    fn advance_cumulative(&mut self, start: u64, time: u64, moved: bool, dropped: bool) -> Applied {
        let prev = self.time;
        self.time = time;
        if moved {
            self.start = start;
            Applied::Reset
        } else if dropped {
            self.start = if start == 0 { prev } else { start.max(prev) };
            Applied::Reset
        } else {
            Applied::Updated
        }
    }

    /// Fold a Sum point in.
    pub(crate) fn apply_sum(&mut self, p: &NumberPoint, delta: bool, monotonic: bool) -> Applied {
        let cur = match &mut self.value {
            Value::Number(n) => n,
            other => {
                *other = Value::Number(p.value);
                self.start = if p.start == 0 { p.time } else { p.start };
                self.time = p.time;
                return Applied::Reset;
            }
        };
        if p.time <= self.time {
            return Applied::OutOfOrder;
        }
        if delta {
            match delta_step(self.time, p.start) {
                DeltaStep::Accumulate => {
                    *cur = cur.add(p.value);
                    self.time = p.time;
                    Applied::Updated
                }
                DeltaStep::Restart => {
                    *cur = p.value;
                    self.start = p.start;
                    self.time = p.time;
                    Applied::Reset
                }
                DeltaStep::Overlap => Applied::Overlap,
            }
        } else {
            let moved = p.start != 0 && p.start != self.start;
            let dropped = monotonic && p.value.as_f64() < cur.as_f64();
            *cur = p.value;
            self.advance_cumulative(p.start, p.time, moved, dropped)
        }
    }

    /// Fold a Gauge point in: the newest point wins.
    pub(crate) fn apply_gauge(&mut self, p: &NumberPoint) -> Applied {
        if p.time < self.time {
            return Applied::OutOfOrder;
        }
        self.value = Value::Number(p.value);
        self.time = p.time;
        if p.start != 0 {
            self.start = p.start;
        }
        Applied::Updated
    }

    /// Fold an explicit-bucket histogram point in.
    pub(crate) fn apply_histogram(
        &mut self,
        p: &HistogramPoint<'_>,
        delta: bool,
        layout: &mut Arc<[f64]>,
    ) -> Applied {
        let start0 = self.start;
        let Value::Histogram(h) = &mut self.value else {
            self.value = Value::Histogram(Box::new(new_histogram(p, layout)));
            self.start = if p.start == 0 { p.time } else { p.start };
            self.time = p.time;
            return Applied::Reset;
        };
        if p.time <= self.time {
            return Applied::OutOfOrder;
        }
        let same_layout = &*h.bounds == p.bounds && h.counts.len() == p.counts.len();
        if !same_layout {
            **h = new_histogram(p, layout);
            self.start = if p.start == 0 { p.time } else { p.start };
            self.time = p.time;
            return Applied::Reset;
        }
        if delta {
            match delta_step(self.time, p.start) {
                DeltaStep::Accumulate => {
                    for (c, add) in h.counts.iter_mut().zip(p.counts) {
                        *c = c.saturating_add(*add);
                    }
                    h.count = h.count.saturating_add(p.count);
                    h.sum = match (h.sum, p.sum) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                    h.min = min_opt(h.min, p.min);
                    h.max = max_opt(h.max, p.max);
                    self.time = p.time;
                    Applied::Updated
                }
                DeltaStep::Restart => {
                    copy_histogram(h, p);
                    self.start = p.start;
                    self.time = p.time;
                    Applied::Reset
                }
                DeltaStep::Overlap => Applied::Overlap,
            }
        } else {
            let moved = p.start != 0 && p.start != start0;
            let dropped = p.count < h.count;
            copy_histogram(h, p);
            self.advance_cumulative(p.start, p.time, moved, dropped)
        }
    }

    /// Fold an exponential histogram point in.
    pub(crate) fn apply_exp(&mut self, p: &ExpHistogramPoint<'_>, delta: bool) -> Applied {
        let start0 = self.start;
        let Value::Exp(h) = &mut self.value else {
            self.value = Value::Exp(Box::new(new_exp(p)));
            self.start = if p.start == 0 { p.time } else { p.start };
            self.time = p.time;
            return Applied::Reset;
        };
        if p.time <= self.time {
            return Applied::OutOfOrder;
        }
        if delta {
            match delta_step(self.time, p.start) {
                DeltaStep::Accumulate => {
                    if h.zero_threshold != p.zero_threshold {
                        **h = new_exp(p);
                        self.start = if p.start == 0 { p.time } else { p.start };
                        self.time = p.time;
                        return Applied::Reset;
                    }
                    merge_exp(h, p);
                    self.time = p.time;
                    Applied::Updated
                }
                DeltaStep::Restart => {
                    **h = new_exp(p);
                    self.start = p.start;
                    self.time = p.time;
                    Applied::Reset
                }
                DeltaStep::Overlap => Applied::Overlap,
            }
        } else {
            let moved = p.start != 0 && p.start != start0;
            let dropped = p.count < h.count;
            copy_exp(h, p);
            self.advance_cumulative(p.start, p.time, moved, dropped)
        }
    }

    /// Fold a summary point in (summaries are always cumulative).
    pub(crate) fn apply_summary(&mut self, p: &SummaryPoint<'_>) -> Applied {
        let Value::Summary(s) = &mut self.value else {
            self.value = Value::Summary(Box::new(new_summary(p)));
            self.start = if p.start == 0 { p.time } else { p.start };
            self.time = p.time;
            return Applied::Reset;
        };
        if p.time <= self.time {
            return Applied::OutOfOrder;
        }
        let moved = p.start != 0 && p.start != self.start;
        let dropped = p.count < s.count;
        s.count = p.count;
        s.sum = p.sum;
        s.quantiles.clear();
        s.quantiles
            .extend(p.quantiles.iter().map(|q| (q.quantile, q.value)));
        self.advance_cumulative(p.start, p.time, moved, dropped)
    }

    /// Remember exemplars for OpenMetrics: for a histogram, the newest per
    /// bucket; otherwise the newest one. Allocates only the first time.
    pub(crate) fn record_exemplars(&mut self, exemplars: &[Exemplar]) {
        if exemplars.is_empty() {
            return;
        }
        let bounds = match &self.value {
            Value::Histogram(h) => Some(h.bounds.clone()),
            Value::Number(_) => None,
            _ => return,
        };
        let list = self.exemplars.get_or_insert_with(Default::default);
        for e in exemplars {
            let Some(stored) = StoredExemplar::from_otlp(e) else {
                continue;
            };
            let bucket = match &bounds {
                Some(b) => b
                    .iter()
                    .position(|ub| stored.value <= *ub)
                    .unwrap_or(b.len()),
                None => 0,
            };
            match list.iter_mut().find(|(i, _)| *i == bucket) {
                Some(slot) => slot.1 = stored,
                None => {
                    list.push((bucket, stored));
                    list.sort_by_key(|(i, _)| *i);
                }
            }
        }
    }
}

pub(crate) fn new_histogram(p: &HistogramPoint<'_>, layout: &mut Arc<[f64]>) -> Histogram {
    if &**layout != p.bounds {
        *layout = Arc::from(p.bounds);
    }
    Histogram {
        bounds: layout.clone(),
        counts: p.counts.to_vec(),
        count: p.count,
        sum: p.sum,
        min: p.min,
        max: p.max,
    }
}

fn copy_histogram(h: &mut Histogram, p: &HistogramPoint<'_>) {
    h.counts.copy_from_slice(p.counts);
    h.count = p.count;
    h.sum = p.sum;
    h.min = p.min;
    h.max = p.max;
}

pub(crate) fn new_summary(p: &SummaryPoint<'_>) -> Summary {
    Summary {
        count: p.count,
        sum: p.sum,
        quantiles: p.quantiles.iter().map(|q| (q.quantile, q.value)).collect(),
    }
}

pub(crate) fn new_exp(p: &ExpHistogramPoint<'_>) -> ExpHistogram {
    ExpHistogram {
        scale: p.scale,
        count: p.count,
        sum: p.sum,
        min: p.min,
        max: p.max,
        zero_count: p.zero_count,
        zero_threshold: p.zero_threshold,
        positive: ExpBuckets {
            offset: p.positive.0,
            counts: p.positive.1.to_vec(),
        },
        negative: ExpBuckets {
            offset: p.negative.0,
            counts: p.negative.1.to_vec(),
        },
    }
}

fn copy_exp(h: &mut ExpHistogram, p: &ExpHistogramPoint<'_>) {
    h.scale = p.scale;
    h.count = p.count;
    h.sum = p.sum;
    h.min = p.min;
    h.max = p.max;
    h.zero_count = p.zero_count;
    h.zero_threshold = p.zero_threshold;
    for (side, (offset, counts)) in [(&mut h.positive, p.positive), (&mut h.negative, p.negative)] {
        side.offset = offset;
        side.counts.clear();
        side.counts.extend_from_slice(counts);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::metrics::v1::exemplar;

    use super::super::attrs::OwnedAttrs;
    use super::super::exp_merge::MAX_EXP_SPAN;
    use super::super::values::Number;
    use super::*;

    fn meta() -> Arc<SeriesMeta> {
        Arc::new(SeriesMeta {
            attrs: OwnedAttrs::default(),
            labels: "".into(),
        })
    }

    fn num(start: u64, time: u64, v: i64) -> NumberPoint {
        NumberPoint {
            start,
            time,
            value: Number::Int(v),
        }
    }

    fn sum_series(p: NumberPoint) -> Series {
        Series::new(meta(), p.start, p.time, 0, Value::Number(p.value))
    }

    #[test]
    fn cumulative_sum_replaces_and_detects_resets() {
        let mut s = sum_series(num(10, 20, 5));
        assert_eq!(s.apply_sum(&num(10, 30, 8), false, true), Applied::Updated);
        assert_eq!(s.value, Value::Number(Number::Int(8)));
        // Start time moved: reset.
        assert_eq!(s.apply_sum(&num(35, 40, 2), false, true), Applied::Reset);
        assert_eq!((s.start, s.time), (35, 40));
        // Value dropped with the same start: reset, start moves to the previous time.
        assert_eq!(s.apply_sum(&num(35, 50, 1), false, true), Applied::Reset);
        assert_eq!((s.start, s.time), (40, 50));
        // A non-monotonic sum may go down without a reset.
        let mut g = sum_series(num(10, 20, 5));
        assert_eq!(
            g.apply_sum(&num(10, 30, -3), false, false),
            Applied::Updated
        );
        assert_eq!(g.start, 10);
    }

    #[test]
    fn older_points_are_ignored() {
        let mut s = sum_series(num(10, 20, 5));
        assert_eq!(
            s.apply_sum(&num(10, 15, 9), false, true),
            Applied::OutOfOrder
        );
        assert_eq!(
            s.apply_sum(&num(10, 20, 9), false, true),
            Applied::OutOfOrder
        );
        assert_eq!(s.value, Value::Number(Number::Int(5)));
        assert_eq!(s.apply_gauge(&num(0, 19, 1)), Applied::OutOfOrder);
        assert_eq!(s.apply_gauge(&num(0, 20, 1)), Applied::Updated);
    }

    #[test]
    fn aligned_deltas_accumulate_and_gaps_reset() {
        let mut s = sum_series(num(10, 20, 5));
        assert_eq!(s.apply_sum(&num(20, 30, 3), true, true), Applied::Updated);
        assert_eq!(s.value, Value::Number(Number::Int(8)));
        assert_eq!(s.start, 10);
        // Gap between 30 and 40: the cumulative restarts.
        assert_eq!(s.apply_sum(&num(40, 50, 4), true, true), Applied::Reset);
        assert_eq!(s.value, Value::Number(Number::Int(4)));
        assert_eq!((s.start, s.time), (40, 50));
        // Overlap: rejected, value unchanged.
        assert_eq!(s.apply_sum(&num(45, 60, 100), true, true), Applied::Overlap);
        assert_eq!(s.value, Value::Number(Number::Int(4)));
        // Unknown start (0) accumulates.
        assert_eq!(s.apply_sum(&num(0, 70, 1), true, true), Applied::Updated);
        assert_eq!(s.value, Value::Number(Number::Int(5)));
    }

    #[test]
    fn integer_overflow_turns_into_a_float() {
        let mut s = sum_series(num(10, 20, i64::MAX));
        s.apply_sum(&num(20, 30, 1), true, true);
        assert_eq!(
            s.value,
            Value::Number(Number::Double(i64::MAX as f64 + 1.0))
        );
    }

    fn hp<'a>(start: u64, time: u64, bounds: &'a [f64], counts: &'a [u64]) -> HistogramPoint<'a> {
        HistogramPoint {
            start,
            time,
            count: counts.iter().sum(),
            sum: Some(counts.iter().sum::<u64>() as f64),
            min: None,
            max: None,
            bounds,
            counts,
        }
    }

    #[test]
    fn delta_histograms_accumulate_and_layout_changes_reset() {
        let mut layout: Arc<[f64]> = Arc::from(&[][..]);
        let bounds = [1.0, 2.0];
        let mut s = Series::new(meta(), 0, 0, 0, Value::Number(Number::Int(0)));
        assert_eq!(
            s.apply_histogram(&hp(10, 20, &bounds, &[1, 2, 3]), true, &mut layout),
            Applied::Reset
        );
        assert_eq!(
            s.apply_histogram(&hp(20, 30, &bounds, &[1, 0, 1]), true, &mut layout),
            Applied::Updated
        );
        let Value::Histogram(h) = &s.value else {
            panic!("not a histogram")
        };
        assert_eq!(h.counts, vec![2, 2, 4]);
        assert_eq!(h.count, 8);
        assert_eq!(h.sum, Some(8.0));
        assert!(Arc::ptr_eq(&h.bounds, &layout));
        let other = [5.0];
        assert_eq!(
            s.apply_histogram(&hp(30, 40, &other, &[1, 1]), true, &mut layout),
            Applied::Reset
        );
        let Value::Histogram(h) = &s.value else {
            panic!("not a histogram")
        };
        assert_eq!(&*h.bounds, &[5.0]);
        assert_eq!(h.counts, vec![1, 1]);
    }

    #[test]
    fn cumulative_histograms_replace_and_reset_on_count_drop() {
        let mut layout: Arc<[f64]> = Arc::from(&[][..]);
        let bounds = [1.0];
        let mut s = Series::new(meta(), 0, 0, 0, Value::Number(Number::Int(0)));
        s.apply_histogram(&hp(10, 20, &bounds, &[1, 2]), false, &mut layout);
        assert_eq!(
            s.apply_histogram(&hp(10, 30, &bounds, &[2, 2]), false, &mut layout),
            Applied::Updated
        );
        assert_eq!(
            s.apply_histogram(&hp(10, 40, &bounds, &[1, 0]), false, &mut layout),
            Applied::Reset
        );
        assert_eq!(s.start, 30);
        let Value::Histogram(h) = &s.value else {
            panic!("not a histogram")
        };
        assert_eq!(h.counts, vec![1, 0]);
    }

    fn ep<'a>(
        start: u64,
        time: u64,
        scale: i32,
        offset: i32,
        counts: &'a [u64],
    ) -> ExpHistogramPoint<'a> {
        ExpHistogramPoint {
            start,
            time,
            count: counts.iter().sum(),
            sum: Some(1.0),
            min: None,
            max: None,
            scale,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: (offset, counts),
            negative: (0, &[]),
        }
    }

    #[test]
    fn delta_exponential_histograms_merge_at_the_coarser_scale() {
        let mut s = Series::new(meta(), 0, 0, 0, Value::Number(Number::Int(0)));
        s.apply_exp(&ep(10, 20, 1, 2, &[1, 1, 1]), true); // indices 2,3,4 at scale 1
        assert_eq!(s.apply_exp(&ep(20, 30, 0, 0, &[5]), true), Applied::Updated); // index 0 at scale 0
        let Value::Exp(h) = &s.value else {
            panic!("not exp")
        };
        // At scale 0: 2>>1=1, 3>>1=1, 4>>1=2; plus index 0.
        assert_eq!(h.scale, 0);
        assert_eq!(h.positive.offset, 0);
        assert_eq!(h.positive.counts, vec![5, 2, 1]);
        assert_eq!(h.count, 8);
        assert_eq!(h.sum, Some(2.0));
    }

    #[test]
    fn histogram_exemplars_are_kept_per_bucket() {
        let mut layout: Arc<[f64]> = Arc::from(&[][..]);
        let bounds = [1.0, 2.0];
        let mut s = Series::new(meta(), 0, 0, 0, Value::Number(Number::Int(0)));
        s.apply_histogram(&hp(10, 20, &bounds, &[1, 1, 1]), false, &mut layout);
        let ex = |v: f64| Exemplar {
            value: Some(exemplar::Value::AsDouble(v)),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        s.record_exemplars(&[ex(0.5), ex(1.5), ex(0.7), ex(9.0)]);
        let list = s.exemplars.as_ref().unwrap();
        let got: Vec<(usize, f64)> = list.iter().map(|(i, e)| (*i, e.value)).collect();
        assert_eq!(got, vec![(0, 0.7), (1, 1.5), (2, 9.0)]);
    }

    #[test]
    fn far_apart_exponential_deltas_merge_at_a_coarser_scale_without_huge_arrays() {
        let mut s = Series::new(meta(), 0, 0, 0, Value::Number(Number::Int(0)));
        s.apply_exp(&ep(10, 20, 20, i32::MIN, &[1]), true);
        assert_eq!(
            s.apply_exp(&ep(20, 30, 20, i32::MAX - 1, &[1]), true),
            Applied::Updated
        );
        let Value::Exp(h) = &s.value else {
            panic!("not exp")
        };
        assert!(
            h.positive.counts.len() as i64 <= MAX_EXP_SPAN,
            "{} buckets",
            h.positive.counts.len()
        );
        assert_eq!(h.positive.counts.iter().sum::<u64>(), 2);
        assert!(h.scale < 20);
    }
}

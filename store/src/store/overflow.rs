//! The overflow series: where the points of new series go once a metric holds its series limit.
//!
//! A metric (of one resource and scope) holds at most `max_series_per_metric` series. A point
//! that would add one more is not refused: it is folded into one extra series of the metric,
//! whose only attribute is `otel.metric.overflow = true` (the attribute the OpenTelemetry SDKs
//! give their own overflow series; on the Prometheus pages `otel_metric_overflow="true"`), so
//! the metric's totals stay right while its memory stays bounded. How a point folds:
//!
//! | metric | folded as |
//! |---|---|
//! | Gauge | the newest point wins, as in any gauge |
//! | delta Sum, delta Histogram | added to the overflow series |
//! | cumulative Sum, cumulative Histogram | the change since the same source's previous point is added |
//! | Exponential histogram, Summary | refused (`series_limit`): their buckets or quantiles cannot be added up exactly |
//!
//! A cumulative source (one attribute set past the limit) is remembered in a small table, its
//! last value and start (under 100 bytes for a Sum, instead of a whole series' 600), so that its
//! next point adds only what it counted since: a counter that restarts (its start moves, or its
//! value drops) adds its whole new value, and an up-down counter adds the difference either way,
//! so the overflow series is the sum of the sources' current values. Sources count against the
//! store-wide `max_series` like series, at most `max_series_per_metric` of them per metric; past
//! either, the point is refused in `partial_success`. A source not updated for the expiry
//! period is forgotten (its share stays in the total, as a stopped counter's would).
//!
//! Histograms fold only into an overflow series with the same bucket bounds (the first folded
//! point sets them); a point with other bounds is refused.
//!
//! A sender's own series carrying `otel.metric.overflow = true` (an SDK past its own limit) is
//! the same series: it is updated by the ordinary rules while the metric is under its limit.

use std::sync::Arc;

use hashbrown::HashTable;

use super::attrs::{AttrValue, SortedView};
use super::series::{Series, max_opt, min_opt};
use super::values::{Histogram, HistogramPoint, Number, NumberPoint, Value};
use super::{Applied, Kind, PointError};

/// The attribute that marks the overflow series.
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// Why an exponential histogram or summary point past the limit is refused.
pub(super) const UNFOLDABLE: &str =
    "exponential histograms and summaries cannot be folded into its overflow series";
/// Why a point past the limit is refused when its value cannot be added up: a NaN or an
/// infinity added into the overflow series would stay in its total for good (an ordinary series
/// is mended by its next point; the overflow series only ever adds).
pub(super) const NOT_FINITE: &str =
    "a value that is not a finite number cannot be added into its overflow series";
/// Why a point past the limit is refused when the store is full.
pub(super) const STORE_FULL: &str = "the collector holds its limit of series";

/// A point on its way into the overflow series.
#[derive(Clone, Copy)]
pub(super) enum Fold<'p> {
    /// A Sum or Gauge point.
    Number(&'p NumberPoint),
    /// An explicit-bucket histogram point.
    Histogram(&'p HistogramPoint<'p>),
    /// A point that cannot be folded (exponential histogram, summary).
    Refused,
}

/// A metric's overflow state: where its overflow series is, and its cumulative sources.
pub(super) struct Overflow {
    /// Hashes of the overflow series' attribute set (see `Ingest::upsert`).
    pub(super) hash: u64,
    pub(super) check: u64,
    sources: HashTable<Source>,
}

/// A cumulative attribute set past the limit, and what it last contributed.
struct Source {
    hash: u64,
    check: u64,
    start: u64,
    time: u64,
    touched: u64,
    last: Last,
}

impl Source {
    /// A source first seen now, with nothing contributed yet.
    fn new(ctx: &FoldCtx<'_>, start: u64, nothing: Last) -> Source {
        Source {
            hash: ctx.hash,
            check: ctx.check,
            start,
            time: 0,
            touched: ctx.now_ms,
            last: nothing,
        }
    }

    /// What its point at `time` (started at `start`, 0 when unknown) contributed.
    fn record(&mut self, last: Last, start: u64, time: u64, now_ms: u64) {
        self.last = last;
        self.time = time;
        self.touched = now_ms;
        if start != 0 {
            self.start = start;
        }
    }
}

enum Last {
    Number(Number),
    Histogram {
        count: u64,
        sum: Option<f64>,
        counts: Box<[u64]>,
    },
}

/// The context a fold needs besides the point.
pub(super) struct FoldCtx<'a> {
    pub(super) kind: Kind,
    /// Hashes of the point's own attribute set (the source's identity).
    pub(super) hash: u64,
    pub(super) check: u64,
    pub(super) now_ms: u64,
    /// `max_series_per_metric`: the most sources a metric remembers.
    pub(super) limit: usize,
    /// Takes one series off the store-wide budget; false when the store is full.
    pub(super) admit: &'a dyn Fn() -> bool,
}

// === impl Overflow ===

impl Overflow {
    /// The overflow state of a metric `seed` (its id, which seeds its series hashes).
    pub(super) fn new(seed: u64) -> Self {
        let attrs = [(OVERFLOW_ATTRIBUTE, AttrValue::Bool(true))];
        let (hash, check) = match SortedView::new(&attrs[..]) {
            Ok(view) => view.hashes(seed),
            Err(_) => (0, 0),
        };
        Overflow {
            hash,
            check,
            sources: HashTable::new(),
        }
    }

    /// Sources remembered.
    pub(super) fn sources(&self) -> usize {
        self.sources.len()
    }

    /// Forget sources not updated since `cutoff` (store clock); returns how many.
    pub(super) fn expire(&mut self, cutoff: u64) -> usize {
        let before = self.sources.len();
        self.sources.retain(|s| s.touched >= cutoff);
        before - self.sources.len()
    }

    /// Fold `point` into `series`, the overflow series. Returns what it did to the series and
    /// whether a new source was remembered (it then holds one unit of the store's budget).
    pub(super) fn fold(
        &mut self,
        series: &mut Series,
        point: Fold<'_>,
        ctx: &FoldCtx<'_>,
        layout: &mut Arc<[f64]>,
    ) -> Result<(Applied, bool), PointError> {
        match point {
            Fold::Refused => Err(PointError::OverflowRefused {
                limit: ctx.limit,
                cause: UNFOLDABLE,
            }),
            Fold::Number(p)
                if matches!(ctx.kind, Kind::Sum { .. }) && !p.value.as_f64().is_finite() =>
            {
                Err(PointError::OverflowRefused {
                    limit: ctx.limit,
                    cause: NOT_FINITE,
                })
            }
            Fold::Histogram(p) if p.sum.is_some_and(|sum| !sum.is_finite()) => {
                Err(PointError::OverflowRefused {
                    limit: ctx.limit,
                    cause: NOT_FINITE,
                })
            }
            Fold::Number(p) => match ctx.kind {
                Kind::Sum {
                    delta: false,
                    monotonic,
                } => self.cumulative_number(series, p, monotonic, ctx),
                Kind::Sum { delta: true, .. } => {
                    add_number(series, p.value, p.time);
                    Ok((Applied::Updated, false))
                }
                _ => Ok((series.apply_gauge(p), false)),
            },
            Fold::Histogram(p) => {
                if !same_bounds(series, p, layout) {
                    return Err(PointError::OverflowRefused {
                        limit: ctx.limit,
                        cause: "the point's bucket bounds differ from those of its overflow series",
                    });
                }
                if ctx.kind.is_delta() {
                    add_histogram(series, p.counts, p.count, p.sum, p.time);
                    merge_min_max(series, p);
                    Ok((Applied::Updated, false))
                } else {
                    self.cumulative_histogram(series, p, ctx)
                }
            }
        }
    }

    /// Find the source of `ctx`, or remember a new one built by `first`; `None` when the point
    /// is older than the source's last. The flag tells whether the source is new.
    fn source(
        &mut self,
        ctx: &FoldCtx<'_>,
        first: impl FnOnce() -> Source,
    ) -> Result<(&mut Source, bool), PointError> {
        let (hash, check) = (ctx.hash, ctx.check);
        if self
            .sources
            .find(hash, |s| s.hash == hash && s.check == check)
            .is_none()
        {
            if self.sources.len() >= ctx.limit {
                return Err(PointError::OverflowRefused {
                    limit: ctx.limit,
                    cause: "its overflow series already follows as many cumulative sources",
                });
            }
            if !(ctx.admit)() {
                return Err(PointError::OverflowRefused {
                    limit: ctx.limit,
                    cause: STORE_FULL,
                });
            }
            let entry = self.sources.insert_unique(hash, first(), |s| s.hash);
            return Ok((entry.into_mut(), true));
        }
        match self
            .sources
            .find_mut(hash, |s| s.hash == hash && s.check == check)
        {
            Some(s) => Ok((s, false)),
            None => Err(PointError::KindMismatch),
        }
    }

    fn cumulative_number(
        &mut self,
        series: &mut Series,
        p: &NumberPoint,
        monotonic: bool,
        ctx: &FoldCtx<'_>,
    ) -> Result<(Applied, bool), PointError> {
        let fresh = || Source::new(ctx, p.start, Last::Number(Number::Int(0)));
        let (source, new) = self.source(ctx, fresh)?;
        if !new && p.time <= source.time {
            return Ok((Applied::OutOfOrder, false));
        }
        let last = match source.last {
            Last::Number(n) => n,
            Last::Histogram { .. } => Number::Int(0),
        };
        let restarted = !new && p.start != 0 && p.start != source.start;
        let dropped = p.value.as_f64() < last.as_f64();
        // A counter that started over counted its whole value since; an up-down counter's
        // share is its current value either way.
        let change = if monotonic && (restarted || dropped) {
            p.value
        } else {
            p.value.sub(last)
        };
        source.record(Last::Number(p.value), p.start, p.time, ctx.now_ms);
        add_number(series, change, p.time);
        Ok((Applied::Updated, new))
    }

    fn cumulative_histogram(
        &mut self,
        series: &mut Series,
        p: &HistogramPoint<'_>,
        ctx: &FoldCtx<'_>,
    ) -> Result<(Applied, bool), PointError> {
        let fresh = || {
            let last = Last::Histogram {
                count: 0,
                sum: Some(0.0),
                counts: vec![0; p.counts.len()].into_boxed_slice(),
            };
            Source::new(ctx, p.start, last)
        };
        let (source, new) = self.source(ctx, fresh)?;
        if !new && p.time <= source.time {
            return Ok((Applied::OutOfOrder, false));
        }
        let restarted = !new && p.start != 0 && p.start != source.start;
        let mut change: Vec<u64> = p.counts.to_vec();
        let (mut change_count, mut change_sum) = (p.count, p.sum);
        if let Last::Histogram { count, sum, counts } = &source.last
            && !restarted
            && counts.len() == p.counts.len()
            && p.count >= *count
            && p.counts.iter().zip(counts.iter()).all(|(n, o)| n >= o)
        {
            for (c, o) in change.iter_mut().zip(counts.iter()) {
                *c -= o;
            }
            change_count = p.count - count;
            change_sum = match (p.sum, sum) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
        }
        let last = Last::Histogram {
            count: p.count,
            sum: p.sum,
            counts: p.counts.into(),
        };
        source.record(last, p.start, p.time, ctx.now_ms);
        add_histogram(series, &change, change_count, change_sum, p.time);
        merge_min_max(series, p);
        Ok((Applied::Updated, new))
    }
}

/// The value a new overflow series starts from, before the first point is folded in.
pub(super) fn empty_value(point: Fold<'_>, layout: &mut Arc<[f64]>) -> Value {
    match point {
        Fold::Histogram(p) => {
            if **layout != *p.bounds {
                *layout = Arc::from(p.bounds);
            }
            Value::Histogram(Box::new(Histogram {
                bounds: layout.clone(),
                counts: vec![0; p.counts.len()],
                count: 0,
                sum: Some(0.0),
                min: None,
                max: None,
            }))
        }
        _ => Value::Number(Number::Int(0)),
    }
}

fn add_number(series: &mut Series, change: Number, time: u64) {
    match &mut series.value {
        Value::Number(n) => *n = n.add(change),
        other => *other = Value::Number(change),
    }
    series.time = series.time.max(time);
}

fn same_bounds(series: &Series, p: &HistogramPoint<'_>, layout: &Arc<[f64]>) -> bool {
    match &series.value {
        Value::Histogram(h) => *h.bounds == *p.bounds && h.counts.len() == p.counts.len(),
        _ => **layout == *p.bounds,
    }
}

fn add_histogram(series: &mut Series, counts: &[u64], count: u64, sum: Option<f64>, time: u64) {
    if let Value::Histogram(h) = &mut series.value {
        for (c, n) in h.counts.iter_mut().zip(counts) {
            *c = c.saturating_add(*n);
        }
        h.count = h.count.saturating_add(count);
        h.sum = match (h.sum, sum) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    series.time = series.time.max(time);
}

fn merge_min_max(series: &mut Series, p: &HistogramPoint<'_>) {
    if let Value::Histogram(h) = &mut series.value {
        h.min = min_opt(h.min, p.min);
        h.max = max_opt(h.max, p.max);
    }
}

//! Finding a point's series, creating it, or folding the point into the metric's overflow
//! series: the one place a point meets the series table.
//!
//! The point methods (`points.rs`) check a point and hand it here with two closures, one that
//! builds a new series' value and one that folds the point into an existing series by the rules
//! of `series.rs`, and with its [`Fold`] form for the overflow series (`overflow.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry_proto::tonic::metrics::v1::Exemplar;

use super::attrs::{AttrValue, SortedView};
use super::overflow::{
    Fold, FoldCtx, OVERFLOW_ATTRIBUTE, Overflow, STORE_FULL, UNFOLDABLE, empty_value,
};
use super::series::Series;
use super::table::Table;
use super::{
    Applied, Attributes, Ingest, Kind, Metric, MetricId, PointError, Resource, Scope, SeriesMeta,
    Store, Value,
};

impl Ingest<'_> {
    /// Apply a point with `apply`, creating the series with `create` when new, or folding it
    /// into the overflow series (as `fold`) when the metric holds its series limit.
    /// `no_value` (the OTLP no-recorded-value flag) removes the series instead.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn upsert<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        no_value: bool,
        exemplars: &[Exemplar],
        fold: Fold<'_>,
        create: impl FnOnce(&mut Arc<[f64]>) -> (u64, u64, Value),
        apply: impl FnOnce(&mut Series, Kind, &mut Arc<[f64]>) -> Applied,
    ) -> Result<Applied, PointError> {
        self.last = None;
        let view = SortedView::new(attrs).map_err(|_| PointError::DuplicateAttribute)?;
        // A series is found by one 64-bit hash of its attribute set and confirmed by a second,
        // under independent keys drawn at random per process, instead of comparing the sets:
        // reading a stored set back costs a cache miss per key and value, and comparing them
        // was a fifth of the ingest CPU. Two sets agreeing on both hashes by chance has odds of
        // about n^2 / 2^129 for n series of a metric (1e-31 at 10,000), and the keys are
        // unknown to senders, so they cannot be found on purpose.
        let (hash, check) = view.hashes(u64::from(metric.id));
        let store = self.store;
        let now_ms = self.now_ms;
        let Some(inner) = self.held_mut(metric.visit) else {
            return Err(PointError::KindMismatch);
        };
        let Some(m) = inner.metrics.get_mut(metric.id) else {
            return Err(PointError::KindMismatch);
        };
        let stats = &store.stats;
        let found = m.series.find(hash, |s| s.check == check);
        if no_value {
            if let Some(id) = found {
                m.series.remove(id);
                store.forget_series(1);
                stats.removed_series.fetch_add(1, Ordering::Relaxed);
                if let Some(r) = inner.resources.get_mut(m.resource) {
                    r.series = r.series.saturating_sub(1);
                }
            }
            stats.accepted_points.fetch_add(1, Ordering::Relaxed);
            return Ok(Applied::Updated);
        }
        let kind = m.kind;
        let mut last = None;
        let outcome = match found.and_then(|id| Some((id, m.series.get_mut(id)?))) {
            Some((id, series)) => {
                let applied = apply(series, kind, &mut m.layout);
                if applied == Applied::Overlap {
                    return Err(PointError::Overlap);
                }
                if applied != Applied::OutOfOrder {
                    series.touched = now_ms;
                    series.record_exemplars(exemplars);
                    last = Some((metric.id, id, applied == Applied::Reset));
                }
                applied
            }
            None => {
                let limit = store.options.max_series_per_metric;
                let overflow = m
                    .overflow
                    .as_ref()
                    .and_then(|o| m.series.find(o.hash, |s| s.check == o.check));
                let held = m.series.len() - usize::from(overflow.is_some());
                let (id, applied, created) = if held >= limit {
                    let ctx = FoldCtx {
                        kind,
                        hash,
                        check,
                        now_ms,
                        limit,
                        admit: &|| store.admit_series(),
                    };
                    let (id, created) = match overflow {
                        Some(id) => (id, false),
                        None => (
                            new_overflow_series(store, inner_parts(inner), metric, fold, now_ms)?,
                            true,
                        ),
                    };
                    let Some(m) = inner.metrics.get_mut(metric.id) else {
                        return Err(PointError::KindMismatch);
                    };
                    let (Some(o), Some(series)) = (m.overflow.as_deref_mut(), m.series.get_mut(id))
                    else {
                        return Err(PointError::KindMismatch);
                    };
                    let (applied, _) = o.fold(series, fold, &ctx, &mut m.layout)?;
                    if applied != Applied::OutOfOrder {
                        series.touched = now_ms;
                        series.record_exemplars(exemplars);
                    }
                    stats.overflow_points.fetch_add(1, Ordering::Relaxed);
                    (id, applied, created)
                } else {
                    let (resources, scopes, m) = (&mut inner.resources, &inner.scopes, m);
                    let id = new_series(
                        store,
                        (resources, scopes, m),
                        &view,
                        (hash, check),
                        now_ms,
                        create,
                    )?;
                    if let Some(series) = m.series.get_mut(id) {
                        series.record_exemplars(exemplars);
                    }
                    (id, Applied::Updated, true)
                };
                if applied != Applied::OutOfOrder {
                    last = Some((metric.id, id, applied == Applied::Reset || created));
                }
                applied
            }
        };
        self.last = last;
        match outcome {
            Applied::OutOfOrder => stats.out_of_order_points.fetch_add(1, Ordering::Relaxed),
            Applied::Reset => stats.resets.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        stats.accepted_points.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }
}

/// The tables a new series touches besides its metric's.
type Parts<'a> = (
    &'a mut Table<Resource>,
    &'a Table<Scope>,
    &'a mut Table<Metric>,
);

fn inner_parts(inner: &mut super::Inner) -> Parts<'_> {
    (&mut inner.resources, &inner.scopes, &mut inner.metrics)
}

/// Create a metric's overflow series (see `overflow.rs`), ready for `point` to fold into.
fn new_overflow_series(
    store: &Store,
    (resources, scopes, metrics): Parts<'_>,
    metric: MetricId,
    point: Fold<'_>,
    now_ms: u64,
) -> Result<u32, PointError> {
    let limit = store.options.max_series_per_metric;
    let (start, time) = match point {
        Fold::Number(p) => (p.start, p.time),
        Fold::Histogram(p) => (p.start, p.time),
        Fold::Refused => {
            return Err(PointError::OverflowRefused {
                limit,
                cause: UNFOLDABLE,
            });
        }
    };
    let Some(m) = metrics.get_mut(metric.id) else {
        return Err(PointError::KindMismatch);
    };
    let overflow = m
        .overflow
        .get_or_insert_with(|| Box::new(Overflow::new(u64::from(metric.id))));
    let key = (overflow.hash, overflow.check);
    let attrs = [(OVERFLOW_ATTRIBUTE, AttrValue::Bool(true))];
    let view = SortedView::new(&attrs[..]).map_err(|_| PointError::DuplicateAttribute)?;
    new_series(
        store,
        (resources, scopes, m),
        &view,
        key,
        now_ms,
        |layout| (start, time, empty_value(point, layout)),
    )
    .map_err(|e| match e {
        PointError::SeriesLimit { .. } => PointError::OverflowRefused {
            limit,
            cause: STORE_FULL,
        },
        other => other,
    })
}

/// Create a series for `view` in metric `m` (the caller has checked the per-metric limit).
fn new_series<A: Attributes + ?Sized>(
    store: &Store,
    (resources, scopes, m): (&mut Table<Resource>, &Table<Scope>, &mut Metric),
    view: &SortedView<'_, A>,
    (hash, check): (u64, u64),
    now_ms: u64,
    create: impl FnOnce(&mut Arc<[f64]>) -> (u64, u64, Value),
) -> Result<u32, PointError> {
    if !store.admit_series() {
        return Err(PointError::SeriesLimit {
            limit: store.options.max_series,
            per_metric: false,
        });
    }
    let attrs = view.to_owned_attrs_with(&mut m.keys);
    let labels = store.exposition.series_text(
        resources.get(m.resource).map(|r| &*r.info),
        scopes.get(m.scope).map(|s| &*s.info),
        &attrs,
        &mut m.frame,
    );
    let meta = SeriesMeta { attrs, labels };
    let exposition = &*store.exposition;
    let Ok(clash_key) = m.clash.check(view, &meta, &m.series, exposition) else {
        store.forget_series(1);
        return Err(PointError::LabelClash);
    };
    let (start, time, value) = create(&mut m.layout);
    let mut series = Series::new(Arc::new(meta), start, time, now_ms, value);
    series.check = check;
    let id = m.series.insert(hash, series);
    m.clash.remember(clash_key, id);
    if let Some(r) = resources.get_mut(m.resource) {
        r.series += 1;
    }
    Ok(id)
}

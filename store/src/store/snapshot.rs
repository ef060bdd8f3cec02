//! A consistent, immutable copy of the store, made in one pass under the lock.
//!
//! Copying is cheap on purpose: strings and attribute sets are shared through
//! `Arc`s, histogram counts and summary quantiles are copied into two flat
//! pools instead of one allocation per series. Renderers work from here with
//! the store unlocked.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use crate::prefetch::{PREFETCH_AHEAD, prefetch};

use super::values::{ExpHistogram, Number, SeriesMeta, StoredExemplar, Value};
use super::{Inner, Kind, MetricDesc, ResourceInfo, SHARDS, ScopeInfo, Store};

/// Which part of the store to copy.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only resources whose `service.name` is this.
    pub service: Option<String>,
    /// Only metrics whose OTel name starts with this.
    pub metric_prefix: Option<String>,
}

/// One metric in a snapshot.
#[derive(Clone, Debug)]
pub struct MetricSnap {
    /// Index into [`Snapshot::resources`].
    pub resource: usize,
    /// Index into [`Snapshot::scopes`].
    pub scope: usize,
    /// Name, unit, kind and Prometheus naming.
    pub desc: Arc<MetricDesc>,
    /// Whether the source sends deltas (the store keeps cumulative state either way).
    pub delta: bool,
    /// Whether a Sum is monotonic.
    pub monotonic: bool,
    /// Range into [`Snapshot::series`].
    pub series: Range<usize>,
}

/// A series value in a snapshot.
#[derive(Clone, Debug)]
pub enum SnapValue {
    /// Sum or Gauge.
    Number(Number),
    /// Explicit-bucket histogram; `counts` ranges into [`Snapshot::counts`].
    Histogram {
        /// Upper bounds.
        bounds: Arc<[f64]>,
        /// Per-bucket counts (not cumulative).
        counts: Range<usize>,
        /// Total observations.
        count: u64,
        /// Sum, when known.
        sum: Option<f64>,
        /// Minimum, when known.
        min: Option<f64>,
        /// Maximum, when known.
        max: Option<f64>,
    },
    /// Exponential histogram.
    Exp(Box<ExpHistogram>),
    /// Summary; `quantiles` ranges into [`Snapshot::quantiles`].
    Summary {
        /// Total observations.
        count: u64,
        /// Sum of observations.
        sum: f64,
        /// `(quantile, value)` pairs.
        quantiles: Range<usize>,
    },
}

/// One series in a snapshot.
#[derive(Clone, Debug)]
pub struct SeriesSnap {
    /// Attributes and label text.
    pub meta: Arc<SeriesMeta>,
    /// Start time, Unix nanoseconds.
    pub start: u64,
    /// Time of the last point, Unix nanoseconds.
    pub time: u64,
    /// The value.
    pub value: SnapValue,
    /// Range into [`Snapshot::exemplars`].
    pub exemplars: Range<usize>,
}

/// A copy of the store.
#[derive(Debug)]
pub struct Snapshot {
    /// When the copy was made.
    pub generated_at: SystemTime,
    /// Resources with at least one series in this snapshot.
    pub resources: Vec<Arc<ResourceInfo>>,
    /// Scopes.
    pub scopes: Vec<Arc<ScopeInfo>>,
    /// Metrics, grouped by resource then scope.
    pub metrics: Vec<MetricSnap>,
    /// Series of all metrics.
    pub series: Vec<SeriesSnap>,
    /// Pool of histogram bucket counts.
    pub counts: Vec<u64>,
    /// Pool of summary quantiles.
    pub quantiles: Vec<(f64, f64)>,
    /// Pool of exemplars: `(bucket index, exemplar)`.
    pub exemplars: Vec<(usize, StoredExemplar)>,
}

impl Snapshot {
    /// Series of one metric.
    pub fn series_of(&self, m: &MetricSnap) -> &[SeriesSnap] {
        self.series.get(m.series.clone()).unwrap_or(&[])
    }
}

/// Copy the store shard by shard (each under its own lock), then put resources in creation
/// order, as one table would have listed them.
pub(super) fn build(store: &Store, filter: &Filter) -> Snapshot {
    let mut snap = Snapshot {
        generated_at: SystemTime::now(),
        resources: Vec::new(),
        scopes: Vec::new(),
        metrics: Vec::new(),
        series: Vec::new(),
        counts: Vec::new(),
        quantiles: Vec::new(),
        exemplars: Vec::new(),
    };
    // Creation number of each snapshot resource.
    let mut seqs = Vec::new();
    for shard in 0..SHARDS {
        let inner = store.lock(shard);
        copy_shard(&inner, filter, &mut snap, &mut seqs);
    }
    in_creation_order(&mut snap, &seqs);
    snap
}

/// Sort resources by creation number and metrics by their resource, keeping each
/// resource's metrics in the order they were copied.
fn in_creation_order(snap: &mut Snapshot, seqs: &[u64]) {
    let mut order: Vec<usize> = (0..snap.resources.len()).collect();
    order.sort_by_key(|&i| seqs.get(i).copied().unwrap_or(u64::MAX));
    let mut rank = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new;
    }
    let resources = std::mem::take(&mut snap.resources);
    let mut slots: Vec<Option<Arc<ResourceInfo>>> = resources.into_iter().map(Some).collect();
    snap.resources = order
        .iter()
        .filter_map(|&old| slots.get_mut(old).and_then(Option::take))
        .collect();
    for m in &mut snap.metrics {
        m.resource = rank.get(m.resource).copied().unwrap_or(m.resource);
    }
    snap.metrics.sort_by_key(|m| m.resource);
}

fn copy_shard(inner: &Inner, filter: &Filter, snap: &mut Snapshot, seqs: &mut Vec<u64>) {
    let mut resource_slot: Vec<Option<usize>> = Vec::new();
    let mut scope_slot: Vec<Option<usize>> = Vec::new();
    let mut order: Vec<(u32, u32, u32)> = inner
        .metrics
        .iter()
        .filter(|(_, m)| m.series.len() > 0)
        .filter(|(_, m)| match &filter.metric_prefix {
            Some(p) => m.desc.name.starts_with(p.as_str()),
            None => true,
        })
        .map(|(id, m)| (m.resource, m.scope, id))
        .collect();
    order.sort_unstable();
    let total: usize = order
        .iter()
        .filter_map(|(_, _, id)| inner.metrics.get(*id))
        .map(|m| m.series.len())
        .sum();
    snap.series.reserve(total);
    for (rid, sid, mid) in order {
        let (Some(m), Some(r), Some(s)) = (
            inner.metrics.get(mid),
            inner.resources.get(rid),
            inner.scopes.get(sid),
        ) else {
            continue;
        };
        if let Some(service) = &filter.service
            && r.info.service_name() != service
        {
            continue;
        }
        let known = snap.resources.len();
        let resource = slot(&mut resource_slot, rid, &mut snap.resources, &r.info);
        if snap.resources.len() > known {
            seqs.push(r.seq);
        }
        let scope = slot(&mut scope_slot, sid, &mut snap.scopes, &s.info);
        let start = snap.series.len();
        // The series' own blocks (meta, histogram state) a few places ahead, see `prefetch`.
        let mut ahead = m.series.iter().skip(PREFETCH_AHEAD);
        for (_, series) in m.series.iter() {
            if let Some((_, next)) = ahead.next() {
                prefetch(Arc::as_ptr(&next.meta));
                if let Value::Histogram(h) = &next.value {
                    prefetch(&**h);
                }
            }
            let value = match &series.value {
                Value::Number(n) => SnapValue::Number(*n),
                Value::Histogram(h) => {
                    let at = snap.counts.len();
                    snap.counts.extend_from_slice(&h.counts);
                    SnapValue::Histogram {
                        bounds: h.bounds.clone(),
                        counts: at..snap.counts.len(),
                        count: h.count,
                        sum: h.sum,
                        min: h.min,
                        max: h.max,
                    }
                }
                Value::Exp(e) => SnapValue::Exp(e.clone()),
                Value::Summary(s) => {
                    let at = snap.quantiles.len();
                    snap.quantiles.extend_from_slice(&s.quantiles);
                    SnapValue::Summary {
                        count: s.count,
                        sum: s.sum,
                        quantiles: at..snap.quantiles.len(),
                    }
                }
            };
            let ex_at = snap.exemplars.len();
            if let Some(list) = &series.exemplars {
                snap.exemplars.extend_from_slice(list);
            }
            snap.series.push(SeriesSnap {
                meta: series.meta.clone(),
                start: series.start,
                time: series.time,
                value,
                exemplars: ex_at..snap.exemplars.len(),
            });
        }
        // Series stay in slot order (creation order, with freed slots reused):
        // deterministic, and sorting 200k label strings under the lock would
        // cost more than the whole copy.
        let (delta, monotonic) = match m.kind {
            Kind::Sum { monotonic, delta } => (delta, monotonic),
            Kind::Histogram { delta } | Kind::ExpHistogram { delta } => (delta, false),
            _ => (false, false),
        };
        snap.metrics.push(MetricSnap {
            resource,
            scope,
            desc: m.desc.clone(),
            delta,
            monotonic,
            series: start..snap.series.len(),
        });
    }
}

fn slot<T>(map: &mut Vec<Option<usize>>, id: u32, out: &mut Vec<Arc<T>>, value: &Arc<T>) -> usize {
    let i = id as usize;
    if map.len() <= i {
        map.resize(i + 1, None);
    }
    match map[i] {
        Some(s) => s,
        None => {
            out.push(value.clone());
            map[i] = Some(out.len() - 1);
            out.len() - 1
        }
    }
}

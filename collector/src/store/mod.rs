//! The aggregated store: every series from every service, keyed by resource,
//! scope, metric and attribute set, folded into cumulative state.
//!
//! The store knows nothing about HTTP or gRPC. A decoder opens an [`Ingest`]
//! session and feeds it borrowed resources, scopes, metrics and points
//! ([`otlp::ingest_request`] does that for the generic prost types); renderers
//! take a [`Snapshot`], a consistent copy of the state made under the lock in
//! one pass, and format it after the lock is released, so a scrape never holds
//! up ingest for longer than the copy.
//!
//! Hot-path rules: a series is found by hashing the borrowed attribute set and
//! confirming the hit against the stored set (no owned key is built); updating
//! an existing series does not allocate; the Prometheus label text of a series
//! is built once, when the series is created.
//!
//! Expiry ([`Store::expire`]) is driven by a timer in the application, not by
//! scrapes or traffic: a series that has not been updated for `expire_after`
//! is dropped, and a resource goes (with its `target_info`) when its last
//! series goes. Metrics, scopes and resources left empty are collected by the
//! same sweep, never in the middle of an ingest session, so the ids a session
//! hands out stay valid for the whole session.
//!
//! Type conflicts (see `families.rs`): the first Prometheus type seen for a
//! family wins; a metric that would put another type under the same name is
//! refused, its points reported as rejected, counted in [`Stats`], and logged
//! once per (family, type).

mod attrs;
mod checks;
mod current;
mod families;
mod labels;
pub mod otlp;
mod refusal;
mod series;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub use attrs::{AttrError, AttrValue, Attributes, OwnedAttrs, OwnedValue};
pub use checks::DEFAULT_MAX_FUTURE_SKEW;
pub use current::Current;
pub use refusal::{PointError, Refusal};
pub use series::{
    Applied, ExpBuckets, ExpHistogram, ExpHistogramPoint, Histogram, HistogramPoint, Number,
    NumberPoint, SeriesMeta, StoredExemplar, Summary, SummaryPoint, Value,
};
pub use snapshot::{Filter, MetricSnap, SeriesSnap, SnapValue, Snapshot};

use attrs::{KeyCache, SortedView, hash_strs};
use opentelemetry_proto::tonic::metrics::v1::Exemplar;
use series::Series;
use families::Families;
use table::Table;

use crate::translate::{self, MetricName, OtelKind};

/// Store settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Drop a series not updated for this long.
    pub expire_after: Duration,
    /// Refuse points stamped further than this in the future.
    pub max_future_skew: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            expire_after: Duration::from_secs(300),
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
        }
    }
}

/// The store's own counters (read by the collector's self-telemetry).
#[derive(Debug, Default)]
pub struct Stats {
    /// Points that updated or created a series.
    pub accepted_points: AtomicU64,
    /// Points refused (reported to the sender as rejected).
    pub rejected_points: AtomicU64,
    /// Points older than their series, ignored.
    pub out_of_order_points: AtomicU64,
    /// Points that started a series over (counter resets, delta gaps).
    pub resets: AtomicU64,
    /// Points refused because their family already has another type.
    pub type_conflict_points: AtomicU64,
    /// Series removed by expiry.
    pub expired_series: AtomicU64,
    /// Series removed by a no-recorded-value point.
    pub removed_series: AtomicU64,
}

/// What the store keeps about a resource (one per service instance).
#[derive(Debug)]
pub struct ResourceInfo {
    /// Resource attributes, sorted by key.
    pub attrs: OwnedAttrs,
    /// The resource's schema URL.
    pub schema_url: Box<str>,
    /// `job` label (from `service.namespace`/`service.name`).
    pub job: Option<Box<str>>,
    /// `instance` label (from `service.instance.id`).
    pub instance: Option<Box<str>>,
    /// Label text of the `target_info` sample, when it has labels beyond job/instance.
    pub target_info_labels: Option<Box<str>>,
}

impl ResourceInfo {
    /// `service.name`, or `unknown_service` as the specification defaults it.
    pub fn service_name(&self) -> &str {
        self.attrs
            .get_str("service.name")
            .unwrap_or("unknown_service")
    }
}

/// What the store keeps about an instrumentation scope.
#[derive(Debug)]
pub struct ScopeInfo {
    /// Scope name.
    pub name: Box<str>,
    /// Scope version.
    pub version: Box<str>,
    /// Scope schema URL.
    pub schema_url: Box<str>,
    /// Scope attributes.
    pub attrs: OwnedAttrs,
}

/// The kind of an incoming metric, with its temporality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Sum.
    Sum {
        /// Whether it only goes up.
        monotonic: bool,
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// A Gauge.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram {
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// An exponential histogram.
    ExpHistogram {
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// A summary.
    Summary,
}

impl Kind {
    /// The kind without temporality, as the translation sees it.
    pub fn otel_kind(self) -> OtelKind {
        match self {
            Kind::Sum { monotonic, .. } => OtelKind::Sum { monotonic },
            Kind::Gauge => OtelKind::Gauge,
            Kind::Histogram { .. } => OtelKind::Histogram,
            Kind::ExpHistogram { .. } => OtelKind::ExponentialHistogram,
            Kind::Summary => OtelKind::Summary,
        }
    }

    fn is_delta(self) -> bool {
        matches!(
            self,
            Kind::Sum { delta: true, .. }
                | Kind::Histogram { delta: true }
                | Kind::ExpHistogram { delta: true }
        )
    }

    fn tag(self) -> &'static str {
        match self.otel_kind() {
            OtelKind::Sum { monotonic: true } => "sum+",
            OtelKind::Sum { monotonic: false } => "sum",
            OtelKind::Gauge => "gauge",
            OtelKind::Histogram => "histogram",
            OtelKind::ExponentialHistogram => "exphistogram",
            OtelKind::Summary => "summary",
        }
    }
}

/// Description of a metric, shared by the store and its snapshots.
#[derive(Debug)]
pub struct MetricDesc {
    /// OTel name.
    pub name: Box<str>,
    /// OTel description.
    pub description: Box<str>,
    /// OTel (UCUM) unit.
    pub unit: Box<str>,
    /// Kind, without temporality.
    pub kind: OtelKind,
    /// Prometheus naming.
    pub prom: MetricName,
}

struct Resource {
    info: Arc<ResourceInfo>,
    series: usize,
}

struct Scope {
    resource: u32,
    info: Arc<ScopeInfo>,
}

struct Metric {
    resource: u32,
    scope: u32,
    kind: Kind,
    desc: Arc<MetricDesc>,
    /// Sample names this metric's family uses on either page (see [`Families::reserve`]).
    names: Box<[Box<str>]>,
    series: Table<Series>,
    /// Last histogram layout seen: shared by series with the same bounds.
    layout: Arc<[f64]>,
    /// Attribute keys shared by this metric's series.
    keys: KeyCache,
}

#[derive(Default)]
struct Inner {
    resources: Table<Resource>,
    scopes: Table<Scope>,
    metrics: Table<Metric>,
    families: Families,
}

/// The aggregated store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    epoch: Instant,
    options: Options,
    stats: Stats,
}

/// Id of a resource within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceId(u32);
/// Id of a scope within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeId(u32);
/// Id of a metric within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricId(u32);

// === impl Store ===

impl Store {
    /// An empty store.
    pub fn new(options: Options) -> Self {
        Store {
            inner: Mutex::new(Inner::default()),
            epoch: Instant::now(),
            options,
            stats: Stats::default(),
        }
    }

    /// The store's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configured expiry.
    pub fn expire_after(&self) -> Duration {
        self.options.expire_after
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in
        // a way that matters more than losing the store; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Open an ingest session; the store is locked until it is dropped.
    pub fn ingest(&self) -> Ingest<'_> {
        self.ingest_at(Instant::now())
    }

    /// Open an ingest session with an explicit clock (tests).
    pub fn ingest_at(&self, now: Instant) -> Ingest<'_> {
        Ingest {
            store: self,
            inner: self.lock(),
            now_ms: self.now_ms(now),
            now_ns: unix_nanos(SystemTime::now()),
            last: None,
        }
    }

    /// Drop series not updated within `expire_after` of `now`, then collect
    /// empty metrics, scopes and resources. Returns the number of series dropped.
    pub fn expire(&self, now: Instant) -> usize {
        let cutoff = self
            .now_ms(now)
            .saturating_sub(self.options.expire_after.as_millis() as u64);
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut dropped = 0;
        let mut per_resource: HashMap<u32, usize> = HashMap::new();
        for (_, metric) in inner.metrics.iter_mut() {
            let stale = metric.series.ids_where(|s| s.touched < cutoff);
            for id in stale {
                metric.series.remove(id);
                dropped += 1;
                *per_resource.entry(metric.resource).or_default() += 1;
            }
        }
        for (rid, n) in per_resource {
            if let Some(r) = inner.resources.get_mut(rid) {
                r.series = r.series.saturating_sub(n);
            }
        }
        inner.collect_empty();
        self.stats
            .expired_series
            .fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    /// Number of live series.
    pub fn series_count(&self) -> usize {
        let inner = self.lock();
        inner.metrics.iter().map(|(_, m)| m.series.len()).sum()
    }

    /// Number of live resources.
    pub fn resource_count(&self) -> usize {
        self.lock().resources.len()
    }

    /// A consistent copy of the state, for rendering.
    pub fn snapshot(&self, filter: &Filter) -> Snapshot {
        let inner = self.lock();
        snapshot::build(&inner, filter)
    }
}

impl Inner {
    fn collect_empty(&mut self) {
        let empty_metrics = self.metrics.ids_where(|m| m.series.len() == 0);
        for id in empty_metrics {
            if let Some(m) = self.metrics.remove(id) {
                self.families.release(&m.names);
            }
        }
        let mut live_scopes = HashSet::new();
        let mut live_resources = HashSet::new();
        for (_, m) in self.metrics.iter() {
            live_scopes.insert(m.scope);
            live_resources.insert(m.resource);
        }
        for id in self.scopes.ids_where(|_| true) {
            if !live_scopes.contains(&id) {
                self.scopes.remove(id);
            }
        }
        for id in self.resources.ids_where(|_| true) {
            if !live_resources.contains(&id) {
                self.resources.remove(id);
            }
        }
    }
}

/// An ingest session: holds the store's lock.
pub struct Ingest<'s> {
    store: &'s Store,
    inner: MutexGuard<'s, Inner>,
    now_ms: u64,
    now_ns: u64,
    /// The series the last point went into, `(metric, series, reset)`, when it changed it
    /// (see [`Ingest::current`]).
    last: Option<(u32, u32, bool)>,
}

// === impl Ingest ===

impl Ingest<'_> {
    /// Find or create a resource.
    pub fn resource<A: Attributes + ?Sized>(
        &mut self,
        attrs: &A,
        schema_url: &str,
    ) -> Result<ResourceId, AttrError> {
        let view = SortedView::new(attrs)?;
        let hash = view.hash(0x7265_736f);
        if let Some(id) = self
            .inner
            .resources
            .find(hash, |r| view.equals(&r.info.attrs))
        {
            return Ok(ResourceId(id));
        }
        let info = labels::resource_info(view.to_owned_attrs(), schema_url);
        let id = self.inner.resources.insert(
            hash,
            Resource {
                info: Arc::new(info),
                series: 0,
            },
        );
        Ok(ResourceId(id))
    }

    /// Find or create a scope of a resource.
    pub fn scope<A: Attributes + ?Sized>(
        &mut self,
        resource: ResourceId,
        name: &str,
        version: &str,
        schema_url: &str,
        attrs: &A,
    ) -> Result<ScopeId, AttrError> {
        let view = SortedView::new(attrs)?;
        let hash = view.hash(hash_strs(
            u64::from(resource.0),
            &[name, version, schema_url],
        ));
        let found = self.inner.scopes.find(hash, |s| {
            s.resource == resource.0
                && &*s.info.name == name
                && &*s.info.version == version
                && &*s.info.schema_url == schema_url
                && view.equals(&s.info.attrs)
        });
        if let Some(id) = found {
            return Ok(ScopeId(id));
        }
        let info = ScopeInfo {
            name: name.into(),
            version: version.into(),
            schema_url: schema_url.into(),
            attrs: view.to_owned_attrs(),
        };
        let id = self.inner.scopes.insert(
            hash,
            Scope {
                resource: resource.0,
                info: Arc::new(info),
            },
        );
        Ok(ScopeId(id))
    }

    /// Find or create a metric of a scope.
    pub fn metric(
        &mut self,
        scope: ScopeId,
        name: &str,
        description: &str,
        unit: &str,
        kind: Kind,
    ) -> Result<MetricId, Refusal> {
        if name.is_empty() {
            return Err(Refusal::EmptyName);
        }
        let hash = hash_strs(u64::from(scope.0), &[name, unit, kind.tag()]);
        let found = self.inner.metrics.find(hash, |m| {
            m.scope == scope.0
                && &*m.desc.name == name
                && &*m.desc.unit == unit
                && m.kind.otel_kind() == kind.otel_kind()
        });
        if let Some(id) = found {
            if let Some(m) = self.inner.metrics.get_mut(id) {
                // Temporality may change between exports (an SDK restarted with
                // another preference): the delta rules then treat it as a reset.
                m.kind = kind;
            }
            return Ok(MetricId(id));
        }
        let resource = match self.inner.scopes.get(scope.0) {
            Some(s) => s.resource,
            None => {
                return Err(Refusal::NoData {
                    metric: name.to_string(),
                });
            }
        };
        let prom = translate::metric_name(name, unit, kind.otel_kind());
        checks::name(name, &prom)?;
        let names = self.inner.families.reserve(name, &prom)?;
        let desc = MetricDesc {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            kind: kind.otel_kind(),
            prom,
        };
        let metric = Metric {
            resource,
            scope: scope.0,
            kind,
            desc: Arc::new(desc),
            names,
            series: Table::default(),
            layout: Arc::from(&[][..]),
            keys: KeyCache::default(),
        };
        Ok(MetricId(self.inner.metrics.insert(hash, metric)))
    }

    /// Forget a metric that ended its request with no series (every point
    /// refused), so it does not hold its family's type until the next sweep.
    /// Call only when the id is not used again in this session.
    pub fn release_if_empty(&mut self, metric: MetricId) {
        let empty = self
            .inner
            .metrics
            .get(metric.0)
            .is_some_and(|m| m.series.len() == 0);
        if empty && let Some(m) = self.inner.metrics.remove(metric.0) {
            self.inner.families.release(&m.names);
        }
    }

    /// Count `n` points refused for a metric-level reason.
    pub fn refuse_points(&self, refusal: &Refusal, n: u64) {
        self.store
            .stats
            .rejected_points
            .fetch_add(n, Ordering::Relaxed);
        if matches!(refusal, Refusal::TypeConflict { .. }) {
            self.store
                .stats
                .type_conflict_points
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Count one point refused for a point-level reason.
    pub fn refuse_point(&self) {
        self.store
            .stats
            .rejected_points
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Apply a point with `apply`, creating the series with `create` when new.
    /// `no_value` (the OTLP no-recorded-value flag) removes the series instead.
    fn upsert<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        no_value: bool,
        exemplars: &[Exemplar],
        create: impl FnOnce(&mut Arc<[f64]>) -> (u64, u64, Value),
        apply: impl FnOnce(&mut Series, Kind, &mut Arc<[f64]>) -> Applied,
    ) -> Result<Applied, PointError> {
        self.last = None;
        let view = SortedView::new(attrs).map_err(|_| PointError::DuplicateAttribute)?;
        let hash = view.hash(u64::from(metric.0));
        let inner = &mut *self.inner;
        let Some(m) = inner.metrics.get_mut(metric.0) else {
            return Err(PointError::KindMismatch);
        };
        let stats = &self.store.stats;
        let found = m.series.find(hash, |s| view.equals(&s.meta.attrs));
        if no_value {
            if let Some(id) = found {
                m.series.remove(id);
                stats.removed_series.fetch_add(1, Ordering::Relaxed);
                if let Some(r) = inner.resources.get_mut(m.resource) {
                    r.series = r.series.saturating_sub(1);
                }
            }
            stats.accepted_points.fetch_add(1, Ordering::Relaxed);
            return Ok(Applied::Updated);
        }
        let kind = m.kind;
        let outcome = match found.and_then(|id| Some((id, m.series.get_mut(id)?))) {
            Some((id, series)) => {
                let applied = apply(series, kind, &mut m.layout);
                if applied == Applied::Overlap {
                    return Err(PointError::Overlap);
                }
                if applied != Applied::OutOfOrder {
                    series.touched = self.now_ms;
                    series.record_exemplars(exemplars);
                    self.last = Some((metric.0, id, applied == Applied::Reset));
                }
                applied
            }
            None => {
                let (start, time, value) = create(&mut m.layout);
                let meta = Arc::new(labels::build_meta(
                    &inner.resources,
                    &inner.scopes,
                    (m.resource, m.scope),
                    &mut m.keys,
                    &view,
                ));
                let mut series = Series::new(meta, start, time, self.now_ms, value);
                series.record_exemplars(exemplars);
                let id = m.series.insert(hash, series);
                self.last = Some((metric.0, id, true));
                if let Some(r) = inner.resources.get_mut(m.resource) {
                    r.series += 1;
                }
                Applied::Updated
            }
        };
        match outcome {
            Applied::OutOfOrder => stats.out_of_order_points.fetch_add(1, Ordering::Relaxed),
            Applied::Reset => stats.resets.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        stats.accepted_points.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }

    fn stamp(&self, time: u64) -> u64 {
        if time == 0 { self.now_ns } else { time }
    }

    fn check_time(&self, time: u64) -> Result<(), PointError> {
        checks::time(time, self.now_ns, self.store.options.max_future_skew)
    }

    /// A Sum or Gauge point.
    pub fn number<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: NumberPoint,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        let p = NumberPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value && let Some(m) = self.inner.metrics.get(metric.0) {
            checks::number(m.kind, p.value)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            |_| (p.start, p.time, Value::Number(p.value)),
            |s, kind, _| match kind {
                Kind::Sum { monotonic, delta } => s.apply_sum(&p, delta, monotonic),
                _ => s.apply_gauge(&p),
            },
        )
    }

    /// An explicit-bucket histogram point.
    pub fn histogram<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: HistogramPoint<'_>,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        if !no_value {
            if point.counts.len() != point.bounds.len() + 1 {
                return Err(PointError::BucketMismatch {
                    bounds: point.bounds.len(),
                    counts: point.counts.len(),
                });
            }
            let increasing = point.bounds.windows(2).all(|w| w[0] < w[1]);
            if !increasing || point.bounds.iter().any(|b| !b.is_finite()) {
                return Err(PointError::BadBounds);
            }
        }
        let p = HistogramPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value {
            checks::histogram_count(p.count, p.counts)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            |layout| {
                (
                    p.start,
                    p.time,
                    Value::Histogram(Box::new(series::new_histogram(&p, layout))),
                )
            },
            |s, kind, layout| s.apply_histogram(&p, kind.is_delta(), layout),
        )
    }

    /// An exponential histogram point.
    pub fn exp_histogram<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: ExpHistogramPoint<'_>,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        let p = ExpHistogramPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            |_| (p.start, p.time, Value::Exp(Box::new(series::new_exp(&p)))),
            |s, kind, _| s.apply_exp(&p, kind.is_delta()),
        )
    }

    /// A summary point.
    pub fn summary<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: SummaryPoint<'_>,
        no_value: bool,
    ) -> Result<Applied, PointError> {
        let p = SummaryPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value {
            checks::quantiles(p.quantiles)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            &[],
            |_| {
                (
                    p.start,
                    p.time,
                    Value::Summary(Box::new(series::new_summary(&p))),
                )
            },
            |s, _, _| s.apply_summary(&p),
        )
    }
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

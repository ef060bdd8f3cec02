//! The aggregated store: every series from every service, keyed by resource,
//! scope, metric and attribute set, folded into cumulative state.
//!
//! The store knows nothing about HTTP or gRPC. A decoder opens an [`Ingest`]
//! session and feeds it borrowed resources, scopes, metrics and points
//! ([`otlp::ingest_request`] does that for the generic prost types); renderers
//! take a [`Snapshot`], a copy of the state made shard by shard, and format it
//! after the locks are released, so a scrape never holds up ingest for longer
//! than the copy of one shard.
//!
//! Sharding: resources are spread over [`SHARDS`] shards by the hash of their
//! attributes, each with its own lock and its own tables of resources, scopes,
//! metrics and series, so two requests from different services rarely wait
//! for each other and ingest scales with cores. What must be one for the whole
//! store sits beside the shards: the exposition's state (see below; its own
//! short lock, taken only when a metric or a resource is created or collected,
//! always after a shard's), and the series count the `max_series` limit is
//! checked against (an atomic). A
//! snapshot is consistent per shard, so per resource: a request that spans
//! resources of two shards may be seen half applied, as a scrape between two
//! requests would see it.
//!
//! Hot-path rules: a series is found by hashing the borrowed attribute set and
//! confirming the hit with a second hash under independent keys (no owned key is
//! built, no stored set is read back; see `Ingest::upsert`); updating
//! an existing series does not allocate; the label text of a series is built
//! once, when the series is created.
//!
//! Expiry ([`Store::expire`]) is driven by a timer in the application, not by
//! scrapes or traffic: a series that has not been updated for `expire_after`
//! is dropped, and a resource goes (with its `target_info`) when its last
//! series goes. Metrics, scopes and resources left empty are collected by the
//! same sweep, never in the middle of an ingest session, so the ids a session
//! hands out stay valid for the whole session.
//!
//! The store knows nothing of Prometheus: names, label text, and what a page
//! cannot show (type conflicts, name collisions) are its [`Exposition`]'s,
//! asked when a resource, metric or series is new (`exposition.rs`).
//! [`Store::new`] uses the crate's Prometheus one ([`crate::exposition`]);
//! its refusals are reported and counted like the store's own.
//!
//! Where things are:
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | [`Store`], its [`Options`] and [`Stats`], what it keeps per resource, scope and metric |
//! | `kind.rs` | the [`Kind`] of a metric with its temporality |
//! | `ingest.rs`, `points.rs` | the [`Ingest`] session: lookups, and the point methods |
//! | `upsert.rs` | a point meeting the series table: find, create, or fold into the overflow series |
//! | `overflow.rs` | the overflow series past `max_series_per_metric`, and its cumulative sources |
//! | `series.rs` | the rules that fold a point into its series |
//! | `values.rs` | the values a series holds and the points that feed them |
//! | `exp_merge.rs` | merging exponential-histogram deltas at a common scale |
//! | `checks.rs`, `refusal.rs` | what is refused, and how the refusal reads |
//! | `clash.rs` | two series of a metric never rendering the same labels |
//! | `exposition.rs` | what the store asks of the form it is shown in (names, label text) |
//! | `attrs.rs`, `table.rs` | borrowed and owned attribute sets; the id-keyed hash tables |
//! | `snapshot.rs`, `current.rs` | what renderers and the remote-write exporter read |
//! | `shard_tests.rs` | the shards behaving as one table |
//! | `otlp.rs` | the adapter from prost-decoded OTLP requests |

mod attrs;
mod checks;
mod clash;
mod current;
mod exp_merge;
mod exposition;
#[cfg(test)]
mod exposition_tests;
mod ingest;
mod kind;
pub mod otlp;
mod overflow;
#[cfg(test)]
mod overflow_tests;
mod points;
pub mod refusal;
mod series;
#[cfg(test)]
mod shard_tests;
mod shared;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;
mod upsert;
mod values;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub use attrs::{AttrError, AttrValue, Attributes, OwnedAttrs, OwnedValue};
pub use checks::DEFAULT_MAX_FUTURE_SKEW;
pub use current::Current;
pub use exposition::{Exposition, Named, NewMetric};
pub use ingest::{Ingest, MetricId, ResourceId, ScopeId};
pub use kind::Kind;
pub use overflow::OVERFLOW_ATTRIBUTE;
pub use refusal::{PointError, Refusal};
pub use series::Applied;
pub use snapshot::{Filter, MetricSnap, SeriesSnap, SnapValue, Snapshot};
pub use values::{
    ExpBuckets, ExpHistogram, ExpHistogramPoint, Histogram, HistogramPoint, LabelForm, LabelFrame,
    LabelText, Number, NumberPoint, SeriesMeta, StoredExemplar, Summary, SummaryPoint, Value,
};

use clash::ClashIndex;
use series::Series;
use shared::Shared;
use table::Table;

use crate::translate::{MetricName, OtelKind};

/// Store settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Drop a series not updated for this long.
    pub expire_after: Duration,
    /// Refuse points stamped further than this in the future.
    pub max_future_skew: Duration,
    /// Series one metric of one resource and scope may hold; a point that would add one more
    /// is refused.
    pub max_series_per_metric: usize,
    /// Series the whole store may hold; a point that would add one more is refused.
    pub max_series: usize,
}

/// Series per metric (of one resource and scope) by default: five times the OpenTelemetry
/// SDKs' own default cardinality limit, so a conforming SDK never meets it.
pub const DEFAULT_MAX_SERIES_PER_METRIC: usize = 10_000;
/// Series in the whole store by default: about 0.4-0.6 GB of series state.
pub const DEFAULT_MAX_SERIES: usize = 1_000_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            expire_after: Duration::from_secs(300),
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
            max_series_per_metric: DEFAULT_MAX_SERIES_PER_METRIC,
            max_series: DEFAULT_MAX_SERIES,
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
    /// Points of new series past `max_series_per_metric`, folded into their metric's overflow
    /// series (see `overflow.rs`).
    pub overflow_points: AtomicU64,
    /// Points refused, by [`refusal::Reason`] (indexed by [`refusal::Reason::index`]).
    pub refused_by_reason: [AtomicU64; refusal::Reason::ALL.len()],
}

impl Stats {
    /// Points refused for `reason`.
    pub fn refused(&self, reason: refusal::Reason) -> u64 {
        self.refused_by_reason[reason.index()].load(Ordering::Relaxed)
    }
}

/// How much the store holds ([`Store::sizes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Series.
    pub series: usize,
    /// Prometheus families.
    pub families: usize,
    /// Resources (service instances).
    pub resources: usize,
}

/// What the store keeps about a resource (one per service instance).
#[derive(Debug)]
pub struct ResourceInfo {
    /// Resource attributes, sorted by key.
    pub attrs: OwnedAttrs,
    /// The resource's schema URL.
    pub schema_url: Box<str>,
    /// `job` label (from `service.namespace`/`service.name`). This and the next two fields are
    /// the exposition's answer for the resource ([`Exposition::open_resource`]); the store only
    /// keeps them.
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
    /// Its names on the pages, as the exposition gave them ([`Named::name`]).
    pub prom: MetricName,
}

struct Resource {
    info: Arc<ResourceInfo>,
    series: usize,
    /// Creation order across shards: snapshots list resources by it.
    seq: u64,
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
    /// What it holds of the exposition's state (see [`Named::claim`]).
    names: Box<[Box<str>]>,
    series: Table<Series>,
    /// Last histogram layout seen: shared by series with the same bounds.
    layout: Arc<[f64]>,
    /// Attribute keys and repeating values shared by this metric's series.
    keys: Box<Shared>,
    /// Label texts of its series, once two of them could clash.
    clash: ClashIndex,
    /// Its overflow series' key and cumulative sources, once it reached its series limit.
    overflow: Option<Box<overflow::Overflow>>,
    /// The label text its series share (see [`LabelText`]), made with its first series.
    frame: Option<Arc<LabelFrame>>,
}

/// One shard: the resources whose attributes hash to it, with their scopes, metrics and
/// series.
#[derive(Default)]
struct Inner {
    resources: Table<Resource>,
    scopes: Table<Scope>,
    metrics: Table<Metric>,
}

/// Shards of a store. A power of two well above the core counts the collector runs on, so
/// that ten services on two cores seldom share one.
pub const SHARDS: usize = 16;

/// The aggregated store. Cheap to share behind an `Arc`.
pub struct Store {
    shards: Box<[Mutex<Inner>]>,
    exposition: Arc<dyn Exposition>,
    /// Series held, all shards together (checked against `max_series`).
    series: AtomicUsize,
    /// Next resource's creation number.
    resource_seq: AtomicU64,
    epoch: Instant,
    options: Options,
    stats: Stats,
}

// === impl Store ===

impl Store {
    /// An empty store, shown as Prometheus ([`crate::exposition::Prometheus`]).
    pub fn new(options: Options) -> Self {
        Store::with_exposition(options, Arc::new(crate::exposition::Prometheus::default()))
    }

    /// An empty store whose names, label text and page refusals are `exposition`'s.
    pub fn with_exposition(options: Options, exposition: Arc<dyn Exposition>) -> Self {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(Inner::default())).collect(),
            exposition,
            series: AtomicUsize::new(0),
            resource_seq: AtomicU64::new(0),
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

    fn lock(&self, shard: usize) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in
        // a way that matters more than losing the store; keep serving.
        self.shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
            held: None,
            visit: 0,
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
        let mut dropped = 0;
        for shard in 0..SHARDS {
            let mut inner = self.lock(shard);
            let inner = &mut *inner;
            let mut in_shard = 0;
            let mut per_resource: HashMap<u32, usize> = HashMap::new();
            let mut sources = 0;
            for (_, metric) in inner.metrics.iter_mut() {
                if let Some(overflow) = &mut metric.overflow {
                    sources += overflow.expire(cutoff);
                }
                let stale = metric.series.ids_where(|s| s.touched < cutoff);
                let any_stale = !stale.is_empty();
                for id in stale {
                    metric.series.remove(id);
                    in_shard += 1;
                    *per_resource.entry(metric.resource).or_default() += 1;
                }
                if any_stale {
                    metric.keys.sweep();
                }
            }
            for (rid, n) in per_resource {
                if let Some(r) = inner.resources.get_mut(rid) {
                    r.series = r.series.saturating_sub(n);
                }
            }
            self.forget_series(in_shard);
            let sources = sources + inner.collect_empty(&*self.exposition);
            self.forget_series(sources);
            dropped += in_shard;
        }
        self.stats
            .expired_series
            .fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    /// Take one series off the store-wide count, or refuse when the store holds `max_series`.
    fn admit_series(&self) -> bool {
        let max = self.options.max_series;
        self.series
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// `n` series are gone from the store.
    fn forget_series(&self, n: usize) {
        if n > 0 {
            let _ = self
                .series
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    Some(s.saturating_sub(n))
                });
        }
    }

    /// Number of live series.
    pub fn series_count(&self) -> usize {
        (0..SHARDS)
            .map(|shard| {
                let inner = self.lock(shard);
                inner
                    .metrics
                    .iter()
                    .map(|(_, m)| m.series.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// Series and Prometheus families held, for the self-telemetry.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            series: self.series.load(Ordering::Relaxed),
            families: self.exposition.families(),
            resources: self.resource_count(),
        }
    }

    /// Number of live resources.
    pub fn resource_count(&self) -> usize {
        (0..SHARDS)
            .map(|shard| self.lock(shard).resources.len())
            .sum()
    }

    /// A consistent copy of the state, for rendering.
    pub fn snapshot(&self, filter: &Filter) -> Snapshot {
        snapshot::build(self, filter)
    }
}

impl Inner {
    /// Remove metrics left with no series, then scopes and resources left with no metric.
    /// Returns the overflow sources the removed metrics still followed (for the series count).
    fn collect_empty(&mut self, exposition: &dyn Exposition) -> usize {
        let empty_metrics = self.metrics.ids_where(|m| m.series.len() == 0);
        let mut sources = 0;
        for id in empty_metrics {
            if let Some(m) = self.metrics.remove(id) {
                sources += m.overflow.as_ref().map_or(0, |o| o.sources());
                exposition.close_metric(&m.names);
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
            if !live_resources.contains(&id)
                && let Some(gone) = self.resources.remove(id)
            {
                exposition.close_resource(&gone.info);
            }
        }
        sources
    }
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

//! The ingest session: how a decoder puts resources, scopes, metrics and points into the store.
//!
//! An [`Ingest`] holds the lock of one shard at a time (the shard of the resource it was last
//! given), so a decoder can look up each resource, scope and metric once and then feed every
//! point of it without locking again. Each method takes borrowed data (attribute views, bucket
//! slices) and builds owned state only for what is new. Checks run before a point touches its
//! series; the folding rules are [`Series`]'s; the names of a new resource or metric and the
//! label text of a new series are the store's [`Exposition`](super::Exposition)'s.
//!
//! Ids handed out by a session stay valid while the session holds their shard: empty metrics,
//! scopes and resources are only collected by [`Store::expire`], which needs that shard's lock.
//! Once a session moves to another shard (a request with resources of two shards), scope and
//! metric ids from before are stale and refused as unknown; a resource id is checked again
//! against the resource's creation number. Decoders go resource by resource and never come
//! back to an earlier resource's ids, so this only guards against misuse.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::attrs::{SortedView, hash_strs};
use super::clash::ClashIndex;
use super::table::Table;
use super::{
    AttrError, Attributes, Inner, Kind, Metric, MetricDesc, NewMetric, PointError, Refusal,
    Resource, SHARDS, Scope, ScopeInfo, Store,
};

/// Id of a resource within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub(super) shard: u32,
    id: u32,
    seq: u64,
}
/// Id of a scope within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeId {
    id: u32,
    visit: u32,
}
/// Id of a metric within an ingest session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricId {
    pub(super) id: u32,
    pub(super) visit: u32,
}

/// An ingest session: holds the lock of the shard it last went to.
pub struct Ingest<'s> {
    pub(super) store: &'s Store,
    /// The shard held, and its lock.
    pub(super) held: Option<(usize, MutexGuard<'s, Inner>)>,
    /// How many times the session took a shard's lock: scope and metric ids carry the visit
    /// they were handed out in, and are stale in any other.
    pub(super) visit: u32,
    pub(super) now_ms: u64,
    pub(super) now_ns: u64,
    /// The series the last point went into, `(metric, series, reset)`, when it changed it
    /// (see [`Ingest::current`]).
    pub(super) last: Option<(u32, u32, bool)>,
}

// === impl Ingest ===

impl<'s> Ingest<'s> {
    /// Hold `shard` (letting go of the one held before, never holding two), and return it.
    fn enter(&mut self, shard: usize) -> &mut Inner {
        if self.held.as_ref().is_none_or(|(s, _)| *s != shard) {
            self.held = None;
            self.last = None;
            self.visit = self.visit.wrapping_add(1);
        }
        let store: &'s Store = self.store;
        &mut self
            .held
            .get_or_insert_with(|| (shard, store.lock(shard)))
            .1
    }

    /// The shard held, when ids of `visit` are still valid in it.
    pub(super) fn held(&self, visit: u32) -> Option<&Inner> {
        match &self.held {
            Some((_, inner)) if visit == self.visit => Some(inner),
            _ => None,
        }
    }

    pub(super) fn held_mut(&mut self, visit: u32) -> Option<&mut Inner> {
        match &mut self.held {
            Some((_, inner)) if visit == self.visit => Some(inner),
            _ => None,
        }
    }

    /// Find or create a resource.
    pub fn resource<A: Attributes + ?Sized>(
        &mut self,
        attrs: &A,
        schema_url: &str,
    ) -> Result<ResourceId, AttrError> {
        let view = SortedView::new(attrs)?;
        let hash = view.hash(0x7265_736f);
        // The high bits pick the shard: the tables index by the whole hash.
        let shard = (hash >> 60) as usize % SHARDS;
        let store = self.store;
        let inner = self.enter(shard);
        if let Some(id) = inner.resources.find(hash, |r| view.equals(&r.info.attrs)) {
            let seq = inner.resources.get(id).map_or(0, |r| r.seq);
            return Ok(ResourceId {
                shard: shard as u32,
                id,
                seq,
            });
        }
        let info = store
            .exposition
            .open_resource(view.to_owned_attrs(), schema_url);
        let seq = store.resource_seq.fetch_add(1, Ordering::Relaxed);
        let id = inner.resources.insert(
            hash,
            Resource {
                info: Arc::new(info),
                series: 0,
                seq,
            },
        );
        Ok(ResourceId {
            shard: shard as u32,
            id,
            seq,
        })
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
            u64::from(resource.id),
            &[name, version, schema_url],
        ));
        let inner = self.enter(resource.shard as usize);
        if inner
            .resources
            .get(resource.id)
            .is_none_or(|r| r.seq != resource.seq)
        {
            return Err(AttrError::Gone);
        }
        let found = inner.scopes.find(hash, |s| {
            s.resource == resource.id
                && &*s.info.name == name
                && &*s.info.version == version
                && &*s.info.schema_url == schema_url
                && view.equals(&s.info.attrs)
        });
        let id = match found {
            Some(id) => id,
            None => {
                let info = ScopeInfo {
                    name: name.into(),
                    version: version.into(),
                    schema_url: schema_url.into(),
                    attrs: view.to_owned_attrs(),
                };
                inner.scopes.insert(
                    hash,
                    Scope {
                        resource: resource.id,
                        info: Arc::new(info),
                    },
                )
            }
        };
        Ok(ScopeId {
            id,
            visit: self.visit,
        })
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
        self.metric_with_type_hint(scope, name, description, unit, kind, None)
    }

    /// Find or create a metric of a scope whose metadata carries a `prometheus.type` entry
    /// (`hint`): a gauge or non-monotonic sum created with `unknown` or `info` is typed so on
    /// the Prometheus pages (translation decision 12). The hint is read when the metric is
    /// created: a later request with another hint finds the same metric, whose family keeps
    /// the type it first took.
    pub fn metric_with_type_hint(
        &mut self,
        scope: ScopeId,
        name: &str,
        description: &str,
        unit: &str,
        kind: Kind,
        hint: Option<&str>,
    ) -> Result<MetricId, Refusal> {
        if name.is_empty() {
            return Err(Refusal::EmptyName);
        }
        let visit = self.visit;
        let store = self.store;
        let Some(inner) = self.held_mut(scope.visit) else {
            return Err(Refusal::NoData {
                metric: name.to_string(),
            });
        };
        let hash = hash_strs(u64::from(scope.id), &[name, unit, kind.tag()]);
        let found = inner.metrics.find(hash, |m| {
            m.scope == scope.id
                && &*m.desc.name == name
                && &*m.desc.unit == unit
                && m.kind.otel_kind() == kind.otel_kind()
        });
        if let Some(id) = found {
            if let Some(m) = inner.metrics.get_mut(id) {
                // Temporality may change between exports (an SDK restarted with
                // another preference): the delta rules then treat it as a reset.
                m.kind = kind;
            }
            return Ok(MetricId { id, visit });
        }
        let resource = match inner.scopes.get(scope.id) {
            Some(s) => s.resource,
            None => {
                return Err(Refusal::NoData {
                    metric: name.to_string(),
                });
            }
        };
        let named = store.exposition.open_metric(NewMetric {
            name,
            unit,
            kind: kind.otel_kind(),
            type_hint: hint,
        })?;
        let desc = MetricDesc {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            kind: kind.otel_kind(),
            prom: named.name,
        };
        let metric = Metric {
            resource,
            scope: scope.id,
            kind,
            desc: Arc::new(desc),
            names: named.claim,
            series: Table::default(),
            layout: Arc::from(&[][..]),
            keys: Box::default(),
            clash: ClashIndex::default(),
            overflow: None,
            frame: None,
        };
        Ok(MetricId {
            id: inner.metrics.insert(hash, metric),
            visit,
        })
    }

    /// Forget a metric that ended its request with no series (every point
    /// refused), so it does not hold its family's type until the next sweep.
    /// Call only when the id is not used again in this session.
    pub fn release_if_empty(&mut self, metric: MetricId) {
        let store = self.store;
        let Some(inner) = self.held_mut(metric.visit) else {
            return;
        };
        let empty = inner
            .metrics
            .get(metric.id)
            .is_some_and(|m| m.series.len() == 0);
        if empty && let Some(m) = inner.metrics.remove(metric.id) {
            store.forget_series(m.overflow.as_ref().map_or(0, |o| o.sources()));
            store.exposition.close_metric(&m.names);
        }
    }

    /// Count `n` points refused for a metric-level reason.
    pub fn refuse_points(&self, refusal: &Refusal, n: u64) {
        self.store
            .stats
            .rejected_points
            .fetch_add(n, Ordering::Relaxed);
        self.store.stats.refused_by_reason[refusal.reason().index()]
            .fetch_add(n, Ordering::Relaxed);
        if matches!(refusal, Refusal::TypeConflict { .. }) {
            self.store
                .stats
                .type_conflict_points
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Count one point refused for a point-level reason.
    pub fn refuse_point(&self, error: &PointError) {
        self.store
            .stats
            .rejected_points
            .fetch_add(1, Ordering::Relaxed);
        self.store.stats.refused_by_reason[error.reason().index()].fetch_add(1, Ordering::Relaxed);
    }
}

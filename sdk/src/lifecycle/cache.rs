//! The lifecycle's cache of bound transition counters, with a fixed bound.
//!
//! Binding an OpenTelemetry counter is what makes a transition cheap to
//! count (an array index and an atomic add), so [`Lifecycle`](super::Lifecycle)
//! keeps one bound counter per outcome for each (origin, operation, label
//! set) it has seen. Origins are free-form strings, so without a bound this
//! map would grow with every distinct origin a caller passes. It holds at
//! most `limit` keys (default [`DEFAULT_LIMIT`]) and never evicts: past the
//! bound, a key that is not cached is recorded through the unbound counter
//! with its real attributes (slower, ~100 ns instead of a few). The
//! transitions stream's cardinality limit is sized to hold the cached keys'
//! series, so those uncached records land in the SDK's
//! `otel.metric.overflow="true"` series. So a record always counts, and
//! memory stays flat whatever the callers pass.
//!
//! A hit takes a read lock and two lookups, with no allocation.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::metrics::BoundCounter;

/// Keys (origin, operation, label set) a lifecycle caches by default.
pub const DEFAULT_LIMIT: usize = 1024;

/// Bound counters of one key, one per outcome, by `Outcome::index`.
pub(super) type Outcomes = Arc<[BoundCounter<u64>]>;

type Hasher = ahash::RandomState;
/// (operation index, label set dense index).
type SetKey = (usize, usize);

#[derive(Default)]
struct Map {
    by_origin: HashMap<Box<str>, HashMap<SetKey, Outcomes, Hasher>, Hasher>,
    len: usize,
}

pub(super) struct Cache {
    limit: usize,
    map: RwLock<Map>,
}

impl Cache {
    pub(super) fn new(limit: usize) -> Self {
        Cache {
            limit,
            map: RwLock::new(Map::default()),
        }
    }

    /// Run `f` on the cached counters of `(origin, key)`; `None` if not cached.
    #[inline]
    pub(super) fn with<R>(
        &self,
        origin: &str,
        key: SetKey,
        f: impl FnOnce(&Outcomes) -> R,
    ) -> Option<R> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.by_origin.get(origin).and_then(|m| m.get(&key)).map(f)
    }

    /// The counters of `(origin, key)`, made with `make` and cached if there
    /// is room; `None` if the cache is full and does not hold them.
    pub(super) fn get_or_insert(
        &self,
        origin: &str,
        key: SetKey,
        make: impl FnOnce() -> Outcomes,
    ) -> Option<Outcomes> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = map.by_origin.get(origin).and_then(|m| m.get(&key)) {
            return Some(found.clone());
        }
        if map.len >= self.limit {
            return None;
        }
        let made = make();
        map.by_origin
            .entry(Box::from(origin))
            .or_default()
            .insert(key, made.clone());
        map.len += 1;
        Some(made)
    }

    /// Keys cached.
    pub(super) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len
    }
}

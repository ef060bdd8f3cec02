//! Liveness from heartbeats: whether an entity (a runtime, a worker) was
//! seen recently enough, with a fast store in front and the durable record
//! as the fallback, and how many entities are alive or stale.
//!
//! A daemon's runtime sweeper did this every 30 s by hand: runtimes
//! heartbeat into a fast store (Redis) and, less often, into the database;
//! a runtime not seen within the stale threshold is marked offline; and
//! when the fast store errors, the sweeper trusts the database's last-seen
//! time instead of marking every runtime offline. [`Liveness`] is that rule,
//! behind the [`LivenessStore`] trait:
//!
//! ```
//! # async fn demo() {
//! use std::time::{Duration, SystemTime};
//! use vigil::liveness::{InMemoryStore, Liveness, HeartbeatStatus};
//!
//! let liveness = Liveness::builder("runtime", InMemoryStore::new())
//!     .with_stale_after(Duration::from_secs(90))
//!     .build();
//! let now = SystemTime::now();
//! liveness.heartbeat("rt-1", now).await.ok();
//! // From the database: (id, durable last-seen).
//! let runtimes = [("rt-1", None), ("rt-2", Some(now - Duration::from_secs(600)))];
//! let seen = liveness.evaluate(runtimes, now).await;
//! assert_eq!(seen.stale, ["rt-2"]); // mark these offline
//! # }
//! ```
//!
//! The rule, given the fast store's answer and the durable last-seen time:
//!
//! - The store answered: the later of the two times counts. A missing key
//!   does not make an entity stale on its own, so a store that lost its
//!   keys (a restart, a flush) falls back to the database rather than
//!   taking every entity offline at once.
//! - The store failed: the durable time counts, and the check is counted in
//!   `fallbacks`.
//! - No time at all: stale. An entity is stale when its last-seen time is
//!   *more than* the threshold ago; a time in the future (clock skew) is alive.
//!
//! With namespace `ns` and entity `runtime`:
//!
//! | OTel name | unit | attributes |
//! |---|---|---|
//! | `ns.runtime.liveness.count` | `{runtime}` | `status` = `alive`, `stale` (from the last [`Liveness::evaluate`]) |
//! | `ns.runtime.liveness.fallbacks` | `{check}` | none; checks that used the durable time because the store failed |
//!
//! The count is `liveness.count` rather than `liveness`, since `liveness` is
//! already the namespace of `liveness.fallbacks` (OpenTelemetry names must
//! not be both), matching `lifecycle.count`.
//!
//! This module does not write the durable record, mark entities offline, or
//! schedule checks: run [`Liveness::evaluate`] from a
//! [`Sweeper`](crate::sweep::Sweeper) and record the resulting transitions
//! with a [`Lifecycle`](crate::lifecycle::Lifecycle).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};

use crate::labels::Label;
use crate::views::{self, Spec};

crate::label! {
    /// Whether an entity was seen recently enough.
    pub enum HeartbeatStatus = "status" {
        /// Seen within the stale threshold.
        Alive = "alive",
        /// Not seen within the stale threshold, or never.
        Stale = "stale",
    }
}

/// Default stale threshold.
const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(90);

// === impl StoreError ===

/// A [`LivenessStore`] could not answer.
#[derive(Debug, thiserror::Error)]
#[error("liveness store failed")]
pub struct StoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// Wrap the store's own error (or a message).
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError {
            source: source.into(),
        }
    }
}

// === LivenessStore ===

/// A fast store of last heartbeats (Redis, memcached, memory), keyed by
/// entity id.
///
/// Contract: calls are idempotent and are not retried by [`Liveness`] (a
/// failed lookup falls back to the durable time; a failed heartbeat is
/// returned to the caller, whose next heartbeat is the retry). A store may
/// forget entries (expire keys); forgetting only makes [`Liveness`] rely on
/// the durable time. A store should keep the latest heartbeat when two
/// arrive out of order.
pub trait LivenessStore: Send + Sync {
    /// When `id` last sent a heartbeat, if the store knows.
    fn last_seen(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SystemTime>, StoreError>> + Send;

    /// Record that `id` was alive at `at`.
    fn heartbeat(
        &self,
        id: &str,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`LivenessStore::last_seen`] for many ids, in order (one answer per
    /// id). Override it with a batch lookup (`MGET`); the default asks one id
    /// at a time.
    fn last_seen_many(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<Vec<Option<SystemTime>>, StoreError>> + Send {
        async move {
            let mut seen = Vec::with_capacity(ids.len());
            for id in ids {
                seen.push(self.last_seen(id).await?);
            }
            Ok(seen)
        }
    }
}

impl<S: LivenessStore> LivenessStore for Arc<S> {
    fn last_seen(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SystemTime>, StoreError>> + Send {
        (**self).last_seen(id)
    }

    fn heartbeat(
        &self,
        id: &str,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).heartbeat(id, at)
    }

    fn last_seen_many(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<Vec<Option<SystemTime>>, StoreError>> + Send {
        (**self).last_seen_many(ids)
    }
}

// === impl InMemoryStore ===

/// A [`LivenessStore`] in process memory: for single-process services and
/// tests. It never fails and never forgets on its own.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    seen: Mutex<HashMap<String, SystemTime>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget `id` (e.g. when the entity is deleted).
    pub fn forget(&self, id: &str) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

impl LivenessStore for InMemoryStore {
    async fn last_seen(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(seen.get(id).copied())
    }

    async fn heartbeat(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = seen.entry(id.to_string()).or_insert(at);
        *latest = (*latest).max(at);
        Ok(())
    }
}

// === impl Builder ===

/// Configures a [`Liveness`]; from [`Liveness::builder`].
#[must_use = "call build()"]
pub struct Builder<S> {
    entity: String,
    stale_after: Duration,
    meter: Option<Meter>,
    namespace: Option<String>,
    store: S,
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("entity", &self.entity)
            .field("stale_after", &self.stale_after)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<S: LivenessStore> Builder<S> {
    /// An entity is stale when last seen more than this long ago (default 90 s).
    pub fn with_stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// Use this meter instead of the global Vigil meter.
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Prefix metric names with `namespace.` (default: the one given to `init`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Build the instruments around the store.
    pub fn build(self) -> Liveness<S> {
        let store = self.store;
        let meter = self.meter.unwrap_or_else(crate::init::meter);
        let ns = self
            .namespace
            .or_else(|| crate::init::namespace().map(str::to_string));
        let name = |suffix: &str| match &ns {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}.liveness.{suffix}", self.entity),
            _ => format!("{}.liveness.{suffix}", self.entity),
        };
        let count_name = name("count");
        views::register(
            &count_name,
            Spec::cardinality(HeartbeatStatus::VALUES.len()),
        );
        let count = meter
            .u64_gauge(count_name)
            .with_unit(format!("{{{}}}", self.entity))
            .with_description(format!(
                "{}s by liveness status at the last evaluation.",
                self.entity
            ))
            .build();
        let fallbacks_name = name("fallbacks");
        views::register(&fallbacks_name, Spec::cardinality(1));
        let fallbacks = meter
            .u64_counter(fallbacks_name)
            .with_unit("{check}")
            .with_description(format!(
                "{} liveness checks that used the durable last-seen time because the store failed.",
                self.entity
            ))
            .build();
        Liveness {
            store,
            stale_after: self.stale_after,
            count,
            fallbacks,
            status_attrs: HeartbeatStatus::VALUES
                .iter()
                .map(|s| [KeyValue::new(HeartbeatStatus::KEY, s.as_str())])
                .collect(),
        }
    }
}

// === impl Liveness ===

/// The liveness rule and its instruments for one kind of entity.
pub struct Liveness<S> {
    store: S,
    stale_after: Duration,
    count: Gauge<u64>,
    fallbacks: Counter<u64>,
    /// `status` attributes, by [`HeartbeatStatus`] index.
    status_attrs: Box<[[KeyValue; 1]]>,
}

impl<S: fmt::Debug> fmt::Debug for Liveness<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Liveness")
            .field("store", &self.store)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

/// The result of [`Liveness::evaluate`]: the entities by status, in the
/// order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation<I> {
    /// Entities seen within the threshold.
    pub alive: Vec<I>,
    /// Entities not seen within the threshold (or never).
    pub stale: Vec<I>,
    /// Entities judged on the durable time alone because the store failed.
    pub fallbacks: usize,
}

impl<S: LivenessStore> Liveness<S> {
    /// Start configuring liveness for entities of kind `entity` (e.g.
    /// `"runtime"`), kept in `store`.
    pub fn builder(entity: impl Into<String>, store: S) -> Builder<S> {
        Builder {
            entity: entity.into(),
            stale_after: DEFAULT_STALE_AFTER,
            meter: None,
            namespace: None,
            store,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The stale threshold.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Record a heartbeat of `id` in the store.
    pub async fn heartbeat(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.store.heartbeat(id, at).await
    }

    /// The status of an entity last seen at `last_seen`, at `now`: stale
    /// when never seen or seen more than the threshold ago.
    pub fn classify(&self, last_seen: Option<SystemTime>, now: SystemTime) -> HeartbeatStatus {
        match last_seen.map(|t| now.duration_since(t)) {
            None => HeartbeatStatus::Stale,
            Some(Ok(age)) if age > self.stale_after => HeartbeatStatus::Stale,
            // At or within the threshold, or in the future (clock skew).
            Some(_) => HeartbeatStatus::Alive,
        }
    }

    /// The status of `id` at `now`, asking the store and falling back to
    /// `durable_last_seen` (the database's time) as the module describes.
    pub async fn check(
        &self,
        id: &str,
        durable_last_seen: Option<SystemTime>,
        now: SystemTime,
    ) -> HeartbeatStatus {
        let last_seen = match self.store.last_seen(id).await {
            // `None < Some`, so a missing key defers to the durable time.
            Ok(seen) => seen.max(durable_last_seen),
            Err(error) => {
                self.fall_back(&error, 1);
                durable_last_seen
            }
        };
        self.classify(last_seen, now)
    }

    /// The status of every entity given as `(id, durable last-seen)`, with
    /// one batch lookup in the store; sets the `count` gauge to the result,
    /// so pass the whole population.
    pub async fn evaluate<I, E>(&self, entities: E, now: SystemTime) -> Evaluation<I>
    where
        I: AsRef<str>,
        E: IntoIterator<Item = (I, Option<SystemTime>)>,
    {
        let entities: Vec<(I, Option<SystemTime>)> = entities.into_iter().collect();
        let n = entities.len();
        let fast = if n == 0 {
            Ok(Vec::new())
        } else {
            let ids: Vec<&str> = entities.iter().map(|(id, _)| id.as_ref()).collect();
            match self.store.last_seen_many(&ids).await {
                Ok(seen) if seen.len() == n => Ok(seen),
                Ok(seen) => Err(StoreError::new(format!(
                    "the store answered {} of {n} ids",
                    seen.len()
                ))),
                Err(e) => Err(e),
            }
        };
        let (fast, fallbacks) = match fast {
            Ok(seen) => (seen, 0),
            Err(error) => {
                self.fall_back(&error, n);
                (vec![None; n], n)
            }
        };
        let mut out = Evaluation {
            alive: Vec::new(),
            stale: Vec::new(),
            fallbacks,
        };
        for ((id, durable), seen) in entities.into_iter().zip(fast) {
            // As in `check`; after a failure `seen` is None and the durable time alone counts.
            match self.classify(seen.max(durable), now) {
                HeartbeatStatus::Alive => out.alive.push(id),
                HeartbeatStatus::Stale => out.stale.push(id),
            }
        }
        for (status, n) in [
            (HeartbeatStatus::Alive, out.alive.len()),
            (HeartbeatStatus::Stale, out.stale.len()),
        ] {
            if let Some(attrs) = self.status_attrs.get(status.index()) {
                self.count.record(n as u64, attrs);
            }
        }
        out
    }

    /// Count and log checks that fell back to the durable time.
    fn fall_back(&self, error: &StoreError, checks: usize) {
        self.fallbacks.add(checks as u64, &[]);
        tracing::warn!(
            error = error as &(dyn std::error::Error + 'static),
            checks,
            "liveness store failed; using durable last-seen times"
        );
    }
}

#[cfg(test)]
mod tests;

//! Lifecycle instruments for one kind of entity (a worker, a runtime, a task):
//! transitions, their durations, and how many entities are in each state.
//!
//! For an entity `worker` under namespace `duckgres`, the instruments are
//!
//! | OTel name | unit | attributes | Prometheus (after the collector) |
//! |---|---|---|---|
//! | `duckgres.worker.lifecycle.transitions` | `{transition}` | `operation`, `outcome`, `origin`, the label set `L` | `duckgres_worker_lifecycle_transitions_total` |
//! | `duckgres.worker.lifecycle.transition.duration` | `s` | `operation` | `duckgres_worker_lifecycle_transition_duration_seconds` |
//! | `duckgres.worker.lifecycle.count` | `{worker}` | `state`, the count label set `C` | `duckgres_worker_lifecycle_count` |
//!
//! Rules, as the hand-written versions of this code settled them:
//!
//! - Operations, states and user labels are typed: `Op` and `State` are
//!   [`Label`]s, the user labels of transitions (`L`, from
//!   [`Builder::with_labels`]) and of the state count (`C`, from
//!   [`Builder::with_count_labels`]) are [`LabelSet`]s (a label or a tuple of
//!   labels), so a call site that leaves one out or passes one too many does
//!   not compile. A *dynamic* operation name ([`Lifecycle::record_named`])
//!   that is empty or unknown drops the sample instead of recording it.
//! - The origin is the one free-form value (who asked: `"pool"`,
//!   `"reconcile"`); an empty one becomes `unknown`.
//! - A negative or NaN duration is recorded as 0.
//! - A cancellation (a shutdown interrupting the operation) is counted with
//!   `outcome="cancelled"`, never as a failure; [`Lifecycle::time_with`]
//!   asks a [`Classify`] (any `Fn(&E) -> Outcome`) which one an error is, so
//!   it works with any error type. [`Lifecycle::time`] counts every error as
//!   a failure.
//! - The state count is kept by the SDK from transitions that carry
//!   `from`/`to` states, or set by the user; a leader-only count can be reset
//!   to a sentinel when leadership is lost ([`Lifecycle::reset_counts`]).
//!
//! Hot paths bind once: [`Lifecycle::bind`] returns a [`BoundTransition`]
//! that holds one bound counter per outcome, so counting a transition is an
//! array index and a bound add. Binding creates the series of every outcome
//! (and the duration series of every operation exist from the start): they
//! export as 0 until used, which is what Prometheus users want from a
//! bounded label set (`rate()` over a series that appears late misses its
//! first increments).
//!
//! Bound counters are cached per (origin, operation, label set), at most
//! [`Builder::with_cache_limit`] keys ([`DEFAULT_CACHE_LIMIT`] by default);
//! past the bound a record still counts, through the unbound counter (see
//! the `cache` module notes). State counts are kept per (state, count label
//! set), a number fixed by the types.

mod builder;
mod cache;
mod classify;

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Gauge};

use crate::labels::{Label, LabelSet};

pub use builder::Builder;
pub use cache::DEFAULT_LIMIT as DEFAULT_CACHE_LIMIT;
pub use classify::{AllFailures, Classify};

use cache::{Cache, Outcomes};

crate::label! {
    /// How a transition ended.
    pub enum Outcome = "outcome" {
        /// It did what it was asked.
        Success = "success",
        /// It failed.
        Failure = "failure",
        /// It was interrupted by a shutdown: not a failure.
        Cancelled = "cancelled",
    }
}

/// The origin recorded for an empty one.
const UNKNOWN: &str = "unknown";

struct Inner {
    transitions: Counter<u64>,
    /// One bound duration series per operation, indexed by `Op::index`.
    durations: Vec<BoundHistogram<f64>>,
    count: Gauge<i64>,
    /// Bound counters per (origin, operation, label set): one per outcome.
    bound: Cache,
    /// State counts per (state index, count label set index): at most
    /// `State::VALUES.len() * C::CARDINALITY` entries.
    counts: Mutex<HashMap<(usize, usize), Count>>,
}

/// One state count and its attributes.
struct Count {
    attrs: Vec<KeyValue>,
    n: i64,
}

impl Count {
    fn new(attrs: Vec<KeyValue>) -> Self {
        Count { attrs, n: 0 }
    }
}

/// Lifecycle instruments for one kind of entity, with operations `Op`,
/// states `State`, transition labels `L` and state count labels `C`.
/// Cheap to clone.
pub struct Lifecycle<Op: Label, State: Label, L: LabelSet = (), C: LabelSet = ()> {
    inner: Arc<Inner>,
    _types: PhantomData<fn(Op, State, L, C)>,
}

impl<Op: Label, State: Label, L: LabelSet, C: LabelSet> Clone for Lifecycle<Op, State, L, C> {
    fn clone(&self) -> Self {
        Lifecycle {
            inner: self.inner.clone(),
            _types: PhantomData,
        }
    }
}

impl<Op: Label, State: Label, L: LabelSet, C: LabelSet> std::fmt::Debug
    for Lifecycle<Op, State, L, C>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("cached", &self.inner.bound.len())
            .finish_non_exhaustive()
    }
}

/// A transition's counter series for one (operation, origin, labels), bound
/// for every outcome. Counting through it does not build attributes.
///
/// It holds its bound counters inline (one per outcome, by
/// `Outcome::index`), not behind the cache's shared slice: one pointer
/// fewer to follow on the hot path.
#[derive(Clone)]
pub struct BoundTransition {
    outcomes: [Option<BoundCounter<u64>>; 3],
    duration: Option<BoundHistogram<f64>>,
}

impl std::fmt::Debug for BoundTransition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundTransition").finish_non_exhaustive()
    }
}

impl BoundTransition {
    /// Count one transition.
    #[inline]
    pub fn count(&self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Success => &self.outcomes[0],
            Outcome::Failure => &self.outcomes[1],
            Outcome::Cancelled => &self.outcomes[2],
        };
        if let Some(c) = slot {
            c.add(1);
        }
    }

    /// Count one transition and record how long it took.
    pub fn record(&self, outcome: Outcome, duration: Duration) {
        self.count(outcome);
        if let Some(d) = &self.duration {
            d.record(duration.as_secs_f64());
        }
    }
}

/// The origin as recorded: trimmed, `unknown` when empty.
fn clean_origin(origin: &str) -> &str {
    let origin = origin.trim();
    if origin.is_empty() { UNKNOWN } else { origin }
}

fn clamp_seconds(seconds: f64) -> f64 {
    if seconds.is_nan() || seconds < 0.0 {
        0.0
    } else {
        seconds
    }
}

// === impl Lifecycle ===

impl<Op: Label, State: Label> Lifecycle<Op, State> {
    /// Start building lifecycle instruments for `entity` (e.g. `"worker"`).
    pub fn builder(entity: impl Into<String>) -> Builder<Op, State> {
        Builder {
            entity: entity.into(),
            meter: None,
            namespace: None,
            cache_limit: DEFAULT_CACHE_LIMIT,
            _types: PhantomData,
        }
    }
}

impl<Op: Label, State: Label, L: LabelSet, C: LabelSet> Lifecycle<Op, State, L, C> {
    fn attributes(op: Op, outcome: Outcome, origin: &str, labels: L) -> Vec<KeyValue> {
        let mut attrs = vec![
            KeyValue::new("operation", op.as_str()),
            KeyValue::new("outcome", outcome.as_str()),
            KeyValue::new("origin", origin.to_string()),
        ];
        labels.push_attributes(&mut attrs);
        attrs
    }

    fn bind_outcomes(&self, op: Op, origin: &str, labels: L) -> Outcomes {
        Outcome::VALUES
            .iter()
            .map(|outcome| {
                self.inner
                    .transitions
                    .bind(&Self::attributes(op, *outcome, origin, labels))
            })
            .collect()
    }

    /// Bind the transitions of `op` from `origin` with the label set
    /// `labels`. Past the cache bound the handle is made but not cached.
    pub fn bind(&self, op: Op, origin: &str, labels: L) -> BoundTransition {
        let origin = clean_origin(origin);
        let key = (op.index(), labels.dense_index());
        let outcomes = match self.inner.bound.with(origin, key, Arc::clone) {
            Some(found) => found,
            None => self
                .inner
                .bound
                .get_or_insert(origin, key, || self.bind_outcomes(op, origin, labels))
                .unwrap_or_else(|| self.bind_outcomes(op, origin, labels)),
        };
        BoundTransition {
            outcomes: [0, 1, 2].map(|i| outcomes.get(i).cloned()),
            duration: self.inner.durations.get(op.index()).cloned(),
        }
    }

    /// Count one transition; `duration` (when known) goes to the duration histogram.
    pub fn record(
        &self,
        op: Op,
        outcome: Outcome,
        origin: &str,
        labels: L,
        duration: Option<Duration>,
    ) {
        self.count(op, outcome, origin, labels);
        if let Some(d) = duration {
            self.record_duration(op, d.as_secs_f64());
        }
    }

    fn count(&self, op: Op, outcome: Outcome, origin: &str, labels: L) {
        let origin = clean_origin(origin);
        let key = (op.index(), labels.dense_index());
        let add = |outcomes: &Outcomes| {
            if let Some(c) = outcomes.get(outcome.index()) {
                c.add(1);
            }
        };
        if self.inner.bound.with(origin, key, add).is_some() {
            return;
        }
        match self
            .inner
            .bound
            .get_or_insert(origin, key, || self.bind_outcomes(op, origin, labels))
        {
            Some(outcomes) => add(&outcomes),
            // The cache is full: count through the unbound counter.
            None => self
                .inner
                .transitions
                .add(1, &Self::attributes(op, outcome, origin, labels)),
        }
    }

    /// Record a transition duration in seconds; negative or NaN becomes 0.
    pub fn record_duration(&self, op: Op, seconds: f64) {
        if let Some(d) = self.inner.durations.get(op.index()) {
            d.record(clamp_seconds(seconds));
        }
    }

    /// Count a transition whose operation name is only known at run time: an
    /// empty name drops the sample (returns `false`); a name that is not one
    /// of `Op`'s values is dropped too, so the label stays bounded.
    pub fn record_named(&self, op: &str, outcome: Outcome, origin: &str, labels: L) -> bool {
        let op = op.trim();
        match Op::VALUES.iter().find(|o| o.as_str() == op) {
            Some(op) if !op.as_str().is_empty() => {
                self.record(*op, outcome, origin, labels, None);
                true
            }
            _ => false,
        }
    }

    /// Run `fut`, then count its transition (`Ok` → success, any error →
    /// failure) and record how long it took. The result is returned
    /// untouched. To count some errors as cancellations, use
    /// [`Lifecycle::time_with`].
    pub async fn time<T, E, F: Future<Output = Result<T, E>>>(
        &self,
        op: Op,
        origin: &str,
        labels: L,
        fut: F,
    ) -> Result<T, E> {
        self.time_with(op, origin, labels, AllFailures, fut).await
    }

    /// Run `fut`, then count its transition with the outcome its result gives
    /// (`Ok` → success, an error → what `classify` says) and record how long
    /// it took. The result is returned untouched.
    ///
    /// ```
    /// # async fn demo(lc: vigil::lifecycle::Lifecycle<vigil::lifecycle::Outcome, vigil::lifecycle::Outcome>) {
    /// use vigil::lifecycle::Outcome;
    /// let cancelled_or_failed = |e: &std::io::Error| match e.kind() {
    ///     std::io::ErrorKind::ConnectionAborted => Outcome::Cancelled,
    ///     _ => Outcome::Failure,
    /// };
    /// let _ = lc
    ///     .time_with(Outcome::Success, "pool", (), cancelled_or_failed, async { Ok::<_, std::io::Error>(()) })
    ///     .await;
    /// # }
    /// ```
    pub async fn time_with<T, E, K, F>(
        &self,
        op: Op,
        origin: &str,
        labels: L,
        classify: K,
        fut: F,
    ) -> Result<T, E>
    where
        K: Classify<E>,
        F: Future<Output = Result<T, E>>,
    {
        let bound = self.bind(op, origin, labels);
        let started = Instant::now();
        let result = fut.await;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) => classify.classify(e),
        };
        bound.record(outcome, started.elapsed());
        result
    }

    /// Move one entity from `from` to `to` in the state count (either may be
    /// `None` for an entity appearing or going away).
    pub fn move_state(&self, from: Option<State>, to: Option<State>, labels: C) {
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (state, delta) in [(from, -1i64), (to, 1)] {
            let Some(state) = state else { continue };
            let count = counts
                .entry((state.index(), labels.dense_index()))
                .or_insert_with(|| Count::new(Self::count_attrs(state, labels)));
            count.n = (count.n + delta).max(0);
            self.inner.count.record(count.n, &count.attrs);
        }
    }

    /// Set the number of entities in `state`.
    pub fn set_count(&self, state: State, labels: C, n: i64) {
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts
            .entry((state.index(), labels.dense_index()))
            .or_insert_with(|| Count::new(Self::count_attrs(state, labels)));
        count.n = n;
        self.inner.count.record(n, &count.attrs);
    }

    /// Set every state count seen so far to `sentinel` (e.g. `-1` or `0`
    /// when this process loses leadership and its counts stop being true).
    pub fn reset_counts(&self, sentinel: i64) {
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for count in counts.values_mut() {
            count.n = sentinel;
            self.inner.count.record(sentinel, &count.attrs);
        }
    }

    /// How many (origin, operation, label set) keys have cached bound
    /// counters: never more than the cache limit.
    pub fn cached_len(&self) -> usize {
        self.inner.bound.len()
    }

    fn count_attrs(state: State, labels: C) -> Vec<KeyValue> {
        let mut attrs = vec![KeyValue::new("state", state.as_str())];
        labels.push_attributes(&mut attrs);
        attrs
    }
}

#[cfg(test)]
mod tests;

//! Lifecycle instruments for one kind of entity (a worker, a runtime, a task):
//! transitions, their durations, and how many entities are in each state.
//!
//! For an entity `worker` under namespace `duckgres`, the instruments are
//!
//! | OTel name | unit | attributes | Prometheus (after the collector) |
//! |---|---|---|---|
//! | `duckgres.worker.lifecycle.transitions` | `{transition}` | `operation`, `outcome`, `origin`, user labels | `duckgres_worker_lifecycle_transitions_total` |
//! | `duckgres.worker.lifecycle.transition.duration` | `s` | `operation` | `duckgres_worker_lifecycle_transition_duration_seconds` |
//! | `duckgres.worker.lifecycle.count` | `{worker}` | `state`, user count labels | `duckgres_worker_lifecycle_count` |
//!
//! Rules, as the hand-written versions of this code settled them:
//!
//! - Operations and states are typed [`Label`]s, so call sites cannot invent
//!   them. A *dynamic* operation name ([`Lifecycle::record_named`]) that is
//!   empty drops the sample instead of recording an empty label.
//! - An empty origin or user label value becomes `unknown`.
//! - A negative or NaN duration is recorded as 0.
//! - A cancellation (a shutdown interrupting the operation) is counted with
//!   `outcome="cancelled"`, never as a failure; [`Lifecycle::time`] asks the
//!   error whether it is one through [`Cancellation`].
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

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Gauge, Meter};

use crate::labels::{Free, Label};
use crate::views::{self, SECONDS_BOUNDARIES, Spec};

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

/// Errors that can say they stand for a cancellation (a shutdown), so that
/// [`Lifecycle::time`] counts them as [`Outcome::Cancelled`].
pub trait Cancellation {
    /// Whether this error is a cancellation.
    fn is_cancellation(&self) -> bool {
        false
    }
}

impl Cancellation for std::io::Error {
    fn is_cancellation(&self) -> bool {
        self.kind() == std::io::ErrorKind::Interrupted
    }
}

/// Upper bound on distinct values per free-form label, for the cardinality limit.
const FREE_VALUES: usize = 32;
/// Cap on any one stream's cardinality limit.
const MAX_LIMIT: usize = 10_000;

/// Start building lifecycle instruments for `entity` (e.g. `"worker"`);
/// [`Builder::build`] names the operation and state label types.
pub fn builder(entity: impl Into<String>) -> Builder {
    Builder {
        entity: entity.into(),
        meter: None,
        namespace: None,
        labels: Vec::new(),
        count_labels: Vec::new(),
    }
}

/// Builds a [`Lifecycle`].
pub struct Builder {
    entity: String,
    meter: Option<Meter>,
    namespace: Option<String>,
    labels: Vec<&'static str>,
    count_labels: Vec<&'static str>,
}

impl Builder {
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

    /// Free-form label keys on the transitions counter (e.g. `["image"]`);
    /// values are passed in this order at each record.
    pub fn with_labels(mut self, keys: &[&'static str]) -> Self {
        self.labels = keys.to_vec();
        self
    }

    /// Free-form label keys on the state count (e.g. `["image", "binding"]`).
    pub fn with_count_labels(mut self, keys: &[&'static str]) -> Self {
        self.count_labels = keys.to_vec();
        self
    }

    /// Build the instruments.
    pub fn build<Op: Label, State: Label>(self) -> Lifecycle<Op, State> {
        let meter = self.meter.unwrap_or_else(crate::init::meter);
        let ns = self
            .namespace
            .or_else(|| crate::init::namespace().map(str::to_string));
        let name = |suffix: &str| match &ns {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}.lifecycle.{suffix}", self.entity),
            _ => format!("{}.lifecycle.{suffix}", self.entity),
        };
        let free = |n: usize| FREE_VALUES.saturating_pow(n as u32);
        let transitions_name = name("transitions");
        let limit =
            (Op::VALUES.len() * Outcome::VALUES.len()).saturating_mul(free(self.labels.len() + 1));
        views::register(
            &transitions_name,
            Spec {
                boundaries: None,
                cardinality_limit: Some(limit.min(MAX_LIMIT)),
            },
        );
        let transitions = meter
            .u64_counter(transitions_name)
            .with_unit("{transition}")
            .with_description(format!(
                "Lifecycle transitions of {}s, by operation and outcome.",
                self.entity
            ))
            .build();
        let duration_name = name("transition.duration");
        views::register(
            &duration_name,
            Spec {
                boundaries: Some(SECONDS_BOUNDARIES.to_vec()),
                cardinality_limit: Some(Op::VALUES.len() + 1),
            },
        );
        let durations = meter
            .f64_histogram(duration_name)
            .with_unit("s")
            .with_description(format!(
                "Time {} lifecycle transitions take, by operation.",
                self.entity
            ))
            .build();
        let count_name = name("count");
        let limit = State::VALUES
            .len()
            .saturating_mul(free(self.count_labels.len()));
        views::register(
            &count_name,
            Spec {
                boundaries: None,
                cardinality_limit: Some(limit.min(MAX_LIMIT)),
            },
        );
        let count = meter
            .i64_gauge(count_name)
            .with_unit(format!("{{{}}}", self.entity))
            .with_description(format!("{}s in each lifecycle state.", self.entity))
            .build();
        // Few operations: bind each one's duration series up front.
        let durations = Op::VALUES
            .iter()
            .map(|op| durations.bind(&[KeyValue::new("operation", op.as_str())]))
            .collect();
        Lifecycle {
            inner: Arc::new(Inner {
                transitions,
                durations,
                count,
                labels: self.labels,
                count_labels: self.count_labels,
                bound: Mutex::new(HashMap::new()),
                counts: Mutex::new(HashMap::new()),
            }),
            _types: std::marker::PhantomData,
        }
    }
}

/// (operation index, origin, user label values).
type Key = (usize, Box<str>, Box<[Box<str>]>);
/// (state index, count label values).
type CountKey = (usize, Box<[Box<str>]>);

struct Inner {
    transitions: Counter<u64>,
    /// One bound duration series per operation, indexed by `Op::index`.
    durations: Vec<BoundHistogram<f64>>,
    count: Gauge<i64>,
    labels: Vec<&'static str>,
    count_labels: Vec<&'static str>,
    /// Bound counters per (operation, origin, labels): one per outcome.
    bound: Mutex<HashMap<Key, Arc<[BoundCounter<u64>]>>>,
    /// State counts per (state, count labels).
    counts: Mutex<HashMap<CountKey, i64>>,
}

/// Lifecycle instruments for one kind of entity. Cheap to clone.
pub struct Lifecycle<Op: Label, State: Label> {
    inner: Arc<Inner>,
    _types: std::marker::PhantomData<fn(Op, State)>,
}

impl<Op: Label, State: Label> Clone for Lifecycle<Op, State> {
    fn clone(&self) -> Self {
        Lifecycle {
            inner: self.inner.clone(),
            _types: std::marker::PhantomData,
        }
    }
}

/// A transition's counter series for one (operation, origin, labels), bound
/// for every outcome. Counting through it does not build attributes.
#[derive(Clone)]
pub struct BoundTransition {
    outcomes: Arc<[BoundCounter<u64>]>,
    duration: Option<BoundHistogram<f64>>,
}

impl BoundTransition {
    /// Count one transition.
    #[inline]
    pub fn count(&self, outcome: Outcome) {
        if let Some(c) = self.outcomes.get(outcome.index()) {
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

fn clean(values: &[&str], keys: usize) -> Box<[Box<str>]> {
    (0..keys)
        .map(|i| Box::from(Free::new(values.get(i).copied().unwrap_or("")).as_str()))
        .collect()
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
    /// Bind the transitions of `op` from `origin` with these user label
    /// values (in the order given to [`Builder::with_labels`]).
    pub fn bind(&self, op: Op, origin: &str, labels: &[&str]) -> BoundTransition {
        let origin: Box<str> = Free::new(origin).as_str().into();
        let values = clean(labels, self.inner.labels.len());
        let key: Key = (op.index(), origin, values);
        let mut bound = self
            .inner
            .bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let outcomes = match bound.get(&key) {
            Some(b) => b.clone(),
            None => {
                let made: Arc<[BoundCounter<u64>]> = Outcome::VALUES
                    .iter()
                    .map(|outcome| {
                        let mut attrs = vec![
                            KeyValue::new("operation", op.as_str()),
                            KeyValue::new("outcome", outcome.as_str()),
                            KeyValue::new("origin", key.1.to_string()),
                        ];
                        for (k, v) in self.inner.labels.iter().zip(key.2.iter()) {
                            attrs.push(KeyValue::new(*k, v.to_string()));
                        }
                        self.inner.transitions.bind(&attrs)
                    })
                    .collect();
                bound.insert(key, made.clone());
                made
            }
        };
        BoundTransition {
            outcomes,
            duration: self.inner.durations.get(op.index()).cloned(),
        }
    }

    /// Count one transition; `duration` (when known) goes to the duration histogram.
    pub fn record(
        &self,
        op: Op,
        outcome: Outcome,
        origin: &str,
        labels: &[&str],
        duration: Option<Duration>,
    ) {
        self.bind(op, origin, labels).count(outcome);
        if let Some(d) = duration {
            self.record_duration(op, d.as_secs_f64());
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
    pub fn record_named(&self, op: &str, outcome: Outcome, origin: &str, labels: &[&str]) -> bool {
        let op = op.trim();
        match Op::VALUES.iter().find(|o| o.as_str() == op) {
            Some(op) if !op.as_str().is_empty() => {
                self.record(*op, outcome, origin, labels, None);
                true
            }
            _ => false,
        }
    }

    /// Run `fut`, then count its transition with the outcome its result gives
    /// (`Ok` → success, a [`Cancellation`] error → cancelled, other errors →
    /// failure) and record how long it took. The result is returned untouched.
    pub async fn time<T, E: Cancellation, F: Future<Output = Result<T, E>>>(
        &self,
        op: Op,
        origin: &str,
        labels: &[&str],
        fut: F,
    ) -> Result<T, E> {
        let bound = self.bind(op, origin, labels);
        let started = Instant::now();
        let result = fut.await;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) if e.is_cancellation() => Outcome::Cancelled,
            Err(_) => Outcome::Failure,
        };
        bound.record(outcome, started.elapsed());
        result
    }

    /// Move one entity from `from` to `to` in the state count (either may be
    /// `None` for an entity appearing or going away).
    pub fn move_state(&self, from: Option<State>, to: Option<State>, count_labels: &[&str]) {
        let values = clean(count_labels, self.inner.count_labels.len());
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (state, delta) in [(from, -1i64), (to, 1)] {
            let Some(state) = state else { continue };
            let n = counts.entry((state.index(), values.clone())).or_insert(0);
            *n = (*n + delta).max(0);
            self.inner
                .count
                .record(*n, &self.count_attrs(state, &values));
        }
    }

    /// Set the number of entities in `state`.
    pub fn set_count(&self, state: State, count_labels: &[&str], n: i64) {
        let values = clean(count_labels, self.inner.count_labels.len());
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.insert((state.index(), values.clone()), n);
        self.inner
            .count
            .record(n, &self.count_attrs(state, &values));
    }

    /// Set every state count seen so far to `sentinel` (e.g. `-1` or `0`
    /// when this process loses leadership and its counts stop being true).
    pub fn reset_counts(&self, sentinel: i64) {
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((state, values), n) in counts.iter_mut() {
            *n = sentinel;
            if let Some(state) = State::VALUES.get(*state) {
                self.inner
                    .count
                    .record(sentinel, &self.count_attrs(*state, values));
            }
        }
    }

    fn count_attrs(&self, state: State, values: &[Box<str>]) -> Vec<KeyValue> {
        let mut attrs = vec![KeyValue::new("state", state.as_str())];
        for (k, v) in self.inner.count_labels.iter().zip(values) {
            attrs.push(KeyValue::new(*k, v.to_string()));
        }
        attrs
    }
}

#[cfg(test)]
mod tests;

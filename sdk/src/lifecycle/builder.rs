//! The lifecycle builder: names the instruments, sizes their streams'
//! cardinality limits from the label types, and sets the duration
//! histogram's boundaries.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use super::cache::Cache;
use super::{Inner, Lifecycle, Outcome};
use crate::labels::{Label, LabelSet};
use crate::views::{self, SECONDS_BOUNDARIES, Spec};

/// Distinct origins expected per stream, for the cardinality limit.
const ORIGINS: usize = 32;
/// Cap on any one stream's cardinality limit.
const MAX_LIMIT: usize = 10_000;

/// Builds a [`Lifecycle`]; from [`Lifecycle::builder`].
///
/// `L` and `C` are the user label sets of the transitions counter and of the
/// state count (`()` for none), set with [`Builder::with_labels`] and
/// [`Builder::with_count_labels`].
#[must_use = "call build()"]
pub struct Builder<Op, State, L = (), C = ()> {
    pub(super) entity: String,
    pub(super) meter: Option<Meter>,
    pub(super) namespace: Option<String>,
    pub(super) cache_limit: usize,
    pub(super) _types: PhantomData<fn(Op, State, L, C)>,
}

impl<Op, State, L, C> std::fmt::Debug for Builder<Op, State, L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("entity", &self.entity)
            .field("namespace", &self.namespace)
            .field("cache_limit", &self.cache_limit)
            .finish_non_exhaustive()
    }
}

impl<Op: Label, State: Label, L: LabelSet, C: LabelSet> Builder<Op, State, L, C> {
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

    /// Label the transitions counter with the label set `L2` (a [`Label`]
    /// such as `Image`, or a tuple `(Image, Reason)`), passed at every record.
    ///
    /// Leaving a label out or adding one does not compile (issue 12; the
    /// positional `&[&str]` this replaces silently recorded `unknown` or
    /// dropped the extra value). This compiles:
    ///
    /// ```
    /// vigil::label! { enum Op = "operation" { Spawn = "spawn" } }
    /// vigil::label! { enum State = "state" { Idle = "idle" } }
    /// vigil::label! { enum Image = "image" { Duckdb = "duckdb" } }
    /// let lc = vigil::lifecycle::Lifecycle::<Op, State>::builder("worker")
    ///     .with_labels::<Image>()
    ///     .build();
    /// lc.record(Op::Spawn, vigil::lifecycle::Outcome::Success, "pool", Image::Duckdb, None);
    /// ```
    ///
    /// and these do not:
    ///
    /// ```compile_fail
    /// vigil::label! { enum Op = "operation" { Spawn = "spawn" } }
    /// vigil::label! { enum State = "state" { Idle = "idle" } }
    /// vigil::label! { enum Image = "image" { Duckdb = "duckdb" } }
    /// let lc = vigil::lifecycle::Lifecycle::<Op, State>::builder("worker")
    ///     .with_labels::<Image>()
    ///     .build();
    /// // Missing label: `()` is not an `Image`.
    /// lc.record(Op::Spawn, vigil::lifecycle::Outcome::Success, "pool", (), None);
    /// ```
    ///
    /// ```compile_fail
    /// vigil::label! { enum Op = "operation" { Spawn = "spawn" } }
    /// vigil::label! { enum State = "state" { Idle = "idle" } }
    /// vigil::label! { enum Image = "image" { Duckdb = "duckdb" } }
    /// vigil::label! { enum Reason = "reason" { Stale = "stale" } }
    /// let lc = vigil::lifecycle::Lifecycle::<Op, State>::builder("worker")
    ///     .with_labels::<Image>()
    ///     .build();
    /// // Extra label: `(Image, Reason)` is not an `Image`.
    /// lc.record(Op::Spawn, vigil::lifecycle::Outcome::Success, "pool", (Image::Duckdb, Reason::Stale), None);
    /// ```
    pub fn with_labels<L2: LabelSet>(self) -> Builder<Op, State, L2, C> {
        Builder {
            entity: self.entity,
            meter: self.meter,
            namespace: self.namespace,
            cache_limit: self.cache_limit,
            _types: PhantomData,
        }
    }

    /// Label the state count with the label set `C2`, passed at every
    /// [`Lifecycle::move_state`] and [`Lifecycle::set_count`].
    pub fn with_count_labels<C2: LabelSet>(self) -> Builder<Op, State, L, C2> {
        Builder {
            entity: self.entity,
            meter: self.meter,
            namespace: self.namespace,
            cache_limit: self.cache_limit,
            _types: PhantomData,
        }
    }

    /// Most (origin, operation, label set) keys whose bound counters are
    /// cached (default [`DEFAULT_CACHE_LIMIT`](super::DEFAULT_CACHE_LIMIT)). Past it, records still
    /// count, through the unbound counter; the transitions stream's
    /// cardinality limit is raised to hold every cached key's series (up to
    /// 10 000 series), so those records land in the SDK's overflow series
    /// (`otel.metric.overflow="true"`).
    pub fn with_cache_limit(mut self, limit: usize) -> Self {
        self.cache_limit = limit;
        self
    }

    /// Build the instruments.
    pub fn build(self) -> Lifecycle<Op, State, L, C> {
        let meter = self.meter.unwrap_or_else(crate::init::meter);
        let ns = self
            .namespace
            .or_else(|| crate::init::namespace().map(str::to_string));
        let name = |suffix: &str| match &ns {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}.lifecycle.{suffix}", self.entity),
            _ => format!("{}.lifecycle.{suffix}", self.entity),
        };
        let transitions_name = name("transitions");
        // Room for every cached key's series (one per outcome), so that
        // only records past the cache bound reach the overflow series.
        let limit = (Op::VALUES.len() * Outcome::VALUES.len())
            .saturating_mul(L::CARDINALITY)
            .saturating_mul(ORIGINS)
            .max(self.cache_limit.saturating_mul(Outcome::VALUES.len()));
        views::register(&transitions_name, Spec::cardinality(limit.min(MAX_LIMIT)));
        let transitions = meter
            .u64_counter(transitions_name)
            .with_unit("{transition}")
            .with_description(format!(
                "Lifecycle transitions of {}s, by operation and outcome.",
                self.entity
            ))
            .build();
        let duration_name = name("transition.duration");
        views::register(&duration_name, Spec::cardinality(Op::VALUES.len() + 1));
        let durations = meter
            .f64_histogram(duration_name)
            .with_unit("s")
            .with_boundaries(SECONDS_BOUNDARIES.to_vec())
            .with_description(format!(
                "Time {} lifecycle transitions take, by operation.",
                self.entity
            ))
            .build();
        let count_name = name("count");
        let limit = State::VALUES.len().saturating_mul(C::CARDINALITY);
        views::register(&count_name, Spec::cardinality(limit.min(MAX_LIMIT)));
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
                bound: Cache::new(self.cache_limit),
                counts: Mutex::new(HashMap::new()),
            }),
            _types: PhantomData,
        }
    }
}

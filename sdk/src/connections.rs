//! Open long-lived connections (WebSocket, SSE, streaming RPC): an up-down
//! counter driven by an RAII guard, so every open is matched by exactly one
//! close.
//!
//! The systems Vigil replaces kept an "active WebSocket" gauge by hand, with
//! an increment on upgrade and a decrement on every exit path; a missed path
//! (an early return, an error, a panic in the handler) left the gauge high
//! forever. Here [`Connections::open`] increments and returns a [`ConnectionGuard`];
//! dropping the guard decrements, once, whichever way the task ends,
//! including unwinding from a panic. Only an aborting panic or
//! [`std::mem::forget`] can skip it.
//!
//! One instrument, `{ns}.connections.active` (unit `{connection}`), serves
//! every kind: the kind given to [`Connections::builder`] (`websocket`, `sse`)
//! is the `connection.kind` attribute, so kinds can be summed or told apart.
//! The name is Vigil's, not a semantic convention, so it takes the
//! [namespace](crate::init::namespace) (`duckgres.connections.active`, in
//! Prometheus `duckgres_connections_active`). Further typed labels (a route,
//! a tenant tier) come from the [`LabelSet`] type parameter; each set is
//! bound to its own OTel series once, so opening and closing cost two bound
//! adds.
//!
//! ```
//! use vigil::connections::Connections;
//!
//! let websockets: Connections = Connections::builder("websocket").build();
//! let guard = websockets.open(());
//! // Move `guard` into the task that serves the socket; it closes with it.
//! drop(guard);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundUpDownCounter, Meter, UpDownCounter};

use crate::labels::{Free, LabelSet};
use crate::views;

/// The metric name, before the namespace.
pub const NAME: &str = "connections.active";
/// The attribute carrying the kind of connection.
pub const KIND_KEY: &str = "connection.kind";

/// Counts open connections of one kind, by label set `L`.
pub struct Connections<L: LabelSet = ()> {
    counter: UpDownCounter<i64>,
    kind: KeyValue,
    bound: Box<[OnceLock<BoundUpDownCounter<i64>>]>,
    _labels: PhantomData<L>,
}

impl<L: LabelSet> Connections<L> {
    /// A [`Builder`] for connections of `kind` (`websocket`, `sse`; empty
    /// becomes `unknown`). Keep kinds few and fixed in code.
    pub fn builder(kind: &str) -> Builder<L> {
        Builder {
            kind: Free::new(kind),
            meter: None,
            namespace: None,
            description: None,
            cardinality_limit: None,
            _labels: PhantomData,
        }
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub fn open(&self, labels: L) -> ConnectionGuard {
        let counter = match self.bound.get(labels.dense_index()) {
            Some(slot) => slot
                .get_or_init(|| self.counter.bind(&self.attributes(labels)))
                .clone(),
            None => self.counter.bind(&self.attributes(labels)),
        };
        counter.add(1);
        ConnectionGuard { counter }
    }

    fn attributes(&self, labels: L) -> Vec<KeyValue> {
        let mut attributes = vec![self.kind.clone()];
        labels.push_attributes(&mut attributes);
        attributes
    }
}

impl<L: LabelSet> fmt::Debug for Connections<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("kind", &self.kind.value)
            .finish_non_exhaustive()
    }
}

/// One open connection: counted until dropped.
///
/// `Send + Sync + 'static`, so it can move into the task serving the
/// connection; it may outlive the [`Connections`] that made it.
#[must_use = "the connection counts as open only while the guard lives"]
pub struct ConnectionGuard {
    counter: BoundUpDownCounter<i64>,
}

impl ConnectionGuard {
    /// Closes the connection now; the same as dropping the guard.
    pub fn close(self) {}
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.counter.add(-1);
    }
}

impl fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionGuard").finish_non_exhaustive()
    }
}

/// Configures [`Connections`].
#[must_use = "call build() to get the instrument"]
pub struct Builder<L: LabelSet = ()> {
    kind: Free,
    meter: Option<Meter>,
    namespace: Option<String>,
    description: Option<String>,
    cardinality_limit: Option<usize>,
    _labels: PhantomData<L>,
}

impl<L: LabelSet> Builder<L> {
    /// The meter to create the instrument from (default [`crate::init::meter`]).
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The metric-name prefix (default [`crate::init::namespace`]); empty
    /// means none.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The instrument's description (default: "Number of open connections.").
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Most series kept before the SDK folds the rest into its overflow
    /// series (default: the SDK's 2000). Registered by name, so shared by
    /// every kind: the largest limit asked for wins.
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Registers the stream settings and creates the instrument.
    pub fn build(self) -> Connections<L> {
        let name = match self.namespace.as_deref() {
            Some("") => NAME.to_string(),
            Some(namespace) => format!("{namespace}.{NAME}"),
            None => crate::init::metric_name(NAME),
        };
        register(&name, self.cardinality_limit);
        let meter = self.meter.unwrap_or_else(crate::init::meter);
        let counter = meter
            .i64_up_down_counter(name)
            .with_unit("{connection}")
            .with_description(
                self.description
                    .unwrap_or_else(|| "Number of open connections.".to_string()),
            )
            .build();
        Connections {
            counter,
            kind: KeyValue::new(KIND_KEY, self.kind.as_str().to_string()),
            bound: (0..L::CARDINALITY).map(|_| OnceLock::new()).collect(),
            _labels: PhantomData,
        }
    }
}

/// Registers `name`'s cardinality limit. The registry is keyed by name and
/// shared by every instance, so a limit only grows: the largest one asked
/// for wins, and an instance that asks for none keeps the current one.
fn register(name: &str, limit: Option<usize>) {
    if let Some(limit) = limit {
        views::register(name, views::Spec::cardinality(limit));
    }
}

impl<L: LabelSet> fmt::Debug for Builder<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("kind", &self.kind)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::testing::Harness;

    crate::label! {
        enum Route = "route" { Events = "/events", Feed = "/feed" }
    }

    const METRIC: &str = "app.connections.active";

    fn websocket(h: &Harness) -> Connections {
        Connections::builder("websocket")
            .with_meter(h.meter())
            .with_namespace("app")
            .build()
    }

    #[test]
    fn guard_counts_a_connection_until_dropped() {
        let h = Harness::new();
        let conns = websocket(&h);
        let first = conns.open(());
        let second = conns.open(());
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(2.0));
        drop(first);
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(1.0));
        second.close();
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(0.0));
    }

    #[test]
    fn guard_decrements_once_when_the_task_panics() {
        let h = Harness::new();
        let conns = websocket(&h);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _guard = conns.open(());
            assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(1.0));
            panic!("handler failed");
        }));
        assert!(result.is_err());
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(0.0));
    }

    #[test]
    fn guard_outlives_its_instrument_and_moves_across_threads() {
        let h = Harness::new();
        let conns = websocket(&h);
        let guard = conns.open(());
        drop(conns);
        std::thread::spawn(move || drop(guard))
            .join()
            .expect("thread");
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(0.0));
    }

    #[test]
    fn kinds_and_labels_are_separate_series() {
        let h = Harness::new();
        let sse: Connections<Route> = Connections::builder("sse")
            .with_meter(h.meter())
            .with_namespace("app")
            .build();
        let ws = websocket(&h);
        let _events = sse.open(Route::Events);
        let _feed = [sse.open(Route::Feed), sse.open(Route::Feed)];
        let _ws = ws.open(());
        assert_eq!(
            h.counter(METRIC, &[(KIND_KEY, "sse"), ("route", "/events")]),
            Some(1.0)
        );
        assert_eq!(
            h.counter(METRIC, &[(KIND_KEY, "sse"), ("route", "/feed")]),
            Some(2.0)
        );
        assert_eq!(h.counter(METRIC, &[(KIND_KEY, "websocket")]), Some(1.0));
    }

    #[test]
    fn empty_namespace_and_kind_are_handled() {
        let h = Harness::new();
        let conns: Connections = Connections::builder(" ")
            .with_meter(h.meter())
            .with_namespace("")
            .build();
        let _guard = conns.open(());
        assert_eq!(h.counter(NAME, &[(KIND_KEY, "unknown")]), Some(1.0));
    }
}

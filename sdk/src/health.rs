//! Periodic health probes of a changing set of targets (workers, runtimes,
//! upstreams): checks by result, consecutive failures, and a threshold past
//! which a target is declared lost.
//!
//! A control plane's worker observability did this by hand: probe each
//! worker on a timer with a timeout, count `health_checks_total{result,image}`,
//! mark a worker lost after N failures in a row and record that as a
//! lifecycle transition, and never count a probe that a shutdown interrupted
//! as a failure. A [`HealthChecker`] is that loop:
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigil::health::Error> {
//! use std::time::Duration;
//! use vigil::health::{HealthChecker, Target};
//!
//! let checker = HealthChecker::builder("worker")
//!     .with_interval(Duration::from_secs(10))
//!     .with_timeout(Duration::from_secs(2))
//!     .with_threshold(3)
//!     .with_label("image")
//!     .on_lost(|target| eprintln!("worker {} lost", target.id()))
//!     .build()
//!     .start(|target: Target| async move {
//!         // e.g. GET http://{target.id()}/healthz
//!         Ok::<(), std::io::Error>(())
//!     })?;
//! checker.add_target(Target::new("10.0.0.7:8080").with_label("duckdb:1.2"));
//! // …
//! checker.stop().await;
//! # Ok(()) }
//! ```
//!
//! With namespace `ns` and entity `worker`:
//!
//! | OTel name | unit | attributes |
//! |---|---|---|
//! | `ns.worker.health.checks` | `{check}` | `result` = `pass`, `fail`; opt-in label and `target` |
//! | `ns.worker.health.consecutive_failures` | `{failure}` | opt-in label and `target` |
//! | `ns.worker.health.status` | `1` | opt-in label and `target`; 1 healthy, 0 unhealthy |
//!
//! Target ids are free-form and unbounded (addresses, pod names), so they are
//! not attributes unless asked for ([`Builder::with_target_attribute`]). The
//! bounded way to tell targets apart is one user label
//! ([`Builder::with_label`], e.g. `image`), set per target with
//! [`Target::with_label`]. When several targets share a series, the two
//! gauges aggregate them: `consecutive_failures` is the worst target's count
//! and `status` is 1 only if every target in the series is healthy. Gauges
//! cover targets probed at least once, and disappear with their targets and
//! when the checker stops.
//!
//! A target is unhealthy from the probe that reaches the threshold until the
//! next passing probe. `on_lost` runs once per loss and `on_recovered` once
//! per recovery, on the checker's task, outside its locks: keep them short.
//!
//! Each round probes every target concurrently, each bounded by the timeout
//! (a timeout or a panicking probe is a failure), then sleeps until the next
//! interval. Targets added between rounds are first probed in the next one.
//! A probe still running when the checker stops is dropped, not counted.
//! Stop the checker (or cancel its [`Builder::with_shutdown`] token) before
//! tearing down what the probes use, so their failures are not counted.

mod shared;

use std::fmt::{self, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::labels::{Free, Label, LabelSet};
use crate::lifecycle::{Lifecycle, Outcome};

use shared::Shared;

crate::label! {
    /// How a probe ended.
    pub enum CheckResult = "result" {
        /// The probe returned `Ok` within the timeout.
        Pass = "pass",
        /// The probe returned `Err`, timed out, or panicked.
        Fail = "fail",
    }
}

/// The origin of lifecycle transitions recorded on a loss.
pub const ORIGIN: &str = "health";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_THRESHOLD: u32 = 3;
/// Shortest interval: a zero interval would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Longest interval, so that adding it to an instant cannot overflow.
const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Values expected per user label, for the cardinality limit.
const LABEL_VALUES: usize = 32;
/// Targets expected when each is an attribute, for the cardinality limit.
const TARGETS: usize = 1_000;
/// Cap on any one stream's cardinality limit.
const MAX_LIMIT: usize = 10_000;

type Callback = Arc<dyn Fn(&Target) + Send + Sync>;

// === impl Target ===

/// A target to probe: an id (unique within a checker) and an optional value
/// for the checker's user label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    id: Free,
    label: Free,
}

impl Target {
    /// A target called `id` (trimmed; empty becomes `unknown`).
    pub fn new(id: impl AsRef<str>) -> Self {
        Target {
            id: Free::new(id),
            label: Free::new(""),
        }
    }

    /// Its value for the label named by [`Builder::with_label`] (default `unknown`).
    #[must_use]
    pub fn with_label(mut self, value: impl AsRef<str>) -> Self {
        self.label = Free::new(value);
        self
    }

    /// The id.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The user label's value.
    pub fn label(&self) -> &str {
        self.label.as_str()
    }
}

/// A target's health as the checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    /// False from the failure that reached the threshold until the next pass.
    pub healthy: bool,
    /// Failed probes since the last pass.
    pub consecutive_failures: u32,
}

// === impl Error ===

/// Why a health checker could not start.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
enum ErrorKind {
    #[error("the {entity} health checker must be started inside a tokio runtime")]
    NoRuntime { entity: String },
}

// === impl Builder ===

/// Configures a [`HealthChecker`]; from [`HealthChecker::builder`].
#[must_use = "call build()"]
pub struct Builder {
    entity: String,
    interval: Duration,
    timeout: Duration,
    threshold: u32,
    label: Option<&'static str>,
    target_attribute: bool,
    targets: Vec<Target>,
    on_lost: Vec<Callback>,
    on_recovered: Option<Callback>,
    shutdown: Option<CancellationToken>,
    meter: Option<Meter>,
    namespace: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("entity", &self.entity)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("threshold", &self.threshold)
            .field("label", &self.label)
            .field("target_attribute", &self.target_attribute)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Time between the starts of two rounds of probes (default 10 s; kept
    /// between 1 ms and a year).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
        self
    }

    /// How long a probe may take before it counts as a failure (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Failures in a row that make a target unhealthy (default 3; 0 is taken as 1).
    pub fn with_threshold(mut self, threshold: u32) -> Self {
        self.threshold = threshold.max(1);
        self
    }

    /// Add one bounded attribute, `key`, whose value each target gives with
    /// [`Target::with_label`] (e.g. `"image"`).
    pub fn with_label(mut self, key: &'static str) -> Self {
        self.label = Some(key);
        self
    }

    /// Add the target id as attribute `target`. Ids are unbounded: use this
    /// only for a small, stable set of targets.
    pub fn with_target_attribute(mut self) -> Self {
        self.target_attribute = true;
        self
    }

    /// Targets to probe from the first round.
    pub fn with_targets(mut self, targets: impl IntoIterator<Item = Target>) -> Self {
        self.targets.extend(targets);
        self
    }

    /// Call `f` when a target reaches the threshold; not again until it recovers.
    pub fn on_lost(mut self, f: impl Fn(&Target) + Send + Sync + 'static) -> Self {
        self.on_lost.push(Arc::new(f));
        self
    }

    /// Call `f` when an unhealthy target passes a probe.
    pub fn on_recovered(mut self, f: impl Fn(&Target) + Send + Sync + 'static) -> Self {
        self.on_recovered = Some(Arc::new(f));
        self
    }

    /// On each loss, record a transition of `op` with outcome `failure` and
    /// origin [`ORIGIN`] in `lifecycle`, with the label set `labels` gives
    /// for the lost target (`|_| ()` for a lifecycle without labels).
    pub fn with_lifecycle<Op: Label, State: Label, L: LabelSet, C: LabelSet>(
        mut self,
        lifecycle: Lifecycle<Op, State, L, C>,
        op: Op,
        labels: impl Fn(&Target) -> L + Send + Sync + 'static,
    ) -> Self {
        self.on_lost.insert(
            0,
            Arc::new(move |t: &Target| {
                lifecycle.record(op, Outcome::Failure, ORIGIN, labels(t), None);
            }),
        );
        self
    }

    /// Stop when `token` is cancelled, as well as on [`Handle::stop`].
    pub fn with_shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
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

    /// Build the checker: its instruments and its first targets. Start
    /// probing with [`HealthChecker::start`].
    pub fn build(self) -> HealthChecker {
        let shared = Shared::new(&self);
        for target in self.targets {
            shared.add(target);
        }
        HealthChecker {
            shared,
            interval: self.interval,
            timeout: self.timeout,
            shutdown: self.shutdown,
        }
    }
}

// === impl HealthChecker ===

/// A health checker, built and not yet probing; [`HealthChecker::start`]
/// starts it and returns the [`Handle`] that stops it.
pub struct HealthChecker {
    shared: Arc<Shared>,
    interval: Duration,
    timeout: Duration,
    shutdown: Option<CancellationToken>,
}

impl fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChecker")
            .field("entity", &self.shared.entity)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HealthChecker {
    /// Start configuring a checker for targets of kind `entity` (e.g. `"worker"`).
    pub fn builder(entity: impl Into<String>) -> Builder {
        Builder {
            entity: entity.into(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            threshold: DEFAULT_THRESHOLD,
            label: None,
            target_attribute: false,
            targets: Vec::new(),
            on_lost: Vec::new(),
            on_recovered: None,
            shutdown: None,
            meter: None,
            namespace: None,
        }
    }

    /// Start probing on the current tokio runtime: a round at once, then one
    /// every interval, until the returned [`Handle`] is stopped or dropped.
    /// `probe` returns `Ok(())` for a healthy target.
    ///
    /// Fails only outside a tokio runtime.
    pub fn start<P, Fut, E>(self, probe: P) -> Result<Handle, Error>
    where
        P: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Error {
                kind: ErrorKind::NoRuntime {
                    entity: self.shared.entity.to_string(),
                },
            });
        };
        let token = self
            .shutdown
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let task = runtime.spawn(self.shared.clone().run(
            Arc::new(probe),
            self.interval,
            self.timeout,
            token.clone(),
        ));
        Ok(Handle {
            shared: self.shared,
            token,
            task: Some(task),
        })
    }
}

// === impl Handle ===

/// A running health checker. Dropping it stops the probes.
#[must_use = "dropping the handle stops the checker"]
pub struct Handle {
    shared: Arc<Shared>,
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("entity", &self.shared.entity)
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Probe `target` from the next round; `false` if its id is already probed.
    pub fn add_target(&self, target: Target) -> bool {
        self.shared.add(target)
    }

    /// Stop probing the target called `id` (a probe in flight is ignored);
    /// `false` if there was none.
    pub fn remove_target(&self, id: &str) -> bool {
        self.shared.remove(id)
    }

    /// The health of the target called `id`.
    pub fn status(&self, id: &str) -> Option<TargetHealth> {
        self.shared.status(id)
    }

    /// Stop probing: probes in flight are dropped uncounted. Returns once
    /// the loop has ended.
    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            // A JoinError means the runtime is shutting down: the loop is gone either way.
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

#[cfg(test)]
mod tests;

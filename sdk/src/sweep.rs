//! Named periodic jobs ("sweepers") on tokio: a run at start, then one every
//! interval, each counted by result, timed, and traced.
//!
//! The systems Vigil replaces each hand-rolled this loop: a garbage collector
//! for pending uploads every 5 minutes with panic recovery and counters by
//! `outcome={acked,expired,error}`, and a daemon sweep every 30 s that marks
//! stale runtimes offline, fails stuck tasks and expires queued tasks past a
//! TTL in capped batches. A [`Sweeper`] gives each of those one builder call:
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigil::sweep::Error> {
//! use std::time::Duration;
//! use vigil::sweep::{BatchCap, Items, Sweeper};
//!
//! vigil::label! {
//!     /// What happened to each pending upload.
//!     pub enum Gc = "outcome" { Acked = "acked", Expired = "expired" }
//! }
//!
//! let cap = BatchCap::new(500);
//! let handle = Sweeper::builder("pending_uploads_gc")
//!     .with_interval(Duration::from_secs(300))
//!     .with_jitter(Duration::from_secs(10))
//!     .build()
//!     .start(move || async move {
//!         let mut items = Items::new();
//!         // `DELETE … LIMIT cap.limit()` returned this many rows:
//!         let expired = 500;
//!         items.add(Gc::Expired, expired);
//!         items.record_batch(cap.after(expired));
//!         Ok::<_, std::io::Error>(items)
//!     })?;
//! // … at shutdown: waits for the run in flight.
//! handle.stop().await;
//! # Ok(()) }
//! ```
//!
//! With namespace `ns`, every instrument carries `sweeper` (the name):
//!
//! | OTel name | unit | attributes |
//! |---|---|---|
//! | `ns.sweep.runs` | `{run}` | `sweeper`, `result` = `ok`, `error`, `panic` |
//! | `ns.sweep.items` | `{item}` | `sweeper`, the outcome label (its key is the user's) |
//! | `ns.sweep.run.duration` | `s` | `sweeper` |
//! | `ns.sweep.last_success` | `s` | `sweeper`; Unix time of the last `ok` run's end |
//! | `ns.sweep.backlog` | `{item}` | `sweeper`; items left after the last run, when known |
//! | `ns.sweep.capped` | `{run}` | `sweeper`; runs that stopped at their batch cap with more left |
//!
//! Counters and the duration histogram are bound when the sweeper is built,
//! so every `result` and outcome series exists (at 0) from the start and a
//! run records without building attributes.
//!
//! A panic inside a run is caught, counted as `result="panic"`, and the loop
//! goes on. Stopping ([`Handle::stop`]) never interrupts a run: the loop stops
//! waiting, the run in flight finishes and is recorded, and only a stop
//! timeout ([`Builder::with_stop_timeout`]) drops it. Runs are never
//! concurrent; a run longer than the interval is followed at once by the next.
//!
//! This module does not retry failed runs (the next tick is the retry), does
//! not hand the job a cancellation token (capture your own, or pass one with
//! [`Builder::with_shutdown`] and clone it into the job), and does not
//! coordinate sweepers across processes (use a lease for leader-only sweeps).

mod handle;
mod items;
mod schedule;
mod unwind;

use std::fmt::{self, Display};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Gauge, Meter};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::labels::Label;
use crate::views::{self, SECONDS_BOUNDARIES, Spec};

pub use handle::{Handle, Stopped};
pub use items::{Batch, BatchCap, Items};
pub(crate) use unwind::catch_unwind;

use schedule::Schedule;

crate::label! {
    /// How a run ended.
    pub enum RunResult = "result" {
        /// The job returned `Ok`.
        Ok = "ok",
        /// The job returned `Err`.
        Error = "error",
        /// The job panicked; the panic was caught.
        Panic = "panic",
    }
}

/// Default time between the starts of two runs.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest interval: a zero interval would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Longest interval or jitter, so that adding them to an instant cannot overflow.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Sweepers per process whose series are kept apart before the SDK's
/// overflow series takes over (sizes every stream's cardinality limit).
const SWEEPERS: usize = 64;
/// Outcomes per sweeper assumed when sizing the items stream, since
/// sweepers with different outcome types share it.
const OUTCOMES: usize = 16;
/// Cap on any one stream's cardinality limit.
const MAX_LIMIT: usize = 10_000;

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

// === impl Error ===

/// Why a sweeper could not start.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
enum ErrorKind {
    #[error("sweeper {name:?} must be started inside a tokio runtime")]
    NoRuntime { name: String },
}

// === impl Builder ===

/// Configures a [`Sweeper`]; from [`Sweeper::builder`].
#[must_use = "call build()"]
pub struct Builder<O> {
    name: String,
    interval: Duration,
    jitter: Duration,
    stop_timeout: Option<Duration>,
    shutdown: Option<CancellationToken>,
    meter: Option<Meter>,
    namespace: Option<String>,
    clock: Option<Clock>,
    _outcome: PhantomData<fn() -> O>,
}

impl<O> fmt::Debug for Builder<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("jitter", &self.jitter)
            .field("stop_timeout", &self.stop_timeout)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<O: Label> Builder<O> {
    /// Time between the starts of two runs (default 60 s; kept between 1 ms and a year).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(MIN_INTERVAL, MAX_DELAY);
        self
    }

    /// Add a random delay in `[0, jitter]` to each interval, so replicas
    /// started together do not sweep in lockstep (default none; at most a year).
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter.min(MAX_DELAY);
        self
    }

    /// Bound how long [`Handle::stop`] waits for the run in flight; past it,
    /// the run is dropped and not recorded (default: wait for it).
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }

    /// Stop when `token` is cancelled, as well as on [`Handle::stop`]; the
    /// run in flight still finishes.
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

    /// The wall clock behind `last_success` (default [`SystemTime::now`]).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Build the instruments. Start the loop with [`Sweeper::start`], or
    /// drive runs with [`Sweeper::run_once`] from a loop of your own.
    pub fn build(self) -> Sweeper<O> {
        Sweeper::new(self)
    }
}

// === impl Sweeper ===

/// A named sweeper: its instruments and schedule; [`Sweeper::start`] runs
/// it in a loop. Cheap to clone.
pub struct Sweeper<O: Label> {
    inner: Arc<Inner>,
    _outcome: PhantomData<fn(O)>,
}

impl<O: Label> Clone for Sweeper<O> {
    fn clone(&self) -> Self {
        Sweeper {
            inner: self.inner.clone(),
            _outcome: PhantomData,
        }
    }
}

impl<O: Label> fmt::Debug for Sweeper<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sweeper")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: Arc<str>,
    /// One per [`RunResult`], by index.
    runs: Box<[BoundCounter<u64>]>,
    /// One per outcome, by index.
    items: Box<[BoundCounter<u64>]>,
    duration: BoundHistogram<f64>,
    capped: BoundCounter<u64>,
    last_success: Gauge<f64>,
    backlog: Gauge<u64>,
    attrs: [KeyValue; 1],
    clock: Clock,
    interval: Duration,
    jitter: Duration,
    stop_timeout: Option<Duration>,
    shutdown: Option<CancellationToken>,
}

impl<O: Label> Sweeper<O> {
    /// Start configuring the sweeper called `name` (its `sweeper` attribute).
    pub fn builder(name: impl Into<String>) -> Builder<O> {
        Builder {
            name: name.into(),
            interval: DEFAULT_INTERVAL,
            jitter: Duration::ZERO,
            stop_timeout: None,
            shutdown: None,
            meter: None,
            namespace: None,
            clock: None,
            _outcome: PhantomData,
        }
    }

    fn new(b: Builder<O>) -> Self {
        let meter = b.meter.unwrap_or_else(crate::init::meter);
        let ns = b
            .namespace
            .or_else(|| crate::init::namespace().map(str::to_string));
        let name = |suffix: &str| match &ns {
            Some(ns) if !ns.is_empty() => format!("{ns}.sweep.{suffix}"),
            _ => format!("sweep.{suffix}"),
        };
        // Sweepers with other outcome types share these streams; the
        // registry keeps the largest limit asked for.
        let register = |name: &str, limit: usize| {
            views::register(name, Spec::cardinality(limit.min(MAX_LIMIT)));
        };
        let sweeper = KeyValue::new("sweeper", b.name.clone());
        let with = |kv: KeyValue| [sweeper.clone(), kv];

        let runs_name = name("runs");
        register(&runs_name, SWEEPERS * RunResult::VALUES.len());
        let runs = meter
            .u64_counter(runs_name)
            .with_unit("{run}")
            .with_description("Sweeper runs, by result.")
            .build();
        let items_name = name("items");
        register(&items_name, SWEEPERS * O::VALUES.len().max(OUTCOMES));
        let items = meter
            .u64_counter(items_name)
            .with_unit("{item}")
            .with_description("Items handled by sweeper runs, by outcome.")
            .build();
        let duration_name = name("run.duration");
        register(&duration_name, SWEEPERS);
        let duration = meter
            .f64_histogram(duration_name)
            .with_unit("s")
            .with_boundaries(SECONDS_BOUNDARIES.to_vec())
            .with_description("How long sweeper runs take.")
            .build();
        let last_name = name("last_success");
        register(&last_name, SWEEPERS);
        let last_success = meter
            .f64_gauge(last_name)
            .with_unit("s")
            .with_description("Unix time at which the sweeper's last successful run ended.")
            .build();
        let backlog_name = name("backlog");
        register(&backlog_name, SWEEPERS);
        let backlog = meter
            .u64_gauge(backlog_name)
            .with_unit("{item}")
            .with_description("Items a capped sweeper left for later runs.")
            .build();
        let capped_name = name("capped");
        register(&capped_name, SWEEPERS);
        let capped = meter
            .u64_counter(capped_name)
            .with_unit("{run}")
            .with_description("Sweeper runs that stopped at their batch cap with items left.")
            .build();

        let inner = Inner {
            runs: RunResult::VALUES
                .iter()
                .map(|r| runs.bind(&with(KeyValue::new(RunResult::KEY, r.as_str()))))
                .collect(),
            items: O::VALUES
                .iter()
                .map(|o| items.bind(&with(KeyValue::new(O::KEY, o.as_str()))))
                .collect(),
            duration: duration.bind(std::slice::from_ref(&sweeper)),
            capped: capped.bind(std::slice::from_ref(&sweeper)),
            last_success,
            backlog,
            clock: b.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
            name: b.name.into(),
            attrs: [sweeper],
            interval: b.interval,
            jitter: b.jitter,
            stop_timeout: b.stop_timeout,
            shutdown: b.shutdown,
        };
        Sweeper {
            inner: Arc::new(inner),
            _outcome: PhantomData,
        }
    }

    /// The sweeper's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Start the loop on the current tokio runtime: `job` runs at once, then
    /// every interval, until the returned [`Handle`] is stopped or dropped.
    /// Each call starts its own loop: start a sweeper once.
    ///
    /// Fails only outside a tokio runtime.
    pub fn start<F, Fut, E>(self, job: F) -> Result<Handle, Error>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Items<O>, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Error {
                kind: ErrorKind::NoRuntime {
                    name: self.inner.name.to_string(),
                },
            });
        };
        let inner = &self.inner;
        let token = inner
            .shutdown
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let schedule = Schedule::new(&inner.name, inner.interval, inner.jitter);
        let stop_timeout = inner.stop_timeout;
        let trigger = Arc::new(Notify::new());
        let task = runtime.spawn(self.run_loop(job, schedule, token.clone(), trigger.clone()));
        Ok(Handle::new(token, task, trigger, stop_timeout))
    }

    /// Run one sweep: await `run` inside a `sweep` span, catch a panic, and
    /// record the result, the items, the duration and (on `Ok`) the time.
    pub async fn run_once<Fut, E>(&self, run: Fut) -> RunResult
    where
        Fut: Future<Output = Result<Items<O>, E>>,
        E: Display,
    {
        let span = tracing::info_span!(
            "sweep",
            sweeper = %self.inner.name,
            result = tracing::field::Empty,
            items = tracing::field::Empty,
        );
        let started = Instant::now();
        let outcome = catch_unwind(run).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let result = match outcome {
            Ok(Ok(items)) => {
                self.record_items(&items);
                span.record("items", items.total());
                RunResult::Ok
            }
            Ok(Err(error)) => {
                tracing::warn!(parent: &span, %error, "sweep run failed");
                RunResult::Error
            }
            Err(panic) => {
                tracing::error!(parent: &span, panic = %panic, "sweep run panicked");
                RunResult::Panic
            }
        };
        span.record("result", result.as_str());
        let inner = &self.inner;
        if let Some(c) = inner.runs.get(result.index()) {
            c.add(1);
        }
        inner.duration.record(elapsed.as_secs_f64());
        if result == RunResult::Ok {
            let now = (inner.clock)()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            inner.last_success.record(now, &inner.attrs);
        }
        result
    }

    fn record_items(&self, items: &Items<O>) {
        for (counter, n) in self.inner.items.iter().zip(&items.counts) {
            if *n > 0 {
                counter.add(*n);
            }
        }
        if let Some(backlog) = items.backlog {
            self.inner.backlog.record(backlog, &self.inner.attrs);
        }
        if items.capped {
            self.inner.capped.add(1);
        }
    }

    async fn run_loop<F, Fut, E>(
        self,
        mut job: F,
        mut schedule: Schedule,
        token: CancellationToken,
        trigger: Arc<Notify>,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Items<O>, E>>,
        E: Display,
    {
        while !token.is_cancelled() {
            let started = Instant::now();
            // `job()` is called inside the future so a panic while creating it is caught too.
            self.run_once(async { job().await }).await;
            let next = started + schedule.next_delay();
            tokio::select! {
                biased;
                () = token.cancelled() => break,
                () = trigger.notified() => {}
                () = tokio::time::sleep_until(next) => {}
            }
        }
        tracing::debug!(sweeper = %self.inner.name, "sweeper stopped");
    }
}

#[cfg(test)]
mod tests;

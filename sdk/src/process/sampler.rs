//! The sampler task and its handle: samples on an interval, publishes a
//! [`Snapshot`], and registers the observable instruments that report it.
//!
//! Why a task and not work in the callbacks: observable callbacks run on the
//! metric reader's thread under its lock, and a `/proc` read can block
//! (reading `stat` or `status` of a process takes that process's memory-map
//! lock, so it waits while the process is in a large `mmap`/page-fault
//! storm). The task does the reads on tokio's blocking pool
//! (`spawn_blocking`), never on an async worker thread: the reads are
//! usually microseconds, but a supervisor with hundreds of workers reads
//! hundreds of files per sample, and one stalled read must not stall the
//! runtime. A spawned blocking call every few seconds costs nothing worth
//! saving. Callbacks only clone an `Arc` out of a mutex held for a pointer
//! swap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Key;
use opentelemetry::metrics::Meter;
use tokio::sync::oneshot;

use super::instruments::{Instruments, Shared};
use super::snapshot::{Snapshot, State};
use super::workers::Workers;

/// Default [`Builder::with_interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Default [`Builder::with_max_workers`].
pub const DEFAULT_MAX_WORKERS: usize = 256;

/// Default [`Builder::with_worker_attribute`].
pub const DEFAULT_WORKER_ATTRIBUTE: &str = "worker";

/// Configures a [`Sampler`]; see [`Sampler::builder`].
#[derive(Debug)]
#[must_use = "call build()"]
pub struct Builder {
    meter: Option<Meter>,
    namespace: Option<String>,
    interval: Duration,
    workers: Option<Workers>,
    max_workers: usize,
    worker_key: Key,
    worker_pid: bool,
    runtime_metrics: bool,
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            meter: None,
            namespace: None,
            interval: DEFAULT_INTERVAL,
            workers: None,
            max_workers: DEFAULT_MAX_WORKERS,
            worker_key: Key::from_static_str(DEFAULT_WORKER_ATTRIBUTE),
            worker_pid: false,
            runtime_metrics: true,
            runtime: None,
        }
    }
}

impl Builder {
    /// The meter to create the instruments from (default
    /// [`crate::init::meter`]).
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The metric-name prefix (default [`crate::init::namespace`]): `myapp`
    /// gives `myapp.process.cpu.time`. An empty namespace gives the
    /// semantic-convention names unprefixed. Checked by the OpenTelemetry
    /// SDK only: an invalid one yields no-op instruments.
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// Time between samples (default 5 s); zero is ignored.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        if !interval.is_zero() {
            self.interval = interval;
        }
        self
    }

    /// The worker registry to sample besides this process.
    pub fn with_workers(mut self, workers: Workers) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The most workers with their own series (default 256): each instrument's
    /// cardinality limit is sized for this many plus this process. Workers
    /// beyond it are still in [`Handle::snapshot`], but their series share
    /// the `otel.metric.overflow` series.
    pub fn with_max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = max_workers;
        self
    }

    /// The attribute key carrying the worker name on worker series (default
    /// `worker`). An empty key is ignored.
    pub fn with_worker_attribute(mut self, key: impl Into<Key>) -> Self {
        let key = key.into();
        if !key.as_str().is_empty() {
            self.worker_key = key;
        }
        self
    }

    /// Whether worker series also carry `process.pid` (default `false`).
    ///
    /// Off by default because pids are unbounded: every restarted worker
    /// would start new series and the old ones would linger in backends.
    /// Turn it on only when worker names are not unique among running
    /// workers.
    pub fn with_worker_pid(mut self, on: bool) -> Self {
        self.worker_pid = on;
        self
    }

    /// Whether to report the tokio runtime's figures (default `true`).
    pub fn with_runtime_metrics(mut self, on: bool) -> Self {
        self.runtime_metrics = on;
        self
    }

    /// The runtime to spawn the sampler on and to report (default: the
    /// current one). Lets [`Sampler::start`] be called outside a runtime.
    pub fn with_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The configured sampler; [`Sampler::start`] starts it.
    pub fn build(self) -> Sampler {
        Sampler { config: self }
    }
}

/// A configured process sampler, not yet sampling; [`Sampler::start`]
/// starts it and returns the [`Handle`] that reads and stops it.
#[derive(Debug)]
#[must_use = "call start() to begin sampling"]
pub struct Sampler {
    config: Builder,
}

impl Sampler {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Registers the instruments and spawns the sampling task. The first
    /// sample is taken at once; CPU utilization needs a second one, one
    /// interval later.
    ///
    /// Fails outside a tokio runtime unless [`Builder::with_runtime`] gave
    /// one. Start one sampler per meter provider: the OpenTelemetry API has no
    /// way to unregister callbacks, so a stopped sampler's callbacks stay
    /// (reporting nothing) until the provider is dropped.
    pub fn start(self) -> Result<Handle, Error> {
        let config = self.config;
        config.spawn()
    }
}

impl Builder {
    fn spawn(self) -> Result<Handle, Error> {
        let runtime = match self.runtime.clone() {
            Some(handle) => handle,
            None => tokio::runtime::Handle::try_current().map_err(|source| Error { source })?,
        };
        let shared = Arc::new(Shared::default());
        Instruments {
            meter: self.meter.clone().unwrap_or_else(crate::init::meter),
            namespace: match &self.namespace {
                Some(ns) => Some(ns.clone()),
                None => crate::init::namespace().map(str::to_string),
            }
            .filter(|ns| !ns.is_empty()),
            max_workers: self.max_workers,
            worker_key: self.worker_key.clone(),
            worker_pid: self.worker_pid,
            workers: self.workers.is_some(),
            runtime: self.runtime_metrics,
        }
        .register(&shared);
        let state = Arc::new(Mutex::new(State::new(
            std::process::id(),
            self.workers.clone(),
            self.runtime_metrics.then(|| runtime.clone()),
        )));
        let (stop, stopped) = oneshot::channel();
        runtime.spawn(run(state.clone(), shared.clone(), self.interval, stopped));
        Ok(Handle {
            shared,
            state,
            workers: self.workers,
            runtime,
            _stop: stop,
        })
    }
}

/// A running sampler; dropping it (or [`Handle::stop`]) stops the task and
/// the instruments stop reporting.
#[derive(Debug)]
#[must_use = "dropping the handle stops the sampler"]
pub struct Handle {
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
    workers: Option<Workers>,
    runtime: tokio::runtime::Handle,
    /// Dropping the sender wakes the task, which then exits.
    _stop: oneshot::Sender<()>,
}

impl Handle {
    /// The latest sample (empty before the first one and after a stop).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.load()
    }

    /// The worker registry given to [`Builder::with_workers`].
    pub fn workers(&self) -> Option<&Workers> {
        self.workers.as_ref()
    }

    /// Takes a sample now, publishes it and returns it, without waiting for
    /// the interval (for a dashboard refresh, or a test). CPU utilization
    /// covers the time since the previous sample, however short.
    pub async fn refresh(&self) -> Arc<Snapshot> {
        if let Some(snapshot) = sample_once(&self.runtime, &self.state).await {
            self.shared.publish(snapshot);
        }
        self.shared.load()
    }

    /// Stops sampling; the instruments report nothing from the next
    /// collection on.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// Samples every `interval` until `stop` resolves (its sender is dropped).
async fn run(
    state: Arc<Mutex<State>>,
    shared: Arc<Shared>,
    interval: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Handle::current();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match sample_once(&runtime, &state).await {
            Some(snapshot) => shared.publish(snapshot),
            // The runtime is shutting down.
            None => return,
        }
    }
}

/// One sample on the blocking pool; `None` if the runtime is shutting down.
async fn sample_once(
    runtime: &tokio::runtime::Handle,
    state: &Arc<Mutex<State>>,
) -> Option<Snapshot> {
    let state = state.clone();
    let task = runtime.spawn_blocking(move || {
        // `sample` does not panic; if it ever did, the baselines are still
        // usable, so a poisoned lock is taken as is.
        state.lock().unwrap_or_else(|e| e.into_inner()).sample()
    });
    match task.await {
        Ok(snapshot) => Some(snapshot),
        Err(error) if error.is_panic() => {
            tracing::error!(target: "vigil::process", %error, "process sample panicked");
            Some(Snapshot::default())
        }
        Err(_) => None,
    }
}

/// Why a [`Sampler`] did not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "the process sampler needs a tokio runtime: start it from async code or pass Builder::with_runtime"
)]
pub struct Error {
    #[source]
    source: tokio::runtime::TryCurrentError,
}

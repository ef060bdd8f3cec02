//! [`Guard`]: keeps the pipelines alive, flushes them with a deadline, and
//! says what could not be sent.
//!
//! The SDK's flush and shutdown calls block, and `SdkMeterProvider` ignores
//! the timeout it is given (its reader waits 5 s, or forever for a flush).
//! The guard therefore runs each provider's call on its own short-lived
//! thread and waits for the answers until one deadline: a slow or stuck
//! exporter costs the caller at most that deadline, and the threads are left
//! to finish on their own. Because the calling thread only waits on a
//! channel, and the exporters never need the caller's runtime (see
//! `export.rs`), a blocking shutdown is safe on any tokio runtime, including
//! a current-thread one.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Meter, MeterProvider as _, NoopMeterProvider};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;

use super::InitError;
use super::error::Failure;
use super::report::{ExportLog, describe};

/// Keeps Vigil's telemetry pipelines running; flushes and shuts them down.
///
/// Hold it for the life of the program (`let _guard = vigil::init()?;` in
/// `main`). Dropping it, or calling [`shutdown`](Guard::shutdown), exports
/// what is still buffered within the shutdown deadline (5 s unless
/// [`Builder::with_shutdown_timeout`](super::Builder::with_shutdown_timeout)
/// says otherwise); `drop` logs what could not be sent, `shutdown` returns it.
/// Instruments keep working after shutdown but record nothing.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Guard {
    active: Option<Active>,
    timeout: Duration,
    warnings: Vec<String>,
}

/// The running pipelines; `None` in the guard when disabled or shut down.
pub(crate) struct Active {
    pub(crate) meter_provider: SdkMeterProvider,
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) metrics_log: Arc<ExportLog>,
    pub(crate) traces_log: Arc<ExportLog>,
    /// Drives the gRPC exporters; stopped after the providers.
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

#[derive(Clone, Copy)]
enum Operation {
    Flush,
    Shutdown,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Flush => "flush",
            Operation::Shutdown => "shutdown",
        }
    }
}

// === impl Guard ===

impl Guard {
    pub(crate) fn new(active: Option<Active>, timeout: Duration, warnings: Vec<String>) -> Self {
        Guard {
            active,
            timeout,
            warnings,
        }
    }

    /// Whether `OTEL_SDK_DISABLED=true` (or
    /// [`Builder::with_disabled`](super::Builder::with_disabled)) made every
    /// instrument a no-op.
    pub fn is_disabled(&self) -> bool {
        self.active.is_none()
    }

    /// Configuration problems `build()` tolerated, as the specification asks
    /// (an unparsable number, an unknown protocol, a malformed
    /// `OTEL_RESOURCE_ATTRIBUTES`...). They were also logged as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A meter bound to this guard's own provider, with the same scope as
    /// [`crate::init::meter`].
    ///
    /// Vigil's instruments use the global provider; this is for code that
    /// must not depend on process-wide state, such as tests running in
    /// parallel. A no-op meter when disabled.
    pub fn meter(&self) -> Meter {
        match &self.active {
            Some(active) => active.meter_provider.meter_with_scope(super::scope()),
            None => NoopMeterProvider::new().meter_with_scope(super::scope()),
        }
    }

    /// A `tracing` layer exporting spans through this guard's tracer
    /// provider, to add to the application's own subscriber (Vigil installs
    /// one only with [`with_tracing(true)`](super::Builder::with_tracing)).
    /// `None` when disabled.
    pub fn tracing_layer<S>(&self) -> Option<OpenTelemetryLayer<S, SdkTracer>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let active = self.active.as_ref()?;
        let tracer = active.tracer_provider.tracer_with_scope(super::scope());
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    /// Exports everything buffered now, waiting at most the shutdown timeout.
    ///
    /// Blocks the calling thread (safe inside any tokio runtime, but it does
    /// stall a current-thread runtime for the duration).
    pub fn force_flush(&self) -> Result<(), InitError> {
        match &self.active {
            Some(active) => active.run(Operation::Flush, self.timeout),
            None => Ok(()),
        }
    }

    /// Flushes and stops the pipelines, waiting at most the shutdown timeout,
    /// and reports per signal what could not be sent.
    ///
    /// Blocks the calling thread like [`force_flush`](Guard::force_flush); in
    /// async code prefer [`shutdown_async`](Guard::shutdown_async).
    pub fn shutdown(mut self) -> Result<(), InitError> {
        match self.active.take() {
            Some(active) => active.shut_down(self.timeout),
            None => Ok(()),
        }
    }

    /// [`shutdown`](Guard::shutdown) without blocking the executor: the work
    /// runs on a separate thread and this future waits for its answer. Works
    /// on any executor, not only tokio.
    pub async fn shutdown_async(mut self) -> Result<(), InitError> {
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        let timeout = self.timeout;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("vigil-shutdown".into())
            .spawn(move || {
                let _ = tx.send(active.shut_down(timeout));
            });
        match spawned {
            Ok(_) => rx.await.unwrap_or_else(|_| {
                Err(InitError::incomplete(
                    Operation::Shutdown.name(),
                    vec![Failure {
                        signal: "all",
                        reason: "the shutdown thread panicked".into(),
                    }],
                ))
            }),
            Err(error) => Err(InitError::incomplete(
                Operation::Shutdown.name(),
                vec![Failure {
                    signal: "all",
                    reason: format!("could not start the shutdown thread: {error}"),
                }],
            )),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        if let Err(error) = active.shut_down(self.timeout) {
            tracing::error!(target: "vigil::init", "telemetry {error}");
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("disabled", &self.is_disabled())
            .field("timeout", &self.timeout)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

// === impl Active ===

type Task = Box<dyn FnOnce() -> OTelSdkResult + Send>;

impl Active {
    /// Shuts the providers down, then (on drop) the exporters' runtime.
    fn shut_down(self, timeout: Duration) -> Result<(), InitError> {
        self.run(Operation::Shutdown, timeout)
    }

    fn run(&self, operation: Operation, timeout: Duration) -> Result<(), InitError> {
        let meter_provider = self.meter_provider.clone();
        let tracer_provider = self.tracer_provider.clone();
        let tasks: Vec<(&'static str, Task)> = match operation {
            Operation::Flush => vec![
                ("metrics", Box::new(move || meter_provider.force_flush())),
                ("traces", Box::new(move || tracer_provider.force_flush())),
            ],
            Operation::Shutdown => vec![
                ("metrics", Box::new(move || meter_provider.shutdown())),
                (
                    "traces",
                    Box::new(move || tracer_provider.shutdown_with_timeout(timeout)),
                ),
            ],
        };

        let mut failures = Vec::new();
        for (signal, outcome) in run_with_deadline(tasks, timeout) {
            let (log, unit) = match signal {
                "metrics" => (&self.metrics_log, "data points"),
                _ => (&self.traces_log, "spans"),
            };
            let detail = log.summary(unit);
            match outcome {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    // The SDK's own error is generic ("Failed to shutdown")
                    // when an export failed; the log says what and why.
                    let reason = match detail {
                        Some(detail) if log.last_failed() => detail,
                        Some(detail) => format!("{}; {detail}", describe(&error)),
                        None => describe(&error),
                    };
                    failures.push(Failure { signal, reason });
                }
                None => failures.push(Failure::timed_out(signal, timeout, detail)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(InitError::incomplete(operation.name(), failures))
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        // Not a plain drop: dropping a runtime inside an async context panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs each task on its own thread and collects the results that arrive
/// before `timeout`; `None` marks a task still running at the deadline.
fn run_with_deadline(
    tasks: Vec<(&'static str, Task)>,
    timeout: Duration,
) -> Vec<(&'static str, Option<OTelSdkResult>)> {
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    let mut results: Vec<(&'static str, Option<OTelSdkResult>)> = Vec::new();
    for (index, (name, task)) in tasks.into_iter().enumerate() {
        results.push((name, None));
        let tx = tx.clone();
        // The closure is moved into the thread; if spawning fails it is gone,
        // so the failure is reported instead of run inline.
        let spawned = std::thread::Builder::new()
            .name(format!("vigil-{name}-flush"))
            .spawn(move || {
                let _ = tx.send((index, task()));
            });
        if let Err(error) = spawned {
            results[index].1 = Some(Err(OTelSdkError::InternalFailure(format!(
                "could not start a thread: {error}"
            ))));
        }
    }
    drop(tx);
    while results.iter().any(|(_, r)| r.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, result)) => results[index].1 = Some(result),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Every thread has ended: the silent ones panicked.
                for (_, result) in results.iter_mut().filter(|(_, r)| r.is_none()) {
                    *result = Some(Err(OTelSdkError::InternalFailure(
                        "the thread panicked".into(),
                    )));
                }
            }
        }
    }
    results
}

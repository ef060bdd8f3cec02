//! What happens when an export fails: the exporter wrappers that log it
//! while the application runs, count it in the SDK's own metrics, and
//! remember it so a shutdown can say more than the SDK's "Failed to shutdown".
//!
//! The SDK's readers and processors report export errors only through
//! `opentelemetry`'s internal logging (off in Vigil's build) and return a
//! generic error, so a dead collector went unnoticed until shutdown.
//! [`Recorded`] sits between the SDK and the OTLP exporter, forwards every
//! call unchanged, and hands each export's outcome to a [`Reporter`], which
//!
//! - logs failures as `tracing` warnings (target `vigil::export`) naming the
//!   signal, the endpoint and the reason, rate-limited per cause by
//!   [`Limiter`] (the first at once, then at most one a minute per cause with
//!   the number left out), and logs once at info when exports work again;
//! - counts them in `otel.sdk.exporter.*` ([`selfmetrics`](super::selfmetrics));
//! - keeps totals and the last error in an [`ExportLog`] for the guard.
//!
//! Logging needs no global subscriber: events go to the subscriber that was
//! the default on the thread that called `build()` (a global one, or a
//! scoped one such as a test's `set_default`), because exports run on the
//! SDK's own threads, where only a global subscriber would otherwise be seen.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::env::{Endpoint, Signal};
use super::limiter::{Limiter, Verdict};
use super::selfmetrics::{self, Instruments};

/// How often one cause of failure is logged at most.
const WARN_WINDOW: Duration = Duration::from_secs(60);
/// Causes remembered by the limiter; `error.type` values are few.
const WARN_CAUSES: usize = 32;

/// Export outcomes of one signal, shared between the exporter and the guard.
#[derive(Debug, Default)]
pub(crate) struct ExportLog {
    failed_exports: AtomicU64,
    lost_items: AtomicU64,
    last_failed: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl ExportLog {
    /// Records an export of `items`: a success, or a failure for `reason`.
    fn record_reason(&self, items: u64, reason: Option<String>) {
        match reason {
            None => self.last_failed.store(false, Ordering::Relaxed),
            Some(reason) => {
                self.failed_exports.fetch_add(1, Ordering::Relaxed);
                self.lost_items.fetch_add(items, Ordering::Relaxed);
                self.last_failed.store(true, Ordering::Relaxed);
                let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                *last = Some(reason);
            }
        }
    }

    /// Whether the most recent export failed.
    pub(crate) fn last_failed(&self) -> bool {
        self.last_failed.load(Ordering::Relaxed)
    }

    /// `None` when every export so far succeeded; otherwise how many exports
    /// failed, how many `unit`s they carried and the last error.
    pub(crate) fn summary(&self, unit: &str) -> Option<String> {
        let failed = self.failed_exports.load(Ordering::Relaxed);
        if failed == 0 {
            return None;
        }
        let lost = self.lost_items.load(Ordering::Relaxed);
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let status = if self.last_failed.load(Ordering::Relaxed) {
            "the last export failed"
        } else {
            "the last export succeeded"
        };
        Some(format!(
            "{failed} export(s) failed carrying {lost} {unit} ({status}); last error: {}",
            last.unwrap_or_default()
        ))
    }
}

/// The last transport-level error of an OTLP/HTTP client, which
/// `opentelemetry-otlp` reduces to "network error".
pub(crate) type TransportError = Arc<Mutex<Option<String>>>;

/// Observes one exporter's outcomes: logs, counts, remembers.
pub(crate) struct Reporter {
    signal: Signal,
    component_type: &'static str,
    endpoint: Endpoint,
    log: Arc<ExportLog>,
    limiter: Mutex<Limiter<String>>,
    /// Failed exports since the last success.
    failing: AtomicU64,
    clock: fn() -> Instant,
    dispatch: Option<tracing::Dispatch>,
    instruments: OnceLock<Instruments>,
    transport_error: Option<TransportError>,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("signal", &self.signal)
            .field("endpoint", &self.endpoint.url)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter for the exporter of `signal` to `endpoint`, whose outcomes
    /// also go to `log`.
    pub(crate) fn new(
        signal: Signal,
        component_type: &'static str,
        endpoint: Endpoint,
        log: Arc<ExportLog>,
        transport_error: Option<TransportError>,
    ) -> Self {
        // The subscriber current on this (the building) thread; `None` when
        // there is none yet, so that a global one installed later is used.
        let dispatch = tracing::dispatcher::get_default(|d| {
            (!d.is::<tracing::subscriber::NoSubscriber>()).then(|| d.clone())
        });
        Reporter {
            signal,
            component_type,
            endpoint,
            log,
            limiter: Mutex::new(Limiter::new(WARN_WINDOW, WARN_CAUSES)),
            failing: AtomicU64::new(0),
            clock: Instant::now,
            dispatch,
            instruments: OnceLock::new(),
            transport_error,
        }
    }

    /// The same reporter reading time from `clock`.
    #[cfg(test)]
    fn with_clock(mut self, clock: fn() -> Instant) -> Self {
        self.clock = clock;
        self
    }

    /// Creates the self-metrics instruments from the provider, once it exists.
    pub(crate) fn attach(&self, provider: &SdkMeterProvider) {
        let _ = self.instruments.get_or_init(|| {
            Instruments::new(
                provider,
                self.signal,
                self.component_type,
                &self.endpoint.url,
            )
        });
    }

    fn unit(&self) -> &'static str {
        match self.signal {
            Signal::Metrics => "data points",
            Signal::Traces => "spans",
        }
    }

    /// Handles one finished export of `items` items.
    fn record(&self, items: u64, elapsed: Duration, result: &OTelSdkResult) {
        let error_type = result.as_ref().err().map(selfmetrics::error_type);
        if let Some(instruments) = self.instruments.get() {
            instruments.record(items, elapsed, error_type.as_deref());
        }
        match (result, error_type) {
            (Err(error), Some(error_type)) => {
                let reason = self.reason(error, &error_type);
                self.log.record_reason(items, Some(reason.clone()));
                self.failing.fetch_add(1, Ordering::Relaxed);
                self.warn(items, &reason, &error_type);
            }
            _ => {
                self.log.record_reason(items, None);
                let failed = self.failing.swap(0, Ordering::Relaxed);
                if failed > 0 {
                    self.recovered(failed);
                }
            }
        }
    }

    fn check(&self, cause: String) -> Verdict {
        let now = (self.clock)();
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(cause, now)
    }

    /// Why an export failed, with the transport's own error where
    /// `opentelemetry-otlp` reduced it to "network error".
    fn reason(&self, error: &OTelSdkError, error_type: &str) -> String {
        let reason = describe(error);
        let detail = (error_type == "network")
            .then(|| {
                self.transport_error
                    .as_ref()
                    .and_then(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).clone())
            })
            .flatten();
        match detail {
            Some(detail) => format!("{reason}: {detail}"),
            None => reason,
        }
    }

    fn warn(&self, items: u64, reason: &str, error_type: &str) {
        let Verdict::Log { suppressed } = self.check(format!("failed {error_type}")) else {
            return;
        };
        let mut message = format!(
            "exporting {} to {} failed: {reason}; {items} {} dropped",
            self.signal.name(),
            self.endpoint.url,
            self.unit(),
        );
        if suppressed > 0 {
            message.push_str(&format!(
                "; {suppressed} more failure(s) like this since the last warning were not logged"
            ));
        } else {
            message.push_str(&format!(
                " (failures like this are logged at most once every {}s)",
                WARN_WINDOW.as_secs()
            ));
        }
        if self.endpoint.implicit_tls
            && let Some(written) = self.endpoint.as_written()
        {
            message.push_str(&format!(
                "; {written} has no scheme, so TLS is used: write http://{} if the collector \
                 is plaintext",
                self.endpoint.written
            ));
        }
        let signal = self.signal.name();
        let endpoint = self.endpoint.url.as_str();
        self.emit(|| {
            tracing::warn!(
                target: "vigil::export",
                signal,
                endpoint,
                error.type = error_type,
                suppressed,
                "{message}"
            );
        });
    }

    fn recovered(&self, failed: u64) {
        if self.check("recovered".to_string()) == Verdict::Suppress {
            return;
        }
        let signal = self.signal.name();
        let endpoint = self.endpoint.url.as_str();
        self.emit(|| {
            tracing::info!(
                target: "vigil::export",
                signal,
                endpoint,
                "exporting {signal} to {endpoint} works again after {failed} failed export(s)"
            );
        });
    }

    fn emit(&self, event: impl FnOnce()) {
        match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, event),
            None => event(),
        }
    }
}

/// An exporter whose outcomes go to a [`Reporter`].
pub(crate) struct Recorded<E> {
    inner: E,
    reporter: Arc<Reporter>,
}

impl<E> Recorded<E> {
    pub(crate) fn new(inner: E, reporter: Arc<Reporter>) -> Self {
        Recorded { inner, reporter }
    }
}

impl<E> fmt::Debug for Recorded<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Recorded<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let started = Instant::now();
        let result = self.inner.export(metrics).await;
        self.reporter
            .record(data_points(metrics), started.elapsed(), &result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: SpanExporter> SpanExporter for Recorded<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let started = Instant::now();
        let result = self.inner.export(batch).await;
        self.reporter.record(spans, started.elapsed(), &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Number of data points in a collection.
fn data_points(metrics: &ResourceMetrics) -> u64 {
    fn count<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| match metric.data() {
            AggregatedMetrics::F64(d) => count(d),
            AggregatedMetrics::U64(d) => count(d),
            AggregatedMetrics::I64(d) => count(d),
        } as u64)
        .sum()
}

/// Describes an SDK error for a report, without the "Operation failed" noise.
pub(crate) fn describe(error: &OTelSdkError) -> String {
    match error {
        OTelSdkError::AlreadyShutdown => "already shut down".to_string(),
        OTelSdkError::Timeout(after) => format!("timed out after {after:?}"),
        OTelSdkError::InternalFailure(reason) => reason.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::io;
    use std::sync::atomic::AtomicU64;

    use opentelemetry::Value;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};

    use super::*;
    use crate::init::env::{self, Protocol};

    /// A `tracing` writer collecting everything written, for assertions.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }

        /// A subscriber writing every event at `DEBUG` and above here.
        pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
            let writer = self.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The injected clock: a fixed start plus `SECONDS`.
    static SECONDS: AtomicU64 = AtomicU64::new(0);
    /// Held by every test that reads or moves `SECONDS`, so that one test moving the shared
    /// clock (even backwards) cannot change what another test's limiter sees.
    static CLOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    fn fake_now() -> Instant {
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_secs(SECONDS.load(Ordering::SeqCst))
    }

    fn unavailable() -> OTelSdkResult {
        Err(OTelSdkError::InternalFailure(
            "TonicMetricsClient export failed with gRPC code: Unavailable: transport error".into(),
        ))
    }

    fn grpc_reporter(url: &str) -> Reporter {
        let env = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| url.to_string());
        let endpoint =
            env::endpoint(Signal::Metrics, Protocol::Grpc, &env, None, &mut Vec::new()).unwrap();
        Reporter::new(
            Signal::Metrics,
            "otlp_grpc_metric_exporter",
            endpoint,
            Arc::default(),
            None,
        )
    }

    #[test]
    fn failures_are_warned_once_per_minute_per_cause_while_running() {
        let _clock = CLOCK.lock().unwrap_or_else(|p| p.into_inner());
        let captured = Captured::default();
        let _default = tracing::subscriber::set_default(captured.subscriber());
        let reporter = grpc_reporter("http://127.0.0.1:14317").with_clock(fake_now);
        let warnings = || captured.text().matches(" WARN ").count();

        for second in [0, 10, 20, 30] {
            SECONDS.store(second, Ordering::SeqCst);
            reporter.record(3, Duration::ZERO, &unavailable());
        }
        assert_eq!(warnings(), 1, "{}", captured.text());
        let first = captured.text();
        assert!(
            first.contains(
                "exporting metrics to http://127.0.0.1:14317 failed: TonicMetricsClient export \
                 failed with gRPC code: Unavailable: transport error; 3 data points dropped \
                 (failures like this are logged at most once every 60s)"
            ),
            "{first}"
        );
        assert!(first.contains("error.type=\"UNAVAILABLE\""), "{first}");

        // Another cause is not held back by the first.
        reporter.record(
            1,
            Duration::ZERO,
            &Err(OTelSdkError::Timeout(Duration::from_secs(10))),
        );
        assert_eq!(warnings(), 2);

        SECONDS.store(60, Ordering::SeqCst);
        reporter.record(3, Duration::ZERO, &unavailable());
        assert_eq!(warnings(), 3);
        assert!(
            captured
                .text()
                .contains("3 more failure(s) like this since the last warning were not logged"),
            "{}",
            captured.text()
        );

        reporter.record(3, Duration::ZERO, &Ok(()));
        assert!(
            captured.text().contains(
                "exporting metrics to http://127.0.0.1:14317 works again after 6 failed export(s)"
            ),
            "{}",
            captured.text()
        );
    }

    #[test]
    fn a_scheme_less_endpoint_gets_a_hint_in_the_warning() {
        let _clock = CLOCK.lock().unwrap_or_else(|p| p.into_inner());
        let captured = Captured::default();
        let _default = tracing::subscriber::set_default(captured.subscriber());
        let reporter = grpc_reporter("127.0.0.1:14317");
        reporter.record(1, Duration::ZERO, &unavailable());
        assert!(
            captured.text().contains(
                "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:14317 has no scheme, so TLS is used: \
                 write http://127.0.0.1:14317 if the collector is plaintext"
            ),
            "{}",
            captured.text()
        );
    }

    #[test]
    fn exports_are_counted_in_the_semantic_convention_metrics() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let reporter = grpc_reporter("http://collector:4317");
        reporter.attach(&provider);
        reporter.record(5, Duration::from_millis(20), &Ok(()));
        reporter.record(2, Duration::from_millis(30), &unavailable());
        provider.force_flush().unwrap();

        let metrics = exporter.get_finished_metrics().unwrap();
        let metric = metrics
            .last()
            .unwrap()
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == "otel.sdk.exporter.metric_data_point.exported")
            .unwrap();
        assert_eq!(metric.unit(), "{data_point}");
        let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
            panic!("not a u64 sum: {:?}", metric.data());
        };
        let mut points: Vec<(Option<String>, u64)> = sum
            .data_points()
            .map(|p| {
                let attrs: HashMap<&str, &Value> = p
                    .attributes()
                    .map(|kv| (kv.key.as_str(), &kv.value))
                    .collect();
                assert_eq!(
                    attrs["otel.component.type"].as_str(),
                    "otlp_grpc_metric_exporter"
                );
                assert_eq!(
                    attrs["otel.component.name"].as_str(),
                    "otlp_grpc_metric_exporter/0"
                );
                assert_eq!(attrs["server.address"].as_str(), "collector");
                assert_eq!(*attrs["server.port"], Value::I64(4317));
                (attrs.get("error.type").map(|v| v.to_string()), p.value())
            })
            .collect();
        points.sort();
        assert_eq!(points, [(None, 5), (Some("UNAVAILABLE".to_string()), 2)]);
        assert!(
            metrics
                .last()
                .unwrap()
                .scope_metrics()
                .flat_map(|s| s.metrics())
                .any(|m| m.name() == "otel.sdk.exporter.operation.duration")
        );
    }

    #[test]
    fn summary_is_none_until_an_export_fails() {
        let log = ExportLog::default();
        log.record_reason(3, None);
        assert_eq!(log.summary("spans"), None);
    }

    #[test]
    fn summary_counts_failed_exports_and_items() {
        let log = ExportLog::default();
        log.record_reason(3, Some("boom".into()));
        log.record_reason(2, Some("bang".into()));
        assert_eq!(
            log.summary("spans").as_deref(),
            Some(
                "2 export(s) failed carrying 5 spans (the last export failed); \
                 last error: bang"
            )
        );
        log.record_reason(1, None);
        assert!(
            log.summary("spans")
                .unwrap()
                .contains("(the last export succeeded)")
        );
    }
}

//! Exporter wrappers that remember what could not be sent, so a shutdown can
//! say more than the SDK's "Failed to shutdown".
//!
//! The SDK's readers and processors log export errors through
//! `opentelemetry`'s internal logging (off in Vigil's build) and return a
//! generic error. [`Recorded`] sits between the SDK and the OTLP exporter and
//! keeps counts and the last error in an [`ExportLog`] the guard reads when
//! it reports. It changes nothing else: every call is forwarded.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Export outcomes of one signal, shared between the exporter and the guard.
#[derive(Debug, Default)]
pub(crate) struct ExportLog {
    failed_exports: AtomicU64,
    lost_items: AtomicU64,
    last_failed: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl ExportLog {
    fn record(&self, items: u64, result: &OTelSdkResult) {
        match result {
            Ok(()) => self.last_failed.store(false, Ordering::Relaxed),
            Err(error) => {
                self.failed_exports.fetch_add(1, Ordering::Relaxed);
                self.lost_items.fetch_add(items, Ordering::Relaxed);
                self.last_failed.store(true, Ordering::Relaxed);
                let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                *last = Some(describe(error));
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

/// An exporter whose outcomes are counted in an [`ExportLog`].
pub(crate) struct Recorded<E> {
    inner: E,
    log: Arc<ExportLog>,
}

impl<E> Recorded<E> {
    pub(crate) fn new(inner: E, log: Arc<ExportLog>) -> Self {
        Recorded { inner, log }
    }
}

impl<E> fmt::Debug for Recorded<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Recorded<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.log.record(data_points(metrics), &result);
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
        let result = self.inner.export(batch).await;
        self.log.record(spans, &result);
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
mod tests {
    use super::*;

    #[test]
    fn summary_is_none_until_an_export_fails() {
        let log = ExportLog::default();
        log.record(3, &Ok(()));
        assert_eq!(log.summary("spans"), None);
    }

    #[test]
    fn summary_counts_failed_exports_and_items() {
        let log = ExportLog::default();
        log.record(3, &Err(OTelSdkError::InternalFailure("boom".into())));
        log.record(2, &Err(OTelSdkError::InternalFailure("bang".into())));
        assert_eq!(
            log.summary("spans").as_deref(),
            Some(
                "2 export(s) failed carrying 5 spans (the last export failed); \
                 last error: bang"
            )
        );
        log.record(1, &Ok(()));
        assert!(
            log.summary("spans")
                .unwrap()
                .contains("(the last export succeeded)")
        );
    }
}

//! An in-memory harness for tests: a meter whose measurements can be read back
//! by instrument name and labels.
//!
//! ```
//! let h = vigil::testing::Harness::new();
//! let c = h.meter().u64_counter("jobs").build();
//! c.add(2, &[opentelemetry::KeyValue::new("outcome", "ok")]);
//! assert_eq!(h.counter("jobs", &[("outcome", "ok")]), Some(2.0));
//! h.assert_nothing_recorded("other");
//! ```
//!
//! The harness owns its own meter provider (never the global one), so tests
//! can run in parallel. Each read flushes the provider and looks at the latest
//! cumulative export. Label matching is exact: the series must have exactly
//! the given attributes; values compare as text, so `("http.response.status_code", "200")`
//! matches the integer 200.
//!
//! Behind the `testing` feature, for dev-dependencies:
//! `vigil = { version = "…", features = ["testing"] }` under
//! `[dev-dependencies]`. Normal builds leave it (and the OpenTelemetry SDK's
//! own `testing` feature, which it needs) out.

use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A histogram series as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramView {
    /// Observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Upper bounds.
    pub bounds: Vec<f64>,
    /// Per-bucket counts (not cumulative), `bounds.len() + 1` entries.
    pub buckets: Vec<u64>,
}

/// The harness.
pub struct Harness {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh harness with the Vigil views installed.
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        // The interval is irrelevant: reads call force_flush.
        let reader = PeriodicReader::builder(exporter.clone())
            .with_interval(Duration::from_secs(3600))
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_view(crate::views::view)
            .build();
        Harness { provider, exporter }
    }

    /// A meter from this harness's provider.
    pub fn meter(&self) -> Meter {
        self.provider
            .meter_with_scope(InstrumentationScope::builder("vigil.testing").build())
    }

    /// The provider, to build instruments that take one.
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Flush, then apply `f` to the latest export of `name`.
    fn with_latest<R>(&self, name: &str, f: impl FnOnce(&Metric) -> Option<R>) -> Option<R> {
        // A failed flush leaves the previous export in place; reads then see older data.
        let _ = self.provider.force_flush();
        let exports = self.exporter.get_finished_metrics().ok()?;
        let last = exports.last()?;
        let metric = last
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == name)?;
        f(metric)
    }

    /// The value of a counter, up-down counter or gauge series (as `f64`).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.with_latest(name, |metric| match metric.data() {
            AggregatedMetrics::U64(d) => scalar(d, labels).map(|v| v as f64),
            AggregatedMetrics::I64(d) => scalar(d, labels).map(|v| v as f64),
            AggregatedMetrics::F64(d) => scalar(d, labels),
        })
    }

    /// Same as [`Harness::counter`]; reads better for gauges.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.counter(name, labels)
    }

    /// A histogram series.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<HistogramView> {
        self.with_latest(name, |metric| {
            let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                return None;
            };
            h.data_points()
                .find(|p| same_labels(p.attributes(), labels))
                .map(|p| HistogramView {
                    count: p.count(),
                    sum: p.sum(),
                    bounds: p.bounds().collect(),
                    buckets: p.bucket_counts().collect(),
                })
        })
    }

    /// Every label set recorded for `name`, as sorted `(key, value)` lists.
    pub fn series(&self, name: &str) -> Vec<Vec<(String, String)>> {
        self.with_latest(name, |metric| {
            Some(match metric.data() {
                AggregatedMetrics::U64(d) => label_sets(d),
                AggregatedMetrics::I64(d) => label_sets(d),
                AggregatedMetrics::F64(d) => label_sets(d),
            })
        })
        .unwrap_or_default()
    }

    /// Panic unless nothing was recorded for `name`.
    pub fn assert_nothing_recorded(&self, name: &str) {
        let sets = self.series(name);
        assert!(sets.is_empty(), "{name} has recordings: {sets:?}");
    }
}

fn same_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>, labels: &[(&str, &str)]) -> bool {
    let attrs: Vec<&KeyValue> = attrs.collect();
    attrs.len() == labels.len()
        && labels.iter().all(|(k, v)| {
            attrs
                .iter()
                .any(|kv| kv.key.as_str() == *k && kv.value.to_string() == *v)
        })
}

fn scalar<T: Copy>(data: &MetricData<T>, labels: &[(&str, &str)]) -> Option<T> {
    match data {
        MetricData::Sum(s) => s
            .data_points()
            .find(|p| same_labels(p.attributes(), labels))
            .map(|p| p.value()),
        MetricData::Gauge(g) => g
            .data_points()
            .find(|p| same_labels(p.attributes(), labels))
            .map(|p| p.value()),
        _ => None,
    }
}

fn sorted(
    attrs: impl Iterator<Item = impl std::borrow::Borrow<KeyValue>>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = attrs
        .map(|kv| (kv.borrow().key.to_string(), kv.borrow().value.to_string()))
        .collect();
    v.sort();
    v
}

fn label_sets<T>(data: &MetricData<T>) -> Vec<Vec<(String, String)>> {
    match data {
        MetricData::Sum(s) => s.data_points().map(|p| sorted(p.attributes())).collect(),
        MetricData::Gauge(g) => g.data_points().map(|p| sorted(p.attributes())).collect(),
        MetricData::Histogram(h) => h.data_points().map(|p| sorted(p.attributes())).collect(),
        MetricData::ExponentialHistogram(h) => {
            h.data_points().map(|p| sorted(p.attributes())).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_counters_histograms_and_absence() {
        let h = Harness::new();
        let m = h.meter();
        let c = m.u64_counter("c").build();
        c.add(1, &[KeyValue::new("a", "x")]);
        c.add(2, &[KeyValue::new("a", "x")]);
        c.add(5, &[KeyValue::new("a", "y")]);
        assert_eq!(h.counter("c", &[("a", "x")]), Some(3.0));
        assert_eq!(h.counter("c", &[("a", "y")]), Some(5.0));
        assert_eq!(h.counter("c", &[]), None, "labels must match exactly");
        let hist = m.f64_histogram("d").with_unit("s").build();
        hist.record(0.02, &[]);
        hist.record(7.0, &[]);
        let v = h.histogram("d", &[]).expect("recorded");
        assert_eq!(v.count, 2);
        assert_eq!(v.sum, 7.02);
        assert_eq!(
            v.bounds,
            vec![
                0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0,
                5000.0, 7500.0, 10000.0
            ],
            "the SDK's default boundaries: a unit does not change them"
        );
        assert_eq!(v.buckets.iter().sum::<u64>(), 2);
        h.assert_nothing_recorded("never");
    }
}

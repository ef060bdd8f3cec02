//! Builds one round of realistic OTLP metrics requests: every series once.
//!
//! A load test is only worth its numbers if the requests look like what
//! services send: several resources (services), a handful of named metrics
//! per resource, each metric with many series told apart by attributes, a mix
//! of counters, gauges and histograms. This module builds that round once,
//! as `opentelemetry-proto` messages, before any timing starts; `stamp`
//! then advances the encoded bytes from round to round. It knows nothing
//! about transports or timing.
//!
//! Layout: series are split into contiguous blocks per resource; within a
//! resource the mix splits them into counters, gauges and histograms; within
//! a kind every `SERIES_PER_METRIC` series share one metric name. The flat
//! sequence of points is cut into requests of `batch` points, so a request
//! may carry parts of two resources (as a forwarding collector's batch does).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Series sharing one metric name (when there are attributes to tell them apart).
pub const SERIES_PER_METRIC: usize = 100;

/// The OpenTelemetry SDK's default explicit bucket bounds (milliseconds).
const BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

const COUNTER_NAMES: [&str; 6] = [
    "http.server.requests",
    "worker.lifecycle.transitions",
    "rpc.server.calls",
    "queue.messages.processed",
    "sweeper.items.swept",
    "health.checks",
];
const GAUGE_NAMES: [&str; 5] = [
    "process.memory.usage",
    "queue.depth",
    "worker.active",
    "db.client.connections.usage",
    "runtime.goroutines",
];
const HISTOGRAM_NAMES: [&str; 4] = [
    "http.server.request.duration",
    "rpc.server.duration",
    "worker.lifecycle.transition.duration",
    "db.client.operation.duration",
];
/// Attribute keys, in order; series beyond the list reuse keys with a suffix.
const ATTR_KEYS: [&str; 8] = [
    "http.route",
    "http.response.status_code",
    "outcome",
    "region",
    "worker.pool",
    "operation",
    "origin",
    "db.system",
];
const ATTR_VALUES: [&str; 5] = ["alpha", "beta", "gamma", "delta", "epsilon"];

/// What kind of instrument a series is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic sum with integer values.
    Counter,
    /// A gauge with double values.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram,
}

/// The share of each kind, in percent; the three add up to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mix {
    /// Percent of series that are counters.
    pub counters: u32,
    /// Percent of series that are gauges.
    pub gauges: u32,
    /// Percent of series that are histograms.
    pub histograms: u32,
}

impl Mix {
    /// Parses `counters,gauges,histograms` percentages, e.g. `50,30,20`.
    pub fn parse(s: &str) -> Result<Mix, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [c, g, h] = parts.as_slice() else {
            return Err(format!(
                "expected three percentages like 50,30,20, got {s:?}"
            ));
        };
        let num = |p: &str| p.parse::<u32>().map_err(|e| format!("{p:?} in {s:?}: {e}"));
        let mix = Mix {
            counters: num(c)?,
            gauges: num(g)?,
            histograms: num(h)?,
        };
        let total = mix.counters + mix.gauges + mix.histograms;
        if total != 100 {
            return Err(format!(
                "percentages must add up to 100, {s:?} adds up to {total}"
            ));
        }
        Ok(mix)
    }

    /// How many of `n` series are counters, gauges and histograms (rounding down, the
    /// remainder going to histograms, or to the last kind with a non-zero share).
    fn split(&self, n: usize) -> [usize; 3] {
        let counters = n * self.counters as usize / 100;
        let gauges = n * self.gauges as usize / 100;
        if self.histograms == 0 {
            if self.gauges == 0 {
                [n, 0, 0]
            } else {
                [counters, n - counters, 0]
            }
        } else {
            [counters, gauges, n - counters - gauges]
        }
    }
}

/// Cumulative or delta aggregation temporality for sums and histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Values accumulate from a fixed start time (Prometheus-style).
    Cumulative,
    /// Each point carries only the change since the previous one.
    Delta,
}

impl Temporality {
    fn otlp(self) -> i32 {
        match self {
            Temporality::Cumulative => AggregationTemporality::Cumulative as i32,
            Temporality::Delta => AggregationTemporality::Delta as i32,
        }
    }
}

/// The workload: how many series, how they are grouped and batched.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Shape {
    /// Distinct series (one point each per round).
    pub series: usize,
    /// Points per request.
    pub batch: usize,
    /// Attributes per series.
    pub attrs: usize,
    /// Distinct resources (services).
    pub resources: usize,
    /// Share of counters, gauges and histograms.
    pub mix: Mix,
    /// Temporality of sums and histograms.
    pub temporality: Temporality,
}

/// One series' place in the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Series {
    resource: usize,
    kind: Kind,
    /// Metric number within (resource, kind).
    metric: usize,
    /// Series number within the metric.
    point: usize,
    /// Global series number, seeds the values.
    index: usize,
}

/// Builds one round: every series once, `shape.batch` points per request (the last one
/// may be smaller). `start_ns` is the start time of every cumulative point and a
/// placeholder time that `stamp` replaces on every send.
pub fn round(shape: &Shape, start_ns: u64) -> Vec<ExportMetricsServiceRequest> {
    let series = layout(shape);
    series
        .chunks(shape.batch.max(1))
        .map(|chunk| request(shape, chunk, start_ns))
        .collect()
}

/// Every series in send order.
fn layout(shape: &Shape) -> Vec<Series> {
    let resources = shape.resources.clamp(1, shape.series.max(1));
    let per_metric = if shape.attrs == 0 {
        1
    } else {
        SERIES_PER_METRIC
    };
    let mut out = Vec::with_capacity(shape.series);
    for resource in 0..resources {
        let from = shape.series * resource / resources;
        let to = shape.series * (resource + 1) / resources;
        let kinds = [Kind::Counter, Kind::Gauge, Kind::Histogram];
        for (kind, count) in kinds.into_iter().zip(shape.mix.split(to - from)) {
            for j in 0..count {
                out.push(Series {
                    resource,
                    kind,
                    metric: j / per_metric,
                    point: j % per_metric,
                    index: out.len(),
                });
            }
        }
    }
    out
}

fn request(shape: &Shape, chunk: &[Series], start_ns: u64) -> ExportMetricsServiceRequest {
    let mut resource_metrics: Vec<ResourceMetrics> = Vec::new();
    let mut current_resource: Option<usize> = None;
    let mut current_metric: Option<(Kind, usize)> = None;
    for s in chunk {
        if current_resource != Some(s.resource) {
            resource_metrics.push(ResourceMetrics {
                resource: Some(resource(s.resource)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "vigil-load".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics: Vec::new(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
            current_resource = Some(s.resource);
            current_metric = None;
        }
        let key = (s.kind, s.metric);
        let Some(scope) = resource_metrics
            .last_mut()
            .and_then(|rm| rm.scope_metrics.last_mut())
        else {
            unreachable!("a ResourceMetrics with one ScopeMetrics was pushed above");
        };
        if current_metric != Some(key) {
            scope.metrics.push(metric(shape, s.kind, s.metric));
            current_metric = Some(key);
        }
        let attributes = attributes(shape.attrs, s.point);
        match scope.metrics.last_mut().and_then(|m| m.data.as_mut()) {
            Some(Data::Sum(sum)) => sum.data_points.push(NumberDataPoint {
                attributes,
                start_time_unix_nano: start_ns,
                time_unix_nano: start_ns + 1,
                value: Some(Value::AsInt(1 + (s.index % 13) as i64)),
                ..Default::default()
            }),
            Some(Data::Gauge(gauge)) => gauge.data_points.push(NumberDataPoint {
                attributes,
                start_time_unix_nano: start_ns,
                time_unix_nano: start_ns + 1,
                value: Some(Value::AsDouble(((s.index * 37) % 1000) as f64 / 10.0 + 0.5)),
                ..Default::default()
            }),
            Some(Data::Histogram(h)) => h
                .data_points
                .push(histogram_point(attributes, s.index, start_ns)),
            _ => unreachable!("metric() builds a sum, gauge or histogram"),
        }
    }
    ExportMetricsServiceRequest { resource_metrics }
}

fn resource(r: usize) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", format!("load-service-{r}")),
            kv("service.namespace", "vigil-load".into()),
            kv("service.instance.id", format!("instance-{r:04}")),
            kv("host.name", format!("host-{}", r % 4)),
            kv("telemetry.sdk.language", "rust".into()),
        ],
        ..Default::default()
    }
}

fn metric(shape: &Shape, kind: Kind, m: usize) -> Metric {
    let named = |names: &[&str]| {
        let base = names[m % names.len()];
        match m / names.len() {
            0 => base.to_string(),
            n => format!("{base}.{n}"),
        }
    };
    let temporality = shape.temporality.otlp();
    let (name, unit, description, data) = match kind {
        Kind::Counter => (
            named(&COUNTER_NAMES),
            "{event}",
            "Events handled, by route and outcome.",
            Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
                is_monotonic: true,
            }),
        ),
        Kind::Gauge => (
            named(&GAUGE_NAMES),
            "By",
            "Current level.",
            Data::Gauge(Gauge {
                data_points: Vec::new(),
            }),
        ),
        Kind::Histogram => (
            named(&HISTOGRAM_NAMES),
            "ms",
            "Duration of an operation.",
            Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
            }),
        ),
    };
    Metric {
        name,
        description: description.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

/// `attrs` attributes; the first one alone tells the series of a metric apart.
fn attributes(attrs: usize, point: usize) -> Vec<KeyValue> {
    (0..attrs)
        .map(|k| {
            let key = match k / ATTR_KEYS.len() {
                0 => ATTR_KEYS[k].to_string(),
                n => format!("{}.{n}", ATTR_KEYS[k % ATTR_KEYS.len()]),
            };
            let value = if k == 0 {
                format!("/api/v1/resource-{point}")
            } else {
                ATTR_VALUES[(point + k) % ATTR_VALUES.len()].to_string()
            };
            kv_owned(key, value)
        })
        .collect()
}

fn histogram_point(attributes: Vec<KeyValue>, index: usize, start_ns: u64) -> HistogramDataPoint {
    let mut bucket_counts: Vec<u64> = (0..=BOUNDS.len())
        .map(|t| ((index + t * 7) % 4) as u64)
        .collect();
    // At least one observation, so the count is never zero (a zero count is
    // not encoded and could not be advanced).
    bucket_counts[index % (BOUNDS.len() + 1)] += 1;
    let count: u64 = bucket_counts.iter().sum();
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: start_ns + 1,
        count,
        sum: Some(count as f64 * (1.0 + (index % 50) as f64)),
        bucket_counts,
        explicit_bounds: BOUNDS.to_vec(),
        ..Default::default()
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    kv_owned(key.to_string(), value)
}

fn kv_owned(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(AnyValueKind::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// Data points in a request (each histogram point counts once).
pub fn count_points(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum()
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;

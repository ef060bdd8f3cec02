//! The self-telemetry as one OTLP metrics request, so the collector's own figures go through
//! the same store, names and pages as anybody's: cumulative sums from the process start,
//! gauges, and explicit histograms, each with string attributes only.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Collects metrics for one request; every point is stamped `now` and sums start at `start`.
pub struct Builder {
    start: u64,
    now: u64,
    metrics: Vec<Metric>,
}

/// A label list: `(key, value)` pairs.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

fn attributes(labels: Labels<'_>) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|(k, v)| KeyValue {
            key: (*k).to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue((*v).to_owned())),
            }),
            ..KeyValue::default()
        })
        .collect()
}

impl Builder {
    /// A request whose sums started at `start` (Unix ns), stamped `now`.
    pub fn new(start: u64, now: u64) -> Builder {
        Builder {
            start,
            now,
            metrics: Vec::new(),
        }
    }

    fn metric(&mut self, name: &str, unit: &str, description: &str) -> &mut Metric {
        // One Metric per name: later points of the same name join it.
        let at = match self.metrics.iter().position(|m| m.name == name) {
            Some(at) => at,
            None => {
                self.metrics.push(Metric {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    unit: unit.to_owned(),
                    ..Metric::default()
                });
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[at]
    }

    fn point(&self, labels: Labels<'_>, value: number_data_point::Value) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attributes(labels),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            value: Some(value),
            ..NumberDataPoint::default()
        }
    }

    /// A point of the monotonic cumulative sum `name`.
    pub fn counter(
        &mut self,
        name: &str,
        unit: &str,
        description: &str,
        labels: Labels<'_>,
        v: u64,
    ) {
        let point = self.point(labels, number_data_point::Value::AsInt(saturate(v)));
        self.push_sum(name, unit, description, point);
    }

    /// A point of the monotonic cumulative sum `name`, in a float (seconds).
    pub fn counter_f64(
        &mut self,
        name: &str,
        unit: &str,
        description: &str,
        labels: Labels<'_>,
        v: f64,
    ) {
        let point = self.point(labels, number_data_point::Value::AsDouble(v));
        self.push_sum(name, unit, description, point);
    }

    fn push_sum(&mut self, name: &str, unit: &str, description: &str, point: NumberDataPoint) {
        let metric = self.metric(name, unit, description);
        match &mut metric.data {
            Some(metric::Data::Sum(sum)) => sum.data_points.push(point),
            _ => {
                metric.data = Some(metric::Data::Sum(Sum {
                    data_points: vec![point],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }))
            }
        }
    }

    /// A point of the gauge `name`.
    pub fn gauge(&mut self, name: &str, unit: &str, description: &str, labels: Labels<'_>, v: u64) {
        let mut point = self.point(labels, number_data_point::Value::AsInt(saturate(v)));
        point.start_time_unix_nano = 0;
        let metric = self.metric(name, unit, description);
        match &mut metric.data {
            Some(metric::Data::Gauge(gauge)) => gauge.data_points.push(point),
            _ => {
                metric.data = Some(metric::Data::Gauge(Gauge {
                    data_points: vec![point],
                }))
            }
        }
    }

    /// A point of the cumulative histogram `name`: `counts` per bucket of `bounds` (one more
    /// count than bounds), and the sum of the observations.
    #[allow(clippy::too_many_arguments)]
    pub fn histogram(
        &mut self,
        name: &str,
        unit: &str,
        description: &str,
        labels: Labels<'_>,
        bounds: &[f64],
        counts: Vec<u64>,
        sum: f64,
    ) {
        let point = HistogramDataPoint {
            attributes: attributes(labels),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            count: counts.iter().sum(),
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: bounds.to_vec(),
            ..HistogramDataPoint::default()
        };
        let metric = self.metric(name, unit, description);
        match &mut metric.data {
            Some(metric::Data::Histogram(h)) => h.data_points.push(point),
            _ => {
                metric.data = Some(metric::Data::Histogram(Histogram {
                    data_points: vec![point],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }))
            }
        }
    }

    /// The request, from `resource` (string attributes).
    pub fn build(self, resource: Labels<'_>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: attributes(resource),
                    ..Resource::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "vigil-collector".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    metrics: self.metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

fn saturate(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

//! Test fixtures: OTLP requests (metrics, traces, logs) built from a few short calls.
//!
//! Receiver, store and exporter tests all need small, exact OTLP requests;
//! spelling out the prost structs in every test buries what the test is
//! about. These helpers build the common shapes with fixed, documented
//! defaults (one resource `service.name` = [`SERVICE`], one scope named
//! [`SCOPE`], timestamps [`START`]/[`TIME`]) so a test's expected Prometheus
//! lines can be written down by hand. Everything returned is a plain prost
//! value: adjust any field after building it (`m.unit = "s".into()`).
//!
//! Deliberately not here: anything that talks to a server or a store. Tests
//! own their plumbing; this module only builds data.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// `service.name` of the resource [`request_with`] uses; the series get `job="test"`.
pub const SERVICE: &str = "test";
/// Name of the instrumentation scope every helper uses; the series get `otel_scope_name="test"`.
pub const SCOPE: &str = "test";
/// Start time of every point the helpers build (2023-11-14T22:13:20Z), Unix nanoseconds.
pub const START: u64 = 1_700_000_000_000_000_000;
/// Time of every point the helpers build: [`START`] + 10 s.
pub const TIME: u64 = START + 10_000_000_000;

// === Attributes ===

/// A value that can be an OTLP attribute value: `&str`, `String`, `i64`, `f64`, `bool`.
pub trait IntoAnyValue {
    /// The `AnyValue` variant.
    fn into_any_value(self) -> any_value::Value;
}

impl IntoAnyValue for &str {
    fn into_any_value(self) -> any_value::Value {
        any_value::Value::StringValue(self.to_owned())
    }
}

impl IntoAnyValue for String {
    fn into_any_value(self) -> any_value::Value {
        any_value::Value::StringValue(self)
    }
}

impl IntoAnyValue for i64 {
    fn into_any_value(self) -> any_value::Value {
        any_value::Value::IntValue(self)
    }
}

impl IntoAnyValue for f64 {
    fn into_any_value(self) -> any_value::Value {
        any_value::Value::DoubleValue(self)
    }
}

impl IntoAnyValue for bool {
    fn into_any_value(self) -> any_value::Value {
        any_value::Value::BoolValue(self)
    }
}

/// One attribute: `kv("route", "/a")`, `kv("shard", 3)`, `kv("ok", true)`.
pub fn kv(key: &str, value: impl IntoAnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(value.into_any_value()),
        }),
        ..Default::default()
    }
}

// === Requests ===

/// A metrics request with one resource (`service.name` = [`SERVICE`]) and one
/// scope ([`SCOPE`]) holding `metrics`.
pub fn request_with(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    request_from(vec![resource_metrics(
        vec![kv("service.name", SERVICE)],
        metrics,
    )])
}

/// A metrics request made of whole resources (see [`resource_metrics`]), for
/// tests that need several services in one request.
pub fn request_from(resources: Vec<ResourceMetrics>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: resources,
    }
}

/// One resource with attributes `resource` and one scope ([`SCOPE`]) holding `metrics`.
pub fn resource_metrics(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: SCOPE.to_owned(),
                ..Default::default()
            }),
            metrics,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

// === Metrics ===

/// A metric with no unit or description around `data`.
pub fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

/// A cumulative, monotonic Sum (a Prometheus counter: `<name>_total`).
pub fn sum(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    sum_with(
        name,
        AggregationTemporality::Cumulative as i32,
        true,
        points,
    )
}

/// A Sum with an explicit temporality (as the raw `i32`, so tests can send
/// `0`, unspecified) and monotonicity.
pub fn sum_with(
    name: &str,
    temporality: i32,
    monotonic: bool,
    points: Vec<NumberDataPoint>,
) -> Metric {
    metric(
        name,
        Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        }),
    )
}

/// A Gauge.
pub fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        name,
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )
}

/// A cumulative explicit-bucket Histogram.
pub fn histogram(name: &str, points: Vec<HistogramDataPoint>) -> Metric {
    metric(
        name,
        Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )
}

// === Points ===

/// An integer point at [`START`]..[`TIME`].
pub fn int_point(value: i64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: START,
        time_unix_nano: TIME,
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

/// A floating-point point at [`START`]..[`TIME`].
pub fn double_point(value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        value: Some(number_data_point::Value::AsDouble(value)),
        ..int_point(0, attributes)
    }
}

/// A histogram point at [`START`]..[`TIME`]: `counts` per bucket (not
/// cumulative), one more than `bounds` for a valid point; `count` is their sum.
pub fn histogram_point(
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
    attributes: Vec<KeyValue>,
) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: START,
        time_unix_nano: TIME,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

// === Traces and logs ===

/// A trace request with `spans` spans in one resource and scope.
pub fn traces_request(spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("span-{i}"),
            start_time_unix_nano: START,
            end_time_unix_nano: TIME,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", SERVICE)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A logs request with `records` log records in one resource and scope.
pub fn logs_request(records: usize) -> ExportLogsServiceRequest {
    let log_records = (0..records)
        .map(|i| LogRecord {
            time_unix_nano: TIME,
            severity_text: "INFO".to_owned(),
            body: Some(AnyValue {
                value: Some(format!("record {i}").into_any_value()),
            }),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", SERVICE)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    ..Default::default()
                }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

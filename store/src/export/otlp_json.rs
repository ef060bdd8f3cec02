//! The store's cumulative state as an OTLP/JSON `ExportMetricsServiceRequest`
//! (`GET /api/v1/snapshot?format=otlp`), readable by any OTLP tool.
//!
//! Everything is re-exported as cumulative: delta sources appear with the
//! accumulated value and `AGGREGATION_TEMPORALITY_CUMULATIVE`, which is what
//! the store holds.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value as Json;

use crate::store::{MetricSnap, Number, SnapValue, Snapshot};
use crate::translate::{OtelKind, bytes_text};

/// Encode as OTLP/JSON.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    let req = to_request(snap);
    serde_json::to_vec(&req)
        .unwrap_or_else(|e| format!(r#"{{"error":{:?}}}"#, e.to_string()).into_bytes())
}

/// Build the request from a snapshot.
pub fn to_request(snap: &Snapshot) -> ExportMetricsServiceRequest {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut resource_metrics: Vec<ResourceMetrics> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for m in &snap.metrics {
        if current.map(|(r, _)| r) != Some(m.resource) {
            let r = &snap.resources[m.resource];
            resource_metrics.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: r.attrs.to_key_values(),
                    ..Default::default()
                }),
                scope_metrics: Vec::new(),
                schema_url: r.schema_url.to_string(),
            });
            current = None;
        }
        let Some(rm) = resource_metrics.last_mut() else {
            continue;
        };
        if current != Some((m.resource, m.scope)) {
            let s = &snap.scopes[m.scope];
            rm.scope_metrics.push(ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: s.name.to_string(),
                    version: s.version.to_string(),
                    attributes: s.attrs.to_key_values(),
                    dropped_attributes_count: 0,
                }),
                metrics: Vec::new(),
                schema_url: s.schema_url.to_string(),
            });
            current = Some((m.resource, m.scope));
        }
        if let Some(sm) = rm.scope_metrics.last_mut() {
            sm.metrics.push(metric(snap, m, cumulative));
        }
    }
    ExportMetricsServiceRequest { resource_metrics }
}

fn metric(snap: &Snapshot, m: &MetricSnap, cumulative: i32) -> Metric {
    let d = &m.desc;
    let series = snap.series_of(m);
    let numbers = || {
        series
            .iter()
            .filter_map(|s| match &s.value {
                SnapValue::Number(n) => Some(NumberDataPoint {
                    attributes: s.meta.attrs.to_key_values(),
                    start_time_unix_nano: s.start,
                    time_unix_nano: s.time,
                    value: Some(match n {
                        Number::Int(i) => number_data_point::Value::AsInt(*i),
                        Number::Double(f) => number_data_point::Value::AsDouble(*f),
                    }),
                    ..Default::default()
                }),
                _ => None,
            })
            .collect()
    };
    let data = match d.kind {
        OtelKind::Sum { monotonic } => Data::Sum(Sum {
            data_points: numbers(),
            aggregation_temporality: cumulative,
            is_monotonic: monotonic,
        }),
        OtelKind::Gauge => Data::Gauge(Gauge {
            data_points: numbers(),
        }),
        OtelKind::Histogram => Data::Histogram(Histogram {
            aggregation_temporality: cumulative,
            data_points: series
                .iter()
                .filter_map(|s| match &s.value {
                    SnapValue::Histogram {
                        bounds,
                        counts,
                        count,
                        sum,
                        min,
                        max,
                    } => Some(HistogramDataPoint {
                        attributes: s.meta.attrs.to_key_values(),
                        start_time_unix_nano: s.start,
                        time_unix_nano: s.time,
                        count: *count,
                        sum: *sum,
                        bucket_counts: snap.counts.get(counts.clone()).unwrap_or(&[]).to_vec(),
                        explicit_bounds: bounds.to_vec(),
                        min: *min,
                        max: *max,
                        ..Default::default()
                    }),
                    _ => None,
                })
                .collect(),
        }),
        OtelKind::ExponentialHistogram => Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: cumulative,
            data_points: series
                .iter()
                .filter_map(|s| match &s.value {
                    SnapValue::Exp(e) => Some(ExponentialHistogramDataPoint {
                        attributes: s.meta.attrs.to_key_values(),
                        start_time_unix_nano: s.start,
                        time_unix_nano: s.time,
                        count: e.count,
                        sum: e.sum,
                        scale: e.scale,
                        zero_count: e.zero_count,
                        zero_threshold: e.zero_threshold,
                        positive: Some(Buckets {
                            offset: e.positive.offset,
                            bucket_counts: e.positive.counts.clone(),
                        }),
                        negative: Some(Buckets {
                            offset: e.negative.offset,
                            bucket_counts: e.negative.counts.clone(),
                        }),
                        min: e.min,
                        max: e.max,
                        ..Default::default()
                    }),
                    _ => None,
                })
                .collect(),
        }),
        OtelKind::Summary => Data::Summary(Summary {
            data_points: series
                .iter()
                .filter_map(|s| match &s.value {
                    SnapValue::Summary {
                        count,
                        sum,
                        quantiles,
                    } => Some(SummaryDataPoint {
                        attributes: s.meta.attrs.to_key_values(),
                        start_time_unix_nano: s.start,
                        time_unix_nano: s.time,
                        count: *count,
                        sum: *sum,
                        quantile_values: snap
                            .quantiles
                            .get(quantiles.clone())
                            .unwrap_or(&[])
                            .iter()
                            .map(|(q, v)| ValueAtQuantile {
                                quantile: *q,
                                value: *v,
                            })
                            .collect(),
                        flags: 0,
                    }),
                    _ => None,
                })
                .collect(),
        }),
    };
    Metric {
        name: d.name.to_string(),
        description: d.description.to_string(),
        unit: d.unit.to_string(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// An `AnyValue` as plain JSON (arrays as JSON arrays, key-value lists as
/// objects): the form the Prometheus compatibility specification uses for
/// non-string attribute values, and the snapshot's form for them.
pub fn any_value_plain_json(v: &AnyValue) -> Json {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Json::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Json::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Json::from(*i),
        Some(any_value::Value::DoubleValue(d)) => vigil_proto::snapshot::float(*d),
        Some(any_value::Value::BytesValue(b)) => Json::String(bytes_text(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            Json::Array(a.values.iter().map(any_value_plain_json).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => Json::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value
                            .as_ref()
                            .map(any_value_plain_json)
                            .unwrap_or(Json::Null),
                    )
                })
                .collect(),
        ),
        Some(any_value::Value::StringValueStrindex(_)) | None => Json::Null,
    }
}

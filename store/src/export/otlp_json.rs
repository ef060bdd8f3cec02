//! The store's cumulative state as an OTLP/JSON `ExportMetricsServiceRequest`
//! (`GET /api/v1/snapshot?format=otlp`), readable by any OTLP tool.
//!
//! Everything is re-exported as cumulative: delta sources appear with the
//! accumulated value and `AGGREGATION_TEMPORALITY_CUMULATIVE`, which is what
//! the store holds.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::stream::{self, Close, JsonStream};
use crate::store::{MetricSnap, Number, ResourceInfo, ScopeInfo, SnapValue, Snapshot};
use crate::translate::OtelKind;

/// Encode as OTLP/JSON.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    stream::whole(|emit| encode_chunked(snap, usize::MAX, emit))
}

/// Encode as OTLP/JSON in pieces of about `chunk` bytes (see `stream.rs`), one metric with its
/// points at a time: the same bytes as [`to_request`] serialized whole. `emit` returns `false`
/// to stop.
pub fn encode_chunked(snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut out = JsonStream::new(chunk, emit);
    let Some(end) = out.open(&ExportMetricsServiceRequest::default(), "resourceMetrics") else {
        return;
    };
    let mut first_resource = true;
    // The resource and scope open now, with the ends that close them.
    let mut open_resource: Option<(usize, Close, bool)> = None;
    let mut open_scope: Option<(usize, Close, bool)> = None;
    for m in &snap.metrics {
        if open_resource.as_ref().map(|(r, ..)| *r) != Some(m.resource) {
            if let Some((_, close, _)) = open_scope.take() {
                out.close(close, None);
            }
            if let Some((_, close, _)) = open_resource.take() {
                out.close(close, None);
            }
            let Some(resource) = snap.resources.get(m.resource) else {
                continue;
            };
            out.separate(&mut first_resource);
            let Some(close) = out.open(&resource_shell(resource), "scopeMetrics") else {
                return;
            };
            open_resource = Some((m.resource, close, true));
        }
        if open_scope.as_ref().map(|(s, ..)| *s) != Some(m.scope) {
            if let Some((_, close, _)) = open_scope.take() {
                out.close(close, None);
            }
            let (Some(scope), Some((_, _, first_scope))) =
                (snap.scopes.get(m.scope), open_resource.as_mut())
            else {
                continue;
            };
            out.separate(first_scope);
            let Some(close) = out.open(&scope_shell(scope), "metrics") else {
                return;
            };
            open_scope = Some((m.scope, close, true));
        }
        if let Some((_, _, first)) = open_scope.as_mut() {
            out.item(first, &metric(snap, m, cumulative));
        }
        if out.stopped() {
            return;
        }
    }
    if let Some((_, close, _)) = open_scope.take() {
        out.close(close, None);
    }
    if let Some((_, close, _)) = open_resource.take() {
        out.close(close, None);
    }
    out.close(end, None);
    out.finish();
}

/// A resource with no scopes yet.
fn resource_shell(r: &ResourceInfo) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes: r.attrs.to_key_values(),
            ..Default::default()
        }),
        scope_metrics: Vec::new(),
        schema_url: r.schema_url.to_string(),
    }
}

/// A scope with no metrics yet.
fn scope_shell(s: &ScopeInfo) -> ScopeMetrics {
    ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: s.name.to_string(),
            version: s.version.to_string(),
            attributes: s.attrs.to_key_values(),
            dropped_attributes_count: 0,
        }),
        metrics: Vec::new(),
        schema_url: s.schema_url.to_string(),
    }
}

/// Build the request from a snapshot.
pub fn to_request(snap: &Snapshot) -> ExportMetricsServiceRequest {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut resource_metrics: Vec<ResourceMetrics> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for m in &snap.metrics {
        if current.map(|(r, _)| r) != Some(m.resource) {
            let Some(r) = snap.resources.get(m.resource) else {
                continue;
            };
            resource_metrics.push(resource_shell(r));
            current = None;
        }
        let Some(rm) = resource_metrics.last_mut() else {
            continue;
        };
        if current != Some((m.resource, m.scope)) {
            let Some(s) = snap.scopes.get(m.scope) else {
                continue;
            };
            rm.scope_metrics.push(scope_shell(s));
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

//! Feeds a decoded OTLP `ExportMetricsServiceRequest` (prost types) into the store.
//!
//! This is the generic decoder's adapter: it borrows everything from the
//! request and hands the store views, never owned copies. Every point is
//! either accepted or counted as rejected with the first reason kept for the
//! OTLP `partial_success` message; one bad point never spoils the rest.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, Gauge, Sum, exponential_histogram_data_point::Buckets,
    metric::Data, number_data_point,
};

use super::{
    ExpHistogramPoint, HistogramPoint, Ingest, Kind, Number, NumberPoint, PointError, Refusal,
    Store, SummaryPoint,
};

/// The outcome of one export request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Points accepted (including out-of-order points that were ignored as stale).
    pub accepted: u64,
    /// Points rejected.
    pub rejected: u64,
    /// The first rejection reason, for `partial_success.error_message`.
    pub message: Option<String>,
}

impl Report {
    /// Counts `n` points rejected, keeping the first reason.
    pub fn reject(&mut self, n: u64, why: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        self.rejected += n;
        if self.message.is_none() {
            self.message = Some(why());
        }
    }

    /// Adds another request's (or store's) counts; the first reason stays.
    pub fn merge(&mut self, other: Report) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        if self.message.is_none() {
            self.message = other.message;
        }
    }

    /// The `partial_success` message: the first reason, plus how many points it covers.
    pub fn partial_success_message(&self) -> String {
        match &self.message {
            Some(m) if self.rejected > 1 => {
                format!("{m} ({} data points rejected in all)", self.rejected)
            }
            Some(m) => m.clone(),
            None => String::new(),
        }
    }
}

/// Whether a point carries the no-recorded-value flag.
pub fn no_value(flags: u32) -> bool {
    flags & (DataPointFlags::NoRecordedValueMask as u32) != 0
}

/// Delta (true) or cumulative, or `None` when unspecified or unknown.
pub fn delta(temporality: i32) -> Option<bool> {
    match AggregationTemporality::try_from(temporality) {
        Ok(AggregationTemporality::Delta) => Some(true),
        Ok(AggregationTemporality::Cumulative) => Some(false),
        _ => None,
    }
}

/// Data points in a metric's data, whatever its type.
pub fn point_count(data: &Data) -> u64 {
    (match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(e) => e.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }) as u64
}

/// Total data points in a request (for counting refusals before the store is touched).
pub fn count_points(req: &ExportMetricsServiceRequest) -> u64 {
    req.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .filter_map(|m| m.data.as_ref())
        .map(point_count)
        .sum()
}

/// Ingest a whole request.
pub fn ingest_request(store: &Store, req: &ExportMetricsServiceRequest) -> Report {
    ingest_request_with(store, req, &mut |_| {})
}

/// Ingest a whole request, calling `on_point` after every point the store took, inside the
/// session, so that it can read the result with [`Ingest::current`].
pub fn ingest_request_with(
    store: &Store,
    req: &ExportMetricsServiceRequest,
    on_point: &mut dyn FnMut(&Ingest<'_>),
) -> Report {
    let mut report = Report::default();
    let mut session = store.ingest();
    for rm in &req.resource_metrics {
        let empty = Vec::new();
        let rattrs = rm
            .resource
            .as_ref()
            .map(|r| &r.attributes)
            .unwrap_or(&empty);
        let resource = match session.resource(rattrs.as_slice(), &rm.schema_url) {
            Ok(r) => r,
            Err(_) => {
                let n: u64 = rm
                    .scope_metrics
                    .iter()
                    .flat_map(|sm| &sm.metrics)
                    .filter_map(|m| m.data.as_ref())
                    .map(point_count)
                    .sum();
                report.reject(n, || "resource attributes repeat a key".to_string());
                continue;
            }
        };
        for sm in &rm.scope_metrics {
            let (name, version, sattrs) = match &sm.scope {
                Some(s) => (s.name.as_str(), s.version.as_str(), s.attributes.as_slice()),
                None => ("", "", &[][..]),
            };
            let scope = match session.scope(resource, name, version, &sm.schema_url, sattrs) {
                Ok(s) => s,
                Err(_) => {
                    let n = sm
                        .metrics
                        .iter()
                        .filter_map(|m| m.data.as_ref())
                        .map(point_count)
                        .sum();
                    report.reject(n, || format!("scope {name:?}: attributes repeat a key"));
                    continue;
                }
            };
            for metric in &sm.metrics {
                ingest_metric(&mut session, scope, metric, &mut report, on_point);
            }
        }
    }
    report
}

fn ingest_metric(
    session: &mut Ingest<'_>,
    scope: super::ScopeId,
    metric: &opentelemetry_proto::tonic::metrics::v1::Metric,
    report: &mut Report,
    on_point: &mut dyn FnMut(&Ingest<'_>),
) {
    let Some(data) = &metric.data else {
        // A metric without data carries no points: nothing to accept or reject.
        return;
    };
    let n = point_count(data);
    if n == 0 {
        return;
    }
    let kind = match data {
        Data::Gauge(_) => Some(Kind::Gauge),
        Data::Sum(s) => delta(s.aggregation_temporality).map(|d| Kind::Sum {
            monotonic: s.is_monotonic,
            delta: d,
        }),
        Data::Histogram(h) => {
            delta(h.aggregation_temporality).map(|d| Kind::Histogram { delta: d })
        }
        Data::ExponentialHistogram(h) => {
            delta(h.aggregation_temporality).map(|d| Kind::ExpHistogram { delta: d })
        }
        Data::Summary(_) => Some(Kind::Summary),
    };
    let Some(kind) = kind else {
        let refusal = Refusal::UnspecifiedTemporality {
            metric: metric.name.clone(),
        };
        session.refuse_points(&refusal, n);
        report.reject(n, || refusal.to_string());
        return;
    };
    let id = match session.metric_with_type_hint(
        scope,
        &metric.name,
        &metric.description,
        &metric.unit,
        kind,
        type_hint(&metric.metadata),
    ) {
        Ok(id) => id,
        Err(refusal) => {
            session.refuse_points(&refusal, n);
            report.reject(n, || refusal.to_string());
            return;
        }
    };
    let mut one = |r: Result<super::Applied, PointError>,
                   report: &mut Report,
                   session: &Ingest<'_>| {
        match r {
            Ok(_) => {
                report.accepted += 1;
                on_point(session);
            }
            Err(e) => {
                session.refuse_point(&e);
                report.reject(1, || format!("metric {:?}: {e}", metric.name));
            }
        }
    };
    match data {
        // Gauges and sums differ only in the metric's kind, which the store already knows.
        Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. }) => {
            for p in data_points {
                let r = number_point(p).and_then(|np| {
                    session.number(
                        id,
                        p.attributes.as_slice(),
                        np,
                        no_value(p.flags),
                        &p.exemplars,
                    )
                });
                one(r, report, session);
            }
        }
        Data::Histogram(h) => {
            for p in &h.data_points {
                // A histogram without buckets is one +Inf bucket holding the count.
                let only = [p.count];
                let (bounds, counts) = if p.bucket_counts.is_empty() && p.explicit_bounds.is_empty()
                {
                    (&[][..], &only[..])
                } else {
                    (p.explicit_bounds.as_slice(), p.bucket_counts.as_slice())
                };
                let hp = HistogramPoint {
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    bounds,
                    counts,
                };
                let r = session.histogram(
                    id,
                    p.attributes.as_slice(),
                    hp,
                    no_value(p.flags),
                    &p.exemplars,
                );
                one(r, report, session);
            }
        }
        Data::ExponentialHistogram(h) => {
            for p in &h.data_points {
                let ep = ExpHistogramPoint {
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    // Checked by the session: a scale outside [-10, 20] is refused.
                    scale: p.scale,
                    zero_count: p.zero_count,
                    zero_threshold: p.zero_threshold,
                    positive: side(&p.positive),
                    negative: side(&p.negative),
                };
                let r = session.exp_histogram(
                    id,
                    p.attributes.as_slice(),
                    ep,
                    no_value(p.flags),
                    &p.exemplars,
                );
                one(r, report, session);
            }
        }
        Data::Summary(s) => {
            for p in &s.data_points {
                let sp = SummaryPoint {
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                    quantiles: &p.quantile_values,
                };
                let r = session.summary(id, p.attributes.as_slice(), sp, no_value(p.flags));
                one(r, report, session);
            }
        }
    }
    session.release_if_empty(id);
}

fn number_point(
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
) -> Result<NumberPoint, PointError> {
    let value = match p.value {
        Some(number_data_point::Value::AsInt(i)) => Number::Int(i),
        Some(number_data_point::Value::AsDouble(d)) => Number::Double(d),
        None if no_value(p.flags) => Number::Int(0),
        None => return Err(PointError::MissingValue),
    };
    Ok(NumberPoint {
        start: p.start_time_unix_nano,
        time: p.time_unix_nano,
        value,
    })
}

fn side(b: &Option<Buckets>) -> (i32, &[u64]) {
    match b {
        Some(b) => (b.offset, b.bucket_counts.as_slice()),
        None => (0, &[]),
    }
}

/// The metadata key a Prometheus receiver records a family's original type under (the
/// compatibility specification's `prometheus.type`).
pub const PROMETHEUS_TYPE: &str = "prometheus.type";

/// The value of the last `prometheus.type` metadata entry, when it is a string.
fn type_hint(metadata: &[KeyValue]) -> Option<&str> {
    let entry = metadata.iter().rev().find(|kv| kv.key == PROMETHEUS_TYPE)?;
    match entry.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

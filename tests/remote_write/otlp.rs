//! OTLP requests for the remote-write tests, timestamped now (the databases refuse samples far
//! in the past), and a sender that pushes them into a collector over gRPC.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Nanoseconds since the epoch, now.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// One resource (`service.name`, `service.instance.id`, `host.name`) with `metrics` in scope
/// `shop`.
pub(crate) fn request(service: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("service.instance.id", "i1"),
                    kv("host.name", "h1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "shop".to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(value: i64, start: u64, time: u64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

/// A monotonic sum with one point `value` over `[start, time]`.
pub(crate) fn counter(name: &str, delta: bool, value: i64, start: u64, time: u64) -> Metric {
    let temporality = if delta {
        AggregationTemporality::Delta
    } else {
        AggregationTemporality::Cumulative
    };
    metric(
        name,
        "",
        Data::Sum(Sum {
            data_points: vec![number(value, start, time, vec![kv("route", "/pay")])],
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        }),
    )
}

/// A gauge with one point.
pub(crate) fn gauge(name: &str, value: f64, time: u64) -> Metric {
    metric(
        name,
        "",
        Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
        }),
    )
}

/// A cumulative histogram in seconds with bounds 0.1, 0.5, 1.
pub(crate) fn histogram(name: &str, counts: [u64; 4], sum: f64, start: u64, time: u64) -> Metric {
    metric(
        name,
        "s",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: counts.iter().sum(),
                sum: Some(sum),
                bucket_counts: counts.to_vec(),
                explicit_bounds: vec![0.1, 0.5, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )
}

/// A cumulative exponential histogram at scale 0: `counts` from OTLP bucket 0 ((1, 2]) up.
pub(crate) fn exponential(name: &str, counts: Vec<u64>, sum: f64, start: u64, time: u64) -> Metric {
    metric(
        name,
        "By",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: counts.iter().sum(),
                sum: Some(sum),
                scale: 0,
                positive: Some(Buckets {
                    offset: 0,
                    bucket_counts: counts,
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )
}

/// Sends `req` to the OTLP/gRPC receiver at `addr`; panics unless it is accepted whole.
pub(crate) async fn send(addr: SocketAddr, req: ExportMetricsServiceRequest) {
    let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let response = client
        .export(req)
        .await
        .unwrap_or_else(|e| panic!("export to {addr} refused: {e}"))
        .into_inner();
    if let Some(partial) = response.partial_success {
        assert_eq!(partial.rejected_data_points, 0, "{}", partial.error_message);
    }
}

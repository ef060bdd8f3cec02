use std::time::{Duration, Instant};

use vigil_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use vigil_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use vigil_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use vigil_proto::otlp::resource::v1::Resource;

use crate::support::start_collector;

fn gauge_request(service: &str) -> ExportMetricsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "up".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now,
                            value: Some(number_data_point::Value::AsInt(1)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_expire_on_the_timer_without_scrapes() {
    let collector = start_collector(Duration::from_millis(300)).await;
    let report = vigil_collector::store::otlp::ingest_request(
        collector.store.as_deref().expect("prometheus exporter"),
        &gauge_request("short-lived"),
    );
    assert_eq!(report.accepted, 1);
    assert_eq!(
        collector
            .store
            .as_deref()
            .expect("prometheus exporter")
            .series_count(),
        1
    );
    assert_eq!(
        collector
            .store
            .as_deref()
            .expect("prometheus exporter")
            .resource_count(),
        1
    );
    // Nothing scrapes, nothing else arrives: the sweep alone must drop it.
    // Bounded wait: expiry (300 ms) + one sweep interval (50 ms) + slack.
    let deadline = Instant::now() + Duration::from_secs(5);
    while collector
        .store
        .as_deref()
        .expect("prometheus exporter")
        .resource_count()
        > 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        collector
            .store
            .as_deref()
            .expect("prometheus exporter")
            .series_count(),
        0
    );
    assert_eq!(
        collector
            .store
            .as_deref()
            .expect("prometheus exporter")
            .resource_count(),
        0,
        "target_info goes with the last series"
    );
    collector.shutdown().await;
}

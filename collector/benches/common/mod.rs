//! Fixture vocabulary shared by the store benchmark (`benches/store.rs`) and
//! the memory example (`examples/store_memory.rs`), so both measure the same
//! shape of data: web-service series keyed by host × route × status.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// 2025-06-15T15:06:40Z, in Unix nanoseconds.
pub(crate) const BASE_NS: u64 = 1_750_000_000_000_000_000;
/// Start of every cumulative series: one hour before `BASE_NS`.
pub(crate) const START_NS: u64 = BASE_NS - 3_600_000_000_000;

/// Route templates (20).
pub(crate) const ROUTES: [&str; 20] = [
    "/",
    "/login",
    "/logout",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/cart",
    "/api/v1/cart/items",
    "/api/v1/search",
    "/api/v1/products",
    "/api/v1/products/{id}",
    "/api/v2/checkout",
    "/api/v2/payments",
    "/api/v2/shipping",
    "/api/v2/reviews",
    "/healthz",
    "/metrics",
    "/static/{file}",
    "/api/v2/recommendations",
];
/// Status codes (5).
pub(crate) const STATUSES: [&str; 5] = ["200", "201", "304", "404", "500"];
/// Duration histogram bounds, in seconds (10).
pub(crate) const DURATION_BOUNDS: [f64; 10] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A string attribute.
pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// Host name `i` (`web-01`, …).
pub(crate) fn host(i: usize) -> String {
    format!("web-{:02}", i + 1)
}

/// Series attributes for one host × every route × every status (100 sets).
pub(crate) fn attr_sets(host_index: usize) -> Vec<Vec<KeyValue>> {
    let host = host(host_index);
    let mut out = Vec::with_capacity(ROUTES.len() * STATUSES.len());
    for route in ROUTES {
        for status in STATUSES {
            out.push(vec![
                kv("host", &host),
                kv("route", route),
                kv("status", status),
            ]);
        }
    }
    out
}

/// One request carrying `metrics` from the fixture service (`shop/checkout`).
pub(crate) fn request(
    metrics: Vec<opentelemetry_proto::tonic::metrics::v1::Metric>,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.namespace", "shop"),
                    kv("service.instance.id", "checkout-7f9c4d-x2kq"),
                    kv("service.version", "2.14.1"),
                    kv("telemetry.sdk.language", "rust"),
                    kv("telemetry.sdk.name", "opentelemetry"),
                    kv("telemetry.sdk.version", "0.33.0"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "checkout.http".to_string(),
                    version: "2.14.1".to_string(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
        }],
    }
}

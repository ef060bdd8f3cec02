use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use vigil_proto::snapshot::Snapshot;

use vigil_tests::check_exposition;

use crate::support::{OPENMETRICS, get, start_collector};

struct Instruments {
    orders: Counter<u64>,
    checkout: Histogram<f64>,
    cart: UpDownCounter<i64>,
    temperature: Gauge<f64>,
}

fn provider(exporter: opentelemetry_otlp::MetricExporter) -> SdkMeterProvider {
    // A long interval: the test decides when to export, with force_flush.
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let resource = Resource::builder_empty()
        .with_service_name("shop-api")
        .with_attributes([
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.instance.id", "pod-1"),
            KeyValue::new("host.name", "node-a"),
        ])
        .build();
    SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build()
}

fn instruments(provider: &SdkMeterProvider) -> Instruments {
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder("shop")
            .with_version("1.2.3")
            .build(),
    );
    Instruments {
        orders: meter
            .u64_counter("shop.orders")
            .with_unit("{order}")
            .with_description("Orders placed.")
            .build(),
        checkout: meter
            .f64_histogram("shop.checkout.duration")
            .with_unit("s")
            .with_description("Checkout time.")
            .with_boundaries(vec![0.1, 0.5, 1.0])
            .build(),
        cart: meter
            .i64_up_down_counter("shop.cart.items")
            .with_unit("{item}")
            .build(),
        temperature: meter.f64_gauge("shop.temperature").with_unit("Cel").build(),
    }
}

/// Two phases with an export between them, so delta exporters send two
/// deltas that the collector must add up.
fn record(i: &Instruments, phase: u8) {
    let ok = [KeyValue::new("outcome", "ok")];
    let error = [KeyValue::new("outcome", "error")];
    if phase == 1 {
        i.orders.add(1, &ok);
        i.orders.add(2, &ok);
        i.checkout.record(0.05, &[]);
        i.checkout.record(0.3, &[]);
        i.cart.add(5, &[]);
        i.temperature.record(19.0, &[]);
    } else {
        i.orders.add(3, &ok);
        i.orders.add(1, &error);
        i.checkout.record(0.3, &[]);
        i.checkout.record(2.0, &[]);
        i.cart.add(-2, &[]);
        i.temperature.record(21.5, &[]);
    }
}

async fn flush(provider: &SdkMeterProvider) {
    let p = provider.clone();
    tokio::task::spawn_blocking(move || p.force_flush())
        .await
        .expect("flush task")
        .expect("export succeeds");
}

const L: &str = r#"job="shop/shop-api",instance="pod-1""#;
const S: &str = r#"otel_scope_name="shop",otel_scope_version="1.2.3""#;

/// The text page both exporters must produce, as sorted lines.
fn expected_text_lines() -> Vec<String> {
    let mut lines: Vec<String> = [
        "# HELP shop_checkout_duration_seconds Checkout time.".to_string(),
        "# HELP shop_orders_total Orders placed.".to_string(),
        "# HELP target_info Target metadata".to_string(),
        "# TYPE shop_cart_items gauge".to_string(),
        "# TYPE shop_checkout_duration_seconds histogram".to_string(),
        "# TYPE shop_orders_total counter".to_string(),
        "# TYPE shop_temperature_celsius gauge".to_string(),
        "# TYPE target_info gauge".to_string(),
        format!("shop_cart_items{{{L},{S}}} 3"),
        format!(r#"shop_checkout_duration_seconds_bucket{{{L},{S},le="0.1"}} 1"#),
        format!(r#"shop_checkout_duration_seconds_bucket{{{L},{S},le="0.5"}} 3"#),
        format!(r#"shop_checkout_duration_seconds_bucket{{{L},{S},le="1"}} 3"#),
        format!(r#"shop_checkout_duration_seconds_bucket{{{L},{S},le="+Inf"}} 4"#),
        format!("shop_checkout_duration_seconds_sum{{{L},{S}}} 2.65"),
        format!("shop_checkout_duration_seconds_count{{{L},{S}}} 4"),
        format!(r#"shop_orders_total{{{L},outcome="ok",{S}}} 6"#),
        format!(r#"shop_orders_total{{{L},outcome="error",{S}}} 1"#),
        format!("shop_temperature_celsius{{{L},{S}}} 21.5"),
        format!(r#"target_info{{{L},host_name="node-a"}} 1"#),
    ]
    .into_iter()
    .collect();
    lines.sort();
    lines
}

fn sorted_lines(page: &str) -> Vec<String> {
    let mut lines: Vec<String> = page.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

async fn assert_pages(listen: std::net::SocketAddr, temporality: &str) {
    let text = get(listen, "/metrics", None).await;
    assert_eq!(
        sorted_lines(&text),
        expected_text_lines(),
        "page was:\n{text}"
    );
    let om = get(listen, "/metrics", Some(OPENMETRICS)).await;
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE shop_orders counter\n"), "{om}");
    assert!(
        om.contains("# UNIT shop_checkout_duration_seconds seconds\n"),
        "{om}"
    );
    assert!(om.contains("# TYPE target info\n"), "{om}");
    check_exposition(&text, &om);

    let snapshot: Snapshot = serde_json::from_str(&get(listen, "/api/v1/snapshot", None).await)
        .expect("snapshot parses");
    assert_eq!(snapshot.schema_version, 1);
    assert_eq!(snapshot.services.len(), 1);
    let svc = &snapshot.services[0];
    assert_eq!(svc.service, "shop-api");
    assert_eq!(svc.job.as_deref(), Some("shop/shop-api"));
    assert_eq!(svc.instance.as_deref(), Some("pod-1"));
    assert_eq!(
        svc.resource.get("host.name"),
        Some(&serde_json::json!("node-a"))
    );
    let metric = |name: &str| {
        svc.metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let orders = metric("shop.orders");
    assert_eq!(
        (orders.kind.as_str(), orders.unit.as_str()),
        ("sum", "{order}")
    );
    assert_eq!(orders.temporality.as_deref(), Some(temporality));
    assert_eq!(orders.monotonic, Some(true));
    assert_eq!(orders.prometheus.family, "shop_orders_total");
    assert_eq!(orders.scope.name, "shop");
    let ok = orders
        .series
        .iter()
        .find(|s| s.attributes.get("outcome") == Some(&serde_json::json!("ok")))
        .expect("ok");
    assert_eq!(ok.value, Some(serde_json::json!(6)));
    let checkout = metric("shop.checkout.duration");
    assert_eq!(checkout.kind, "histogram");
    let h = &checkout.series[0];
    assert_eq!(h.count, Some(4));
    assert_eq!(h.sum, Some(serde_json::json!(2.65)));
    let buckets: Vec<(serde_json::Value, u64)> = h
        .buckets
        .as_ref()
        .expect("buckets")
        .iter()
        .map(|b| (b.le.clone(), b.count))
        .collect();
    assert_eq!(
        buckets,
        vec![
            (serde_json::json!(0.1), 1),
            (serde_json::json!(0.5), 3),
            (serde_json::json!(1.0), 3),
            (serde_json::json!("+Inf"), 4)
        ]
    );
    assert_eq!(
        metric("shop.cart.items").series[0].value,
        Some(serde_json::json!(3))
    );
    assert_eq!(
        metric("shop.temperature").series[0].value,
        Some(serde_json::json!(21.5))
    );

    // Filters, and the OTLP/JSON form any OTLP tool can read.
    let none: Snapshot =
        serde_json::from_str(&get(listen, "/api/v1/snapshot?service=nope", None).await)
            .expect("parses");
    assert!(none.services.is_empty());
    let only: Snapshot =
        serde_json::from_str(&get(listen, "/api/v1/snapshot?metric=shop.cart", None).await)
            .expect("parses");
    let names: Vec<&str> = only.services[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, vec!["shop.cart.items"]);
    let otlp = get(listen, "/api/v1/snapshot?format=otlp", None).await;
    let req: vigil_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest =
        serde_json::from_str(&otlp).expect("OTLP/JSON parses back");
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exporter_cumulative_lands_exactly() {
    let collector = start_collector(Duration::from_secs(300)).await;
    let grpc = collector.grpc_addr.expect("grpc on");
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .build()
        .expect("exporter");
    let provider = provider(exporter);
    let i = instruments(&provider);
    record(&i, 1);
    flush(&provider).await;
    record(&i, 2);
    flush(&provider).await;
    assert_pages(
        collector.listen_addr.expect("prometheus exporter"),
        "cumulative",
    )
    .await;
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .expect("join")
        .expect("shutdown");
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_exporter_delta_is_accumulated_exactly() {
    let collector = start_collector(Duration::from_secs(300)).await;
    let http = collector.http_addr.expect("http on");
    // The blocking HTTP client must be built and dropped off the async workers.
    let provider = tokio::task::spawn_blocking(move || {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("http://{http}/v1/metrics"))
            .with_temporality(Temporality::Delta)
            .build()
            .expect("exporter");
        provider(exporter)
    })
    .await
    .expect("build");
    let i = instruments(&provider);
    record(&i, 1);
    flush(&provider).await;
    record(&i, 2);
    flush(&provider).await;
    assert_pages(collector.listen_addr.expect("prometheus exporter"), "delta").await;
    tokio::task::spawn_blocking(move || {
        let _ = provider.shutdown();
        drop(i);
    })
    .await
    .expect("join");
    collector.shutdown().await;
}

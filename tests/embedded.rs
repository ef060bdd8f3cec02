//! Embedded mode (`vigil::serve`, SDK feature `serve`): a service serves its own metrics with
//! no collector. The page passes promtool, a real Prometheus scrapes it, and it is byte for
//! byte the page a collector serves for the same data, since both come from one store and one
//! renderer (`vigil-store`).
//!
//! One test in its own binary: `serve` installs the process-wide meter provider.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use vigil_collector::app;
use vigil_collector::config::Config;
use vigil_tests::peers::Tsdb;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

async fn get(url: &str, accept: Option<&str>) -> String {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("GET");
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_page_is_the_collectors_page_and_prometheus_scrapes_it() {
    let builder = vigil::builder()
        .with_service_name("embedded-shop")
        .with_resource_attribute("service.instance.id", "shop-1");
    let serving = vigil::serve_with(builder, "127.0.0.1:0").expect("serve");
    let addr = serving.addr();

    let meter = opentelemetry::global::meter_provider().meter("shop");
    let orders = meter
        .u64_counter("shop.orders")
        .with_unit("{order}")
        .with_description("Orders checked out, by outcome.")
        .build();
    let latency = meter
        .f64_histogram("shop.checkout.duration")
        .with_unit("s")
        .with_description("Time to check out.")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    orders.add(3, &[KeyValue::new("outcome", "paid")]);
    orders.add(1, &[KeyValue::new("outcome", "declined")]);
    for v in [0.05, 0.2, 0.7, 2.0] {
        latency.record(v, &[]);
    }

    let page = get(&format!("http://{addr}/metrics"), None).await;
    assert!(
        page.contains(
            "shop_orders_total{job=\"embedded-shop\",instance=\"shop-1\",outcome=\"paid\",\
             otel_scope_name=\"shop\"} 3"
        ),
        "{page}"
    );
    assert!(
        page.contains("shop_checkout_duration_seconds_bucket{job=\"embedded-shop\",instance=\"shop-1\",otel_scope_name=\"shop\",le=\"0.5\"} 2"),
        "{page}"
    );
    vigil_tests::promtool_check_metrics(&page).expect("promtool accepts the page");
    let om = get(&format!("http://{addr}/metrics"), Some(OPENMETRICS)).await;
    assert!(om.ends_with("# EOF\n"), "{om}");
    let snapshot = get(&format!("http://{addr}/api/v1/snapshot"), None).await;
    let doc: serde_json::Value = serde_json::from_str(&snapshot).expect("JSON");
    assert_eq!(doc["services"][0]["service"], "embedded-shop");
    // The collector's dashboard, the same documents with the same policy.
    for (path, _, body) in vigil_store::dashboard::ASSETS {
        let resp = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("GET");
        assert_eq!(
            resp.headers()["content-security-policy"],
            vigil_store::dashboard::CONTENT_SECURITY_POLICY
        );
        assert_eq!(resp.text().await.expect("body"), body, "{path}");
    }

    // The same data through a collector: the request the page was made from, sent over OTLP.
    let request = serving.last_request().expect("the page read the provider");
    let yaml = "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
";
    let collector = app::start(&Config::from_yaml_str(yaml, "test").expect("config"))
        .await
        .expect("collector starts");
    let mut client =
        MetricsServiceClient::connect(format!("http://{}", collector.grpc_addr.expect("grpc")))
            .await
            .expect("connect");
    client.export(request).await.expect("export");
    let listen = collector.listen_addr.expect("listen");
    let collector_page = get(&format!("http://{listen}/metrics"), None).await;
    assert_eq!(
        collector_page, page,
        "one store, one renderer: the same bytes"
    );
    let collector_om = get(&format!("http://{listen}/metrics"), Some(OPENMETRICS)).await;
    assert_eq!(collector_om, om);
    collector.shutdown().await;

    // A real Prometheus scrapes the embedded page.
    let prometheus = tokio::task::block_in_place(|| Tsdb::prometheus2_scraping(addr, "shop"));
    let samples = tokio::task::block_in_place(|| {
        prometheus.wait_for_query(
            "shop_orders_total{outcome=\"paid\",job=\"embedded-shop\"}",
            |s| !s.is_empty(),
            Duration::from_secs(30),
        )
    });
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].value, 3.0);
    drop(prometheus);

    serving.shutdown().expect("shutdown");
}

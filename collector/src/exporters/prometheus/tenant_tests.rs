//! Tenants kept apart end to end (issue 10): two tenants send the same service's data with the
//! same names and attributes, over both protocols at once through a batch processor, and each
//! attack one tenant could make on another's data (squat a name with another type, overwrite,
//! delete, freeze with a later point) lands in the attacker's own store. Each tenant's pages
//! show only its data; the implicit tenant's show neither; no credential gets 401.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::metrics::v1::DataPointFlags;
use prost::Message;

use crate::app;
use crate::config::Config;
use crate::test_support::{TIME, gauge, int_point, kv, request_with, sum};

const YAML: &str = "extensions:
  bearertokenauth:
    token: implicit-token
    tenants: {team-a: token-a, team-b: token-b}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:0, auth: {authenticator: bearertokenauth}}
      http: {endpoint: 127.0.0.1:0, auth: {authenticator: bearertokenauth}}
processors:
  batch: {timeout: 200ms, send_batch_size: 10000}
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
    auth: {authenticator: bearertokenauth}
service:
  extensions: [bearertokenauth]
  pipelines:
    metrics: {receivers: [otlp], processors: [batch], exporters: [prometheus]}
";

/// Team a's data: a counter, a gauge, and the counter b will try to overwrite and delete.
fn team_a() -> ExportMetricsServiceRequest {
    request_with(vec![
        sum("shared", vec![int_point(5, vec![kv("k", "v")])]),
        gauge("squat", vec![int_point(1, vec![])]),
        sum("victim", vec![int_point(10, vec![kv("k", "v")])]),
    ])
}

/// Team b, attacking: `shared` as a gauge (another type), `squat` as a counter, a deletion
/// of `victim`, then a later `victim` point.
fn team_b() -> ExportMetricsServiceRequest {
    let mut deleted = int_point(0, vec![kv("k", "v")]);
    deleted.flags = DataPointFlags::NoRecordedValueMask as u32;
    let mut later = int_point(999, vec![kv("k", "v")]);
    later.time_unix_nano = TIME + 1_000_000_000;
    request_with(vec![
        gauge("shared", vec![int_point(7, vec![kv("k", "v")])]),
        sum("squat", vec![int_point(3, vec![])]),
        sum("victim", vec![deleted]),
        sum("victim", vec![later]),
    ])
}

async fn page(client: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let mut get = client.get(url);
    if !token.is_empty() {
        get = get.header("authorization", format!("Bearer {token}"));
    }
    let r = get.send().await.expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The sample lines of a page.
fn samples(page: &str) -> Vec<&str> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("target_info"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_and_change_only_their_own_data() {
    let config = Config::from_yaml_str(YAML, "tenants").expect("valid");
    let vigil = app::start(&config).await.expect("starts");
    let (http, grpc, pages) = (
        vigil.http_addr.expect("http"),
        vigil.grpc_addr.expect("grpc"),
        vigil.listen_addr.expect("pages"),
    );
    let client = reqwest::Client::new();

    // a over HTTP and b over gRPC at once, so that the batch processor sees both together.
    let send_a = async {
        let r = client
            .post(format!("http://{http}/v1/metrics"))
            .header("content-type", "application/x-protobuf")
            .header("authorization", "Bearer token-a")
            .body(team_a().encode_to_vec())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    };
    let send_b = async {
        let mut client = MetricsServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connect");
        let mut request = tonic::Request::new(team_b());
        request
            .metadata_mut()
            .insert("authorization", "Bearer token-b".parse().expect("header"));
        let response = client.export(request).await.expect("export").into_inner();
        assert_eq!(response.partial_success, None);
    };
    tokio::join!(send_a, send_b);

    let metrics = format!("http://{pages}/metrics");
    let (status, a) = page(&client, &metrics, "token-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        samples(&a),
        [
            r#"shared_total{job="test",k="v",otel_scope_name="test"} 5"#,
            r#"squat{job="test",otel_scope_name="test"} 1"#,
            r#"victim_total{job="test",k="v",otel_scope_name="test"} 10"#,
        ]
    );
    let (status, b) = page(&client, &metrics, "token-b").await;
    assert_eq!(status, 200);
    assert_eq!(
        samples(&b),
        [
            r#"shared{job="test",k="v",otel_scope_name="test"} 7"#,
            r#"squat_total{job="test",otel_scope_name="test"} 3"#,
            r#"victim_total{job="test",k="v",otel_scope_name="test"} 999"#,
        ]
    );
    // The implicit tenant's pages show neither; no or a wrong credential gets 401.
    let (status, implicit) = page(&client, &metrics, "implicit-token").await;
    assert_eq!((status, samples(&implicit)), (200, vec![]));
    for token in ["", "token-c"] {
        assert_eq!(page(&client, &metrics, token).await.0, 401, "{token:?}");
    }
    // The snapshot too.
    let snapshot = format!("http://{pages}/api/v1/snapshot");
    let (_, a_doc) = page(&client, &snapshot, "token-a").await;
    let (_, b_doc) = page(&client, &snapshot, "token-b").await;
    assert!(
        a_doc.contains(r#""value":5"#) && !a_doc.contains(r#""value":999"#),
        "{a_doc}"
    );
    assert!(
        b_doc.contains(r#""value":999"#) && !b_doc.contains(r#""value":5"#),
        "{b_doc}"
    );
    // The collector-wide figures count both tenants' series.
    let store = vigil.store.clone().expect("a store");
    assert_eq!(
        store.series_count(),
        0,
        "the implicit tenant's store holds nothing"
    );
    vigil.shutdown().await;
}

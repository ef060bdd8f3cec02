//! The persistent queue's promise, end to end with the real binary: with the upstream down,
//! every point the collector acknowledged is on disk; `kill -9` loses none of them; after a
//! restart on the same directory, once the upstream is back, every one arrives, exactly once.
//!
//! Exactly once holds here because the upstream was down for every send before the kill, so no
//! send could have succeeded without being acked. (The at-least-once contract allows a duplicate
//! only for a send the upstream took just before the kill.)

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use vigil_collector::{app, config::Config};
use vigil_tests::peers::free_port;

const REQUESTS: usize = 20;
const POINTS_PER_REQUEST: usize = 50;

/// Kills the child on drop so a failed assertion never leaves it running.
struct Vigil(Child);

impl Vigil {
    fn start(config: &Path) -> Vigil {
        let child = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
            .arg("--config")
            .arg(config)
            .args(["--log-level", "warn"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigil-collector");
        Vigil(child)
    }

    fn stderr(&mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut text = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, vigil: &mut Vigil) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            panic!(
                "vigil-collector did not listen on {port}:\n{}",
                vigil.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Request `r`: `POINTS_PER_REQUEST` cumulative sums, each its own series.
fn request(r: usize) -> ExportMetricsServiceRequest {
    let now = vigil_store::store::unix_nanos(std::time::SystemTime::now());
    let points = (0..POINTS_PER_REQUEST)
        .map(|p| NumberDataPoint {
            attributes: vec![KeyValue {
                key: "point".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(format!("{r}-{p}"))),
                }),
                ..Default::default()
            }],
            start_time_unix_nano: now - 1_000_000_000,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(1)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![Metric {
                    name: "crash.survivors".into(),
                    unit: "1".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_points_survive_kill_9_and_arrive_once_the_upstream_is_back() {
    let dir = std::env::temp_dir().join(format!("vigil-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (vigil_port, upstream_port) = (free_port(), free_port());
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "extensions:
  file_storage:
    directory: {queue}
    create_directory: true
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{vigil_port}}}
exporters:
  otlp:
    endpoint: 127.0.0.1:{upstream_port}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 0}}
    sending_queue: {{num_consumers: 2, queue_size: 1000, storage: file_storage}}
service:
  extensions: [file_storage]
  pipelines:
    metrics: {{receivers: [otlp], exporters: [otlp]}}
",
            queue = dir.join("queue").display()
        ),
    )
    .unwrap();

    // 1. Upstream down: everything sent is acknowledged (into the queue on disk).
    let mut vigil = Vigil::start(&config);
    wait_for_port(vigil_port, &mut vigil);
    let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{vigil_port}"))
        .await
        .unwrap();
    for r in 0..REQUESTS {
        let response = client.export(request(r)).await;
        assert!(response.is_ok(), "request {r} refused: {response:?}");
    }
    drop(client);

    // 2. kill -9 while the consumers are still retrying against the dead upstream.
    vigil.0.kill().unwrap();
    vigil.0.wait().unwrap();

    // 3. The upstream comes back (a Vigil collector aggregating what it receives)...
    let upstream_config = Config::from_yaml_str(
        &format!(
            "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{upstream_port}}}}}}}}}
exporters: {{prometheus: {{endpoint: 127.0.0.1:0}}}}
service: {{pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheus]}}}}}}
"
        ),
        "upstream",
    )
    .unwrap();
    let upstream = app::start(&upstream_config).await.unwrap();
    let received = upstream.counters.values().next().unwrap().grpc.clone();

    // 4. ...and the gateway restarts on the same directory.
    let mut vigil = Vigil::start(&config);
    wait_for_port(vigil_port, &mut vigil);
    let want = (REQUESTS * POINTS_PER_REQUEST) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.metrics.accepted.load(Ordering::Relaxed) < want {
        if Instant::now() > deadline {
            panic!(
                "only {} of {want} points arrived:\n{}",
                received.metrics.accepted.load(Ordering::Relaxed),
                vigil.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything sent twice would arrive within these seconds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(received.metrics.accepted.load(Ordering::Relaxed), want);
    assert_eq!(
        upstream.store.as_deref().unwrap().series_count(),
        want as usize,
        "every point is its own series"
    );
    let stderr = vigil.stderr();
    upstream.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The `prometheusremotewrite` exporter's WAL keeps the same promise: with the database down,
/// every acknowledged point is on disk; `kill -9`; the database comes back, the collector
/// restarts on the same WAL, and every sample is in Prometheus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_wal_survives_kill_9() {
    use vigil_tests::peers::Tsdb;
    let mut tsdb = tokio::task::block_in_place(Tsdb::prometheus2);
    tokio::task::block_in_place(|| tsdb.stop());
    let dir = std::env::temp_dir().join(format!("vigil-wal-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vigil_port = free_port();
    let config = dir.join("remote-write.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{vigil_port}}}
exporters:
  prometheusremotewrite:
    endpoint: {url}
    target_info: {{enabled: false}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 0}}
    remote_write_queue: {{num_consumers: 3}}
    wal: {{directory: {wal}}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}
",
            url = tsdb.remote_write_url(),
            wal = dir.join("wal").display()
        ),
    )
    .unwrap();

    // 1. The database is down: every request is acknowledged into the WAL.
    let mut vigil = Vigil::start(&config);
    wait_for_port(vigil_port, &mut vigil);
    let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{vigil_port}"))
        .await
        .unwrap();
    for r in 0..REQUESTS {
        let response = client.export(request(r)).await;
        assert!(response.is_ok(), "request {r} refused: {response:?}");
    }
    drop(client);

    // 2. kill -9 while the shards retry against the dead database.
    vigil.0.kill().unwrap();
    vigil.0.wait().unwrap();

    // 3. The database comes back and the collector restarts on the same WAL.
    tokio::task::block_in_place(|| tsdb.restart());
    let mut vigil = Vigil::start(&config);
    wait_for_port(vigil_port, &mut vigil);
    let want = REQUESTS * POINTS_PER_REQUEST;
    let got = tokio::task::block_in_place(|| {
        tsdb.wait_for_query(
            "count({__name__=~\".+\"})",
            |got| got.first().is_some_and(|s| s.value as usize >= want),
            Duration::from_secs(60),
        )
    });
    assert_eq!(got[0].value as usize, want, "{}", vigil.stderr());
    let _ = std::fs::remove_dir_all(&dir);
}

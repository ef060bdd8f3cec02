//! Vigil's pipelines against the real OpenTelemetry Collector (otelcol
//! v0.161.0) and the OpenTelemetry Go SDK, in both directions: what Vigil
//! forwards arrives in otelcol exactly as the Go client sent it (processors
//! changing only what they are configured to change), what otelcol forwards
//! arrives in Vigil's `/metrics` as the exact samples, the sample configs in
//! `otel-config/` mean the same to both collectors, and a memory queue
//! delivers exactly what it acknowledged through an outage.
//!
//! Each test starts its own peers on loopback ports and waits at most
//! [`WAIT`] for any one thing; a failure quotes otelcol's log tail (its
//! `Drop` prints it while the test panics) and keeps its directory.
//!
//! The test bodies run on the runtime's `block_on` thread, and Vigil's tasks
//! on the two worker threads, so the blocking peer helpers (the Go client,
//! `OtlpToFile::wait_for`) are called directly: they stall no collector task.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser as _;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use serde_json::json;
use vigil_collector::app::{self, Running};
use vigil_collector::config::{Cli, ComponentId, Config};
use vigil_collector::receiver::Counters;
use vigil_tests::peers::{
    Attributes, FileExport, GoClient, GoSummary, MetricKind, MetricPoint, Otelcol, OtlpToFile,
    PointValue, Protocol, Scope, TempDir, WAIT, assert_same_items, free_port,
    otelcol_validate_with_env,
};

use vigil_tests::check_exposition;

use crate::support::{OPENMETRICS, get};

/// The attribute the `resource` processor adds in the forwarding tests.
const ENVIRONMENT_KEY: &str = "deployment.environment";

/// The Go client's documented shape: 5 points, 3 spans, 3 log records.
const GO_POINTS: u64 = 5;
const GO_SPANS: u64 = 3;
const GO_LOGS: u64 = 3;

/// A pipeline signal, to say where the processors go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Metrics,
    Traces,
    Logs,
}

const SIGNALS: [Signal; 3] = [Signal::Metrics, Signal::Traces, Signal::Logs];

impl Signal {
    fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }
}

// === helpers ===

async fn start_vigil(config: &Config) -> Running {
    app::start(config).await.expect("Vigil starts")
}

fn vigil_config(yaml: &str) -> Config {
    Config::from_yaml_str(yaml, "forwarding test")
        .unwrap_or_else(|e| panic!("Vigil refuses the test config: {e}\n{yaml}"))
}

/// The counters of Vigil's receiver `otlp`, both transports added up: a copy as of now.
fn otlp_counters(vigil: &Running) -> Counters {
    let id = ComponentId::parse("otlp").expect("a valid id");
    vigil.counters.get(&id).expect("receiver otlp runs").total()
}

/// Polls `done` every 50 ms for at most [`WAIT`].
///
/// # Panics
/// On time-out, with `what` and `context()`.
async fn wait_until(what: &str, done: impl Fn() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `items` as they look after the `resource` processor upserted
/// `deployment.environment=test` into their resource.
fn with_environment<T: Clone>(items: &[T], resource: impl Fn(&mut T) -> &mut Attributes) -> Vec<T> {
    items
        .iter()
        .cloned()
        .map(|mut item| {
            resource(&mut item).insert(ENVIRONMENT_KEY.to_owned(), json!("test"));
            item
        })
        .collect()
}

/// Waits until `sink` holds at least everything the Go client reported for
/// its service, then a few flush intervals more (so a duplicate would show
/// up too), and returns that service's part of the file.
fn wait_for_go_client(sink: &OtlpToFile, sent: &GoSummary) -> FileExport {
    let service = sent.service.clone();
    sink.wait_for("everything the Go client sent", |e| {
        let e = e.for_service(&service);
        e.metric_points().len() >= sent.metrics.len()
            && e.spans().len() >= sent.spans.len()
            && e.log_records().len() >= sent.logs.len()
    });
    thread::sleep(Duration::from_millis(500));
    sink.read().for_service(&sent.service)
}

// === 1. Vigil forwards to the OpenTelemetry Collector ===

/// Vigil: receiver `otlp` (gRPC and HTTP on free ports), one pipeline per
/// signal into `exporter`, with `batch` in the `batched` pipeline and
/// `resource` in the `tagged` one.
fn forwarding_config(exporter: &str, to: &OtlpToFile, batched: Signal, tagged: Signal) -> String {
    let exporter_yaml = match exporter {
        "otlp" => format!(
            "otlp:\n    endpoint: {}\n    tls: {{insecure: true}}",
            to.grpc
        ),
        "otlphttp" => format!("otlphttp:\n    endpoint: http://{}", to.http),
        other => panic!("no such forwarding exporter in this test: {other}"),
    };
    let pipelines: String = SIGNALS
        .iter()
        .map(|&s| {
            let processors = match (s == batched, s == tagged) {
                (true, true) => "[batch, resource]",
                (true, false) => "[batch]",
                (false, true) => "[resource]",
                (false, false) => "[]",
            };
            format!(
                "    {}: {{receivers: [otlp], processors: {processors}, exporters: [{exporter}]}}\n",
                s.as_str()
            )
        })
        .collect();
    format!(
        "\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0}}
      http: {{endpoint: 127.0.0.1:0}}
processors:
  batch: {{timeout: 100ms}}
  resource:
    attributes: [{{key: {ENVIRONMENT_KEY}, value: test, action: upsert}}]
exporters:
  {exporter_yaml}
service:
  pipelines:
{pipelines}"
    )
}

/// The Go client → Vigil over `inbound` → Vigil's `exporter` → otelcol's
/// file: every point, span and log record arrives exactly as sent, except
/// that the `tagged` pipeline's resources gained `deployment.environment`.
async fn go_client_through_vigil_arrives_exactly(
    inbound: Protocol,
    exporter: &str,
    batched: Signal,
    tagged: Signal,
) {
    let sink = OtlpToFile::start();
    let yaml = forwarding_config(exporter, &sink, batched, tagged);
    let vigil = start_vigil(&vigil_config(&yaml)).await;
    let endpoint = match inbound {
        Protocol::Grpc => vigil.grpc_addr,
        Protocol::Http => vigil.http_addr,
    }
    .expect("Vigil serves both protocols");

    let service = format!("via-vigil-{}-{exporter}", inbound.as_str());
    let sent = GoClient::new(inbound, endpoint)
        .with_service(&service)
        .run();
    assert_eq!(
        (sent.metrics.len(), sent.spans.len(), sent.logs.len()),
        (GO_POINTS as usize, GO_SPANS as usize, GO_LOGS as usize),
        "{}",
        sent.raw
    );
    assert!(
        !sent.metrics[0].resource.contains_key(ENVIRONMENT_KEY),
        "the Go client must not set {ENVIRONMENT_KEY} itself: {:?}",
        sent.metrics[0].resource
    );

    let got = wait_for_go_client(&sink, &sent);
    let (points, spans, logs) = (got.metric_points(), got.spans(), got.log_records());

    // Only the tagged pipeline's resources changed, every one of them.
    let tagged_resources: Vec<&Attributes> = match tagged {
        Signal::Metrics => points.iter().map(|p| &p.resource).collect(),
        Signal::Traces => spans.iter().map(|s| &s.resource).collect(),
        Signal::Logs => logs.iter().map(|l| &l.resource).collect(),
    };
    assert!(
        !tagged_resources.is_empty()
            && tagged_resources
                .iter()
                .all(|r| r.get(ENVIRONMENT_KEY) == Some(&json!("test"))),
        "every {} resource must carry {ENVIRONMENT_KEY}=test: {tagged_resources:#?}",
        tagged.as_str()
    );

    let is_tagged = |signal: Signal| signal == tagged;
    let want_points = if is_tagged(Signal::Metrics) {
        with_environment(&sent.metrics, |p| &mut p.resource)
    } else {
        sent.metrics.clone()
    };
    let want_spans = if is_tagged(Signal::Traces) {
        with_environment(&sent.spans, |s| &mut s.resource)
    } else {
        sent.spans.clone()
    };
    let want_logs = if is_tagged(Signal::Logs) {
        with_environment(&sent.logs, |l| &mut l.resource)
    } else {
        sent.logs.clone()
    };
    assert_same_items("metric points", &want_points, &points);
    assert_same_items("spans", &want_spans, &spans);
    assert_same_items("log records", &want_logs, &logs);

    // Vigil's own account agrees: all acknowledged, all sent, nothing lost.
    let counters = otlp_counters(&vigil);
    for (signal, want) in [
        (&counters.metrics, GO_POINTS),
        (&counters.traces, GO_SPANS),
        (&counters.logs, GO_LOGS),
    ] {
        assert_eq!(signal.accepted.load(Ordering::Relaxed), want);
        assert_eq!(signal.refused.load(Ordering::Relaxed), 0);
        assert_eq!(signal.dropped.load(Ordering::Relaxed), 0);
    }
    let [forwarding] = vigil.forwarding.as_slice() else {
        panic!("one forwarding exporter expected");
    };
    let stats = &forwarding.stats;
    wait_until(
        "Vigil counting every item as sent",
        || stats.sent_items.load(Ordering::Relaxed) == GO_POINTS + GO_SPANS + GO_LOGS,
        || format!("sent_items = {}", stats.sent_items.load(Ordering::Relaxed)),
    )
    .await;
    assert_eq!(stats.failed_items.load(Ordering::Relaxed), 0);
    assert_eq!(stats.expired_items.load(Ordering::Relaxed), 0);
    assert_eq!(stats.rejected_items.load(Ordering::Relaxed), 0);
    vigil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_client_over_grpc_is_forwarded_by_otlp_to_otelcol_exactly() {
    go_client_through_vigil_arrives_exactly(
        Protocol::Grpc,
        "otlp",
        Signal::Metrics,
        Signal::Traces,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_client_over_http_is_forwarded_by_otlphttp_to_otelcol_exactly() {
    go_client_through_vigil_arrives_exactly(
        Protocol::Http,
        "otlphttp",
        Signal::Logs,
        Signal::Metrics,
    )
    .await;
}

// === 2. The OpenTelemetry Collector sends into Vigil ===

/// otelcol: otlp receiver (gRPC and HTTP) → `batch` → `exporter`, pointed
/// at Vigil with otelcol's defaults otherwise (gzip, retry, queue).
fn otelcol_into_vigil_config(grpc: SocketAddr, http: SocketAddr, exporter_yaml: &str) -> String {
    format!(
        "\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: {grpc}}}
      http: {{endpoint: {http}}}
processors:
  batch: {{}}
exporters:
  {exporter_yaml}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics: {{receivers: [otlp], processors: [batch], exporters: [{id}]}}
",
        id = exporter_yaml.split(':').next().unwrap_or_default()
    )
}

/// The Go client → otelcol over `inbound` → otelcol's `exporter` → Vigil's
/// receiver → `/metrics`.
async fn otelcol_into_vigil_shows_exact_samples(inbound: Protocol, exporter: &str) {
    let vigil = start_vigil(&vigil_config(
        "\
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:0}
      http: {endpoint: 127.0.0.1:0}
exporters:
  prometheus: {endpoint: 127.0.0.1:0}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheus]}
",
    ))
    .await;
    let (vigil_grpc, vigil_http) = (
        vigil.grpc_addr.expect("grpc"),
        vigil.http_addr.expect("http"),
    );
    let listen = vigil.listen_addr.expect("prometheus exporter");
    let exporter_yaml = match exporter {
        "otlp_grpc" => {
            format!("otlp_grpc:\n    endpoint: {vigil_grpc}\n    tls: {{insecure: true}}")
        }
        "otlp_http" => format!("otlp_http:\n    endpoint: http://{vigil_http}"),
        other => panic!("no such otelcol exporter in this test: {other}"),
    };
    let grpc = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let mut otelcol = Otelcol::start(&otelcol_into_vigil_config(grpc, http, &exporter_yaml));
    otelcol.wait_ready(grpc);
    otelcol.wait_ready(http);

    let service = format!("via-otelcol-{exporter}");
    let sent = GoClient::new(
        inbound,
        match inbound {
            Protocol::Grpc => grpc,
            Protocol::Http => http,
        },
    )
    .with_service(&service)
    .with_signals("metrics")
    .run();
    assert_eq!(sent.metrics.len(), GO_POINTS as usize, "{}", sent.raw);

    // `otlp_counters` adds both transports up into a copy: read it again on every poll.
    wait_until(
        "every point of the Go client reaching Vigil",
        || {
            otlp_counters(&vigil)
                .metrics
                .accepted
                .load(Ordering::Relaxed)
                >= GO_POINTS
        },
        || otelcol.log_tail(),
    )
    .await;
    let page = get(listen, "/metrics", None).await;
    let sdk_version = sent.metrics[0].resource["telemetry.sdk.version"]
        .as_str()
        .expect("the Go SDK names its version")
        .to_owned();
    let want = go_client_exposition(&service, &sdk_version);
    // Families come sorted; series within a family in arrival order, which
    // otelcol's batching decides, so lines are compared as sorted lists.
    let sorted = |text: &str| {
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    assert_eq!(
        sorted(&page),
        sorted(&want),
        "Vigil's /metrics differs from the Go client's documented samples\n--- page ---\n{page}\n\
         --- wanted ---\n{want}"
    );
    // Same counts as sent, and nothing else arrived.
    let counters = otlp_counters(&vigil);
    assert_eq!(counters.metrics.accepted.load(Ordering::Relaxed), GO_POINTS);
    assert_eq!(counters.metrics.refused.load(Ordering::Relaxed), 0);
    let openmetrics = get(listen, "/metrics", Some(OPENMETRICS)).await;
    check_exposition(&page, &openmetrics);
    drop(otelcol);
    vigil.shutdown().await;
}

/// The Go client's metrics (documented in `tests/go-client/main.go`) as
/// Vigil exposes them: `service.name` becomes `job`, the scope
/// `otel_scope_*` labels, the unit `s` the suffix `_seconds`, `{request}`
/// and `{item}` nothing, a monotonic sum `_total`; the other resource
/// attributes go to `target_info`.
fn go_client_exposition(job: &str, sdk_version: &str) -> String {
    let scope = r#"otel_scope_name="vigil.go-client",otel_scope_version="1.0.0""#;
    let series = |attrs: &str| format!(r#"job="{job}",{attrs},{scope}"#);
    let mut text = String::from(
        "# HELP go_client_duration_seconds Request duration, by route.\n\
         # TYPE go_client_duration_seconds histogram\n",
    );
    for (route, buckets, sum, count) in [
        ("/a", [1, 3, 4, 5, 6], "13.25", 6),
        ("/b", [0, 1, 1, 1, 1], "0.4", 1),
    ] {
        let labels = series(&format!(r#"route="{route}""#));
        for (le, n) in ["0.1", "0.5", "1", "5", "+Inf"].iter().zip(buckets) {
            text += &format!("go_client_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n");
        }
        text += &format!("go_client_duration_seconds_sum{{{labels}}} {sum}\n");
        text += &format!("go_client_duration_seconds_count{{{labels}}} {count}\n");
    }
    text += &format!(
        "# HELP go_client_queue_depth Items waiting, by queue.\n\
         # TYPE go_client_queue_depth gauge\n\
         go_client_queue_depth{{{queue}}} 9\n\
         # HELP go_client_requests_total Requests handled, by route.\n\
         # TYPE go_client_requests_total counter\n\
         go_client_requests_total{{{a}}} 7\n\
         go_client_requests_total{{{b}}} 5\n\
         # HELP target_info Target metadata\n\
         # TYPE target_info gauge\n\
         target_info{{job=\"{job}\",telemetry_sdk_language=\"go\",\
         telemetry_sdk_name=\"opentelemetry\",telemetry_sdk_version=\"{sdk_version}\"}} 1\n",
        queue = series(r#"queue="main""#),
        a = series(r#"route="/a""#),
        b = series(r#"route="/b""#),
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otelcol_otlp_grpc_exporter_into_vigil_shows_exact_samples() {
    otelcol_into_vigil_shows_exact_samples(Protocol::Grpc, "otlp_grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otelcol_otlp_http_exporter_into_vigil_shows_exact_samples() {
    otelcol_into_vigil_shows_exact_samples(Protocol::Http, "otlp_http").await;
}

// === 3. otel-config/ means the same to both collectors ===

/// The environment the samples need: the ones without a default
/// (`VENDOR_API_KEY`) and the queue directories, in `dir`.
fn sample_env(dir: &Path) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("VENDOR_API_KEY", "test-api-key".to_owned()),
        (
            "VIGIL_QUEUE_DIR",
            dir.join("queue").to_string_lossy().into_owned(),
        ),
    ])
}

/// Vigil's loading of `path` with `env` as the whole environment: what
/// `Config::load` does, except that the variables come from `env` (this
/// crate forbids `unsafe`, so it cannot `set_var` for `Config::load`).
fn vigil_load(
    path: &Path,
    text: &str,
    env: &BTreeMap<&'static str, String>,
) -> Result<Config, String> {
    Config::from_yaml_str_with_env(text, &path.display().to_string(), &|name| {
        env.get(name).cloned()
    })
    .map_err(|e| e.to_string())
}

fn otelcol_check(path: &Path, env: &BTreeMap<&'static str, String>) -> (Option<i32>, String) {
    let out = otelcol_validate_with_env(path, env.iter());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample_configs() -> Vec<PathBuf> {
    let dir = vigil_tests::repo_root().join("otel-config");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_sample_config_passes_otelcol_validate_and_vigils_loading() {
    let dir = TempDir::new("samples");
    let env = sample_env(dir.path());
    let files = sample_configs();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    // The two that need the environment are among them, so it is exercised.
    for needed in ["gateway.yaml", "otlp-persistent-queue.yaml"] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing: {names:?}"
        );
    }
    for path in &files {
        let text = fs::read_to_string(path).expect("read sample");
        let (code, stderr) = otelcol_check(path, &env);
        assert_eq!(
            code,
            Some(0),
            "otelcol validate refuses {}:\n{stderr}",
            path.display()
        );
        if let Err(e) = vigil_load(path, &text, &env) {
            panic!("Vigil refuses {}: {e}", path.display());
        }
    }
}

#[test]
fn a_sample_with_an_unknown_key_is_refused_by_both_collectors() {
    let dir = TempDir::new("samples-bad");
    let env = sample_env(dir.path());
    let gateway = vigil_tests::repo_root()
        .join("otel-config")
        .join("gateway.yaml");
    let text = fs::read_to_string(&gateway).expect("read gateway.yaml");
    // (the key, the edit that introduces it)
    let cases = [
        (
            "no_such_key",
            "    send_batch_size: 8192\n",
            "    send_batch_size: 8192\n    no_such_key: 1\n",
        ),
        (
            "retry_forever",
            "sending_queue: { enabled: true,",
            "sending_queue: { enabled: true, retry_forever: true,",
        ),
        ("grcp", "grpc: { endpoint", "grcp: { endpoint"),
    ];
    for (key, from, to) in cases {
        assert!(
            text.contains(from),
            "gateway.yaml no longer contains {from:?}"
        );
        let bad = text.replacen(from, to, 1);
        let path = dir.path().join(format!("gateway-{key}.yaml"));
        fs::write(&path, &bad).expect("write config");

        let (code, stderr) = otelcol_check(&path, &env);
        assert_eq!(
            code,
            Some(1),
            "otelcol must refuse `{key}`:\n{stderr}\n{bad}"
        );
        assert!(
            stderr.contains(key),
            "otelcol's error must name `{key}`:\n{stderr}"
        );

        match vigil_load(&path, &bad, &env) {
            Ok(_) => panic!("Vigil must refuse `{key}`:\n{bad}"),
            Err(e) => assert!(e.contains(key), "Vigil's error must name `{key}`: {e}"),
        }
    }
    // The unedited file passes both, so the edit is what they refuse.
    let path = dir.path().join("gateway.yaml");
    fs::write(&path, &text).expect("write config");
    assert_eq!(otelcol_check(&path, &env).0, Some(0));
    assert!(vigil_load(&path, &text, &env).is_ok());
}

// === 4. The persistent-queue example runs on Vigil unchanged ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otelcol_docs_persistent_queue_example_forwards_exactly() {
    let sink = OtlpToFile::start();
    let queue = TempDir::new("persistent-queue");
    let path = vigil_tests::repo_root()
        .join("otel-config")
        .join("otlp-persistent-queue.yaml");
    let text = fs::read_to_string(&path).expect("read the sample");
    // `http://`: the sample's exporter has no `tls` key, so with a bare
    // `host:port` both collectors speak TLS, which otelcol's plaintext
    // receiver here refuses (Vigil retries forever and nothing arrives).
    // Vigil, like the OTLP SDKs, reads an `http://` endpoint as plaintext.
    let env = BTreeMap::from([
        ("UPSTREAM_OTLP_ENDPOINT", format!("http://{}", sink.grpc)),
        (
            "VIGIL_QUEUE_DIR",
            queue.path().join("otc").to_string_lossy().into_owned(),
        ),
    ]);
    let mut config = vigil_load(&path, &text, &env)
        .unwrap_or_else(|e| panic!("Vigil refuses {}: {e}", path.display()));
    // Port 0: the receiver binds a free port, which `Running` reports.
    let cli = Cli::try_parse_from(["vigil-collector", "--otlp-grpc", "127.0.0.1:0"])
        .expect("valid flags");
    config.apply_cli(&cli).expect("the flag applies");
    let vigil = start_vigil(&config).await;
    let grpc = vigil.grpc_addr.expect("the sample serves OTLP/gRPC");

    let sent = GoClient::new(Protocol::Grpc, grpc)
        .with_service("persistent-queue")
        .run();
    let got = wait_for_go_client(&sink, &sent);
    assert_same_items("metric points", &sent.metrics, &got.metric_points());
    assert_same_items("spans", &sent.spans, &got.spans());
    assert_same_items("log records", &sent.logs, &got.log_records());

    let [forwarding] = vigil.forwarding.as_slice() else {
        panic!("the sample has one forwarding exporter");
    };
    assert_eq!(forwarding.id.as_str(), "otlp_grpc");
    let stats = &forwarding.stats;
    wait_until(
        "Vigil counting every item as sent",
        || stats.sent_items.load(Ordering::Relaxed) == GO_POINTS + GO_SPANS + GO_LOGS,
        || format!("sent_items = {}", stats.sent_items.load(Ordering::Relaxed)),
    )
    .await;
    assert_eq!(stats.failed_items.load(Ordering::Relaxed), 0);
    assert_eq!(stats.expired_items.load(Ordering::Relaxed), 0);
    vigil.shutdown().await;
}

// === 5. An outage with a memory queue ===

const OUTAGE_METRIC: &str = "outage.points";
const POINTS_PER_REQUEST: usize = 3;
/// Far more requests than a queue of 5 can take.
const MAX_REQUESTS: usize = 50;

/// Request `r`: `POINTS_PER_REQUEST` cumulative sums, point `p` with
/// attribute `point="r-p"` and value `10 r + p`.
fn outage_request(r: usize) -> ExportMetricsServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
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
            value: Some(number_data_point::Value::AsInt((10 * r + p) as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![Metric {
                    name: OUTAGE_METRIC.into(),
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

/// The points of request `r` as otelcol's file shows them.
fn outage_points(r: usize) -> Vec<MetricPoint> {
    (0..POINTS_PER_REQUEST)
        .map(|p| MetricPoint {
            resource: Attributes::new(),
            scope: Scope::default(),
            metric: OUTAGE_METRIC.to_owned(),
            unit: "1".to_owned(),
            kind: MetricKind::Sum {
                monotonic: true,
                cumulative: true,
            },
            attributes: Attributes::from([("point".to_owned(), json!(format!("{r}-{p}")))]),
            value: PointValue::Int((10 * r + p) as i64),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_queue_delivers_exactly_the_acknowledged_points_after_an_outage() {
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let vigil = start_vigil(&vigil_config(&format!(
        "\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0}}
exporters:
  otlp:
    endpoint: {upstream}
    tls: {{insecure: true}}
    sending_queue: {{queue_size: 5, num_consumers: 1}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [otlp]}}
"
    )))
    .await;
    let grpc = vigil.grpc_addr.expect("grpc");

    // 1. Nothing listens upstream: send until Vigil's queue is full.
    let mut client = MetricsServiceClient::connect(format!("http://{grpc}"))
        .await
        .expect("connect to Vigil");
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for r in 0..MAX_REQUESTS {
        let answer = tokio::time::timeout(WAIT, client.export(outage_request(r)))
            .await
            .unwrap_or_else(|_| panic!("Vigil did not answer request {r} within {WAIT:?}"));
        match answer {
            Ok(_) => acknowledged.push(r),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let Some(refusal) = refusal else {
        panic!(
            "Vigil acknowledged all {MAX_REQUESTS} requests with a queue of 5 and nothing upstream"
        );
    };
    assert_eq!(refusal.code(), tonic::Code::Unavailable, "{refusal:?}");
    // The queue's 5 batches plus at most the consumer's one in flight.
    assert!(
        (5..=6).contains(&acknowledged.len()),
        "acknowledged {} requests with queue_size 5 and one consumer",
        acknowledged.len()
    );
    let counters = otlp_counters(&vigil);
    let acked_points = (acknowledged.len() * POINTS_PER_REQUEST) as u64;
    assert_eq!(
        counters.metrics.accepted.load(Ordering::Relaxed),
        acked_points
    );
    assert_eq!(
        counters.metrics.refused.load(Ordering::Relaxed),
        POINTS_PER_REQUEST as u64
    );
    drop(client);

    // 2. The upstream comes up on that very port.
    let sink = OtlpToFile::start_on(
        upstream,
        SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())),
    );
    let want: Vec<MetricPoint> = acknowledged
        .iter()
        .flat_map(|&r| outage_points(r))
        .collect();
    sink.wait_for("every acknowledged point", |e| {
        e.metric_points().len() >= want.len()
    });
    // Retries come every 200 ms at most: a duplicate would show by now.
    thread::sleep(Duration::from_millis(1000));
    assert_same_items("points", &want, &sink.read().metric_points());

    let [forwarding] = vigil.forwarding.as_slice() else {
        panic!("one forwarding exporter expected");
    };
    let stats = &forwarding.stats;
    wait_until(
        "Vigil counting every acknowledged point as sent",
        || stats.sent_items.load(Ordering::Relaxed) == acked_points,
        || format!("sent_items = {}", stats.sent_items.load(Ordering::Relaxed)),
    )
    .await;
    assert!(
        stats.retries.load(Ordering::Relaxed) > 0,
        "the outage must have cost retries"
    );
    assert_eq!(stats.failed_items.load(Ordering::Relaxed), 0);
    assert_eq!(stats.expired_items.load(Ordering::Relaxed), 0);
    vigil.shutdown().await;
}

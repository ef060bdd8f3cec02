//! The test peers on their own, before any Vigil test leans on them: the Go
//! SDK client (`tests/go-client`) exports metrics, traces and logs over OTLP
//! gRPC and HTTP into a real OpenTelemetry Collector (otlp receiver → file
//! exporter), and every data point, span and log record it says it sent
//! arrives exactly once, unchanged; `otelcol validate` accepts a valid
//! configuration naming every component of `scripts/peers/otelcol-builder.yaml`
//! and rejects an unknown key.
//!
//! If these fail, the harness is broken (a peer was built wrong, or the
//! helpers in `vigil_tests::peers` misread what it wrote), not Vigil.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::Duration;

use serde_json::json;
use vigil_tests::peers::{
    FileExport, GoClient, Histogram, MetricKind, OtlpToFile, PointValue, Protocol, TempDir,
    assert_same_items, free_port, otelcol_validate,
};

/// Sends everything with the Go client and compares it with the file.
fn go_client_arrives_exactly(protocol: Protocol) {
    let sink = OtlpToFile::start();
    let endpoint = match protocol {
        Protocol::Grpc => sink.grpc,
        Protocol::Http => sink.http,
    };
    let service = format!("go-client-{}", protocol.as_str());
    let sent = GoClient::new(protocol, endpoint)
        .with_service(&service)
        .run();

    // The shape main.go documents: 5 points, 3 spans, 3 log records.
    assert_eq!(
        (sent.metrics.len(), sent.spans.len(), sent.logs.len()),
        (5, 3, 3),
        "{}",
        sent.raw
    );

    let complete = |e: &FileExport| {
        let e = e.for_service(&service);
        e.metric_points().len() >= sent.metrics.len()
            && e.spans().len() >= sent.spans.len()
            && e.log_records().len() >= sent.logs.len()
    };
    sink.wait_for("everything the Go client sent", complete);
    // Every export returned before the client exited; give the exporter a
    // few flush intervals so a duplicate would show up too.
    thread::sleep(Duration::from_millis(300));
    let got = sink.read().for_service(&service);

    let points = got.metric_points();
    assert_same_items("metric points", &sent.metrics, &points);
    assert_same_items("spans", &sent.spans, &got.spans());
    assert_same_items("log records", &sent.logs, &got.log_records());

    // The summary and the file agree; check a few values against the
    // documentation too, so they cannot agree on something wrong.
    let point = |metric: &str, route: &str| {
        points
            .iter()
            .find(|p| p.metric == metric && p.attributes.get("route") == Some(&json!(route)))
            .unwrap_or_else(|| panic!("no {metric}{{route={route}}} in {points:#?}"))
    };
    let requests = point("go.client.requests", "/a");
    assert_eq!(requests.value, PointValue::Int(7));
    assert_eq!(requests.unit, "{request}");
    assert_eq!(
        requests.kind,
        MetricKind::Sum {
            monotonic: true,
            cumulative: true
        }
    );
    assert_eq!(requests.resource.get("service.name"), Some(&json!(service)));
    assert_eq!(requests.scope.name, "vigil.go-client");
    assert_eq!(
        point("go.client.duration", "/a").value,
        PointValue::Histogram(Histogram {
            count: 6,
            sum: Some(13.25),
            min: Some(0.05),
            max: Some(10.0),
            bounds: vec![0.1, 0.5, 1.0, 5.0],
            bucket_counts: vec![1, 2, 1, 1, 1],
        })
    );
    let spans = got.spans();
    assert_eq!(spans[0].attributes.get("span.index"), Some(&json!(0)));
    let logs = got.log_records();
    let bodies: Vec<(&str, i64)> = logs
        .iter()
        .map(|l| (l.body.as_str(), l.severity_number))
        .collect();
    assert_eq!(bodies, [("go-log-0", 9), ("go-log-1", 13), ("go-log-2", 9)]);
}

#[test]
fn go_client_over_grpc_arrives_exactly() {
    go_client_arrives_exactly(Protocol::Grpc);
}

#[test]
fn go_client_over_http_arrives_exactly() {
    go_client_arrives_exactly(Protocol::Http);
}

#[test]
fn go_client_fails_when_nothing_listens() {
    let nobody = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let err = GoClient::new(Protocol::Http, nobody)
        .with_signals("metrics")
        .with_timeout(Duration::from_millis(500))
        .try_run()
        .expect_err("no receiver, so the export must fail");
    assert!(err.contains("export failed"), "{err}");
}

/// Every component of the builder manifest, in one pipeline set.
fn every_component_config(dir: &TempDir) -> String {
    let d = dir.path().display();
    format!(
        "\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
      http: {{endpoint: 127.0.0.1:{http}}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: 256}}
  batch: {{}}
  deltatocumulative: {{}}
exporters:
  debug: {{}}
  file: {{path: {d}/out.jsonl}}
  otlp:
    endpoint: 127.0.0.1:1
    tls: {{insecure: true}}
    sending_queue: {{storage: file_storage}}
  otlphttp: {{endpoint: 'http://127.0.0.1:1'}}
  prometheus: {{endpoint: '127.0.0.1:{prom}'}}
  prometheusremotewrite: {{endpoint: 'http://127.0.0.1:1/api/v1/write'}}
extensions:
  file_storage: {{directory: {d}}}
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, deltatocumulative, batch]
      exporters: [otlp, otlphttp, prometheus, prometheusremotewrite, file, debug]
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp, otlphttp, file]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp, otlphttp, file]
",
        grpc = free_port(),
        http = free_port(),
        prom = free_port(),
    )
}

#[test]
fn otelcol_validate_accepts_valid_configs_and_rejects_unknown_keys() {
    let dir = TempDir::new("validate");
    let check = |name: &str, yaml: &str| {
        let path = dir.path().join(name);
        fs::write(&path, yaml).expect("write config");
        let out = otelcol_validate(&path);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let valid = [
        ("every-component.yaml", every_component_config(&dir)),
        (
            "otlp-to-file.yaml",
            OtlpToFile::config(
                SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())),
                SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())),
            ),
        ),
    ];
    for (name, yaml) in &valid {
        let (code, stderr) = check(name, yaml);
        assert_eq!(code, Some(0), "{name} must validate:\n{stderr}\n{yaml}");
    }

    let unknown_key = valid[0].1.replace("batch: {}", "batch: {no_such_key: 1}");
    let (code, stderr) = check("unknown-key.yaml", &unknown_key);
    assert_eq!(code, Some(1), "an unknown key must be rejected:\n{stderr}");
    assert!(
        stderr.contains("invalid keys: no_such_key"),
        "the error must name the key:\n{stderr}"
    );

    let unknown_component = valid[0].1.replace("debug: {}", "nosuchexporter: {}");
    let (code, stderr) = check("unknown-component.yaml", &unknown_component);
    assert_eq!(
        code,
        Some(1),
        "an unknown component must be rejected:\n{stderr}"
    );
}

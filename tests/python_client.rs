//! A client nobody here wrote: the OpenTelemetry Python SDK
//! (`opentelemetry-sdk` with the OTLP gRPC and HTTP exporters, pinned in
//! `scripts/requirements-test.txt`) sends counters, an up-down counter, a
//! histogram with View boundaries, an observable counter and an observable
//! gauge to one collector, once per protocol × temporality.
//!
//! `scripts/otel_python_client.py` records known values in two exports
//! (its docstring has the table), so a delta client sends two deltas that the
//! collector must add up to the same totals a cumulative client reports.
//! The four runs go to one collector at the same time, each under its own
//! `service.name`; the test then asserts the whole text page line by line,
//! the OpenMetrics page's own spellings, the snapshot's values and
//! metadata, and the collector's counters (nothing refused, reset or out of
//! order). Both pages also go through promtool and prometheus_client's
//! parsers (`check_exposition`).
//!
//! The Python SDK's defaults are part of what is tested: its resource has
//! `telemetry.sdk.*` (→ `target_info`) and a random `service.instance.id`
//! (→ `instance`, read back from the snapshot and expected on every line).

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use vigil_proto::snapshot::{Service, Snapshot};
use vigil_tests::{check_exposition, python, repo_root};

use crate::pki::Pki;
use crate::support::{OPENMETRICS, get, start_collector};

/// One run of the Python client.
#[derive(Clone, Copy, Debug)]
struct Run {
    protocol: &'static str,
    temporality: &'static str,
}

impl Run {
    fn service(self) -> String {
        format!("py-{}-{}", self.protocol, self.temporality)
    }
}

const RUNS: [Run; 4] = [
    Run {
        protocol: "grpc",
        temporality: "cumulative",
    },
    Run {
        protocol: "grpc",
        temporality: "delta",
    },
    Run {
        protocol: "http",
        temporality: "cumulative",
    },
    Run {
        protocol: "http",
        temporality: "delta",
    },
];

/// Points one run sends: 5 in the first export (one per instrument), 6 in
/// the second (the counter gains an `outcome="error"` series).
const POINTS_PER_RUN: u64 = 11;

const SCOPE: &str = r#"otel_scope_name="interop.python",otel_scope_version="0.9.0""#;

/// Runs the script to completion; panics with its output when it fails.
fn run_client(run: Run, endpoint: &str) -> Duration {
    run_client_with(run, endpoint, None)
}

/// [`run_client`] over TLS when `ca_file` is given (the endpoint is then `https://`).
fn run_client_with(run: Run, endpoint: &str, ca_file: Option<&str>) -> Duration {
    let script = repo_root().join("scripts").join("otel_python_client.py");
    let python = python();
    let mut cmd = Command::new(&python);
    // -I: isolated mode, ignores PYTHONPATH / user site-packages.
    cmd.arg("-I")
        .arg(&script)
        .args(["--endpoint", endpoint])
        .args(["--protocol", run.protocol])
        .args(["--temporality", run.temporality])
        .args(["--service", &run.service()]);
    if let Some(ca) = ca_file {
        cmd.args(["--ca-file", ca]);
        // requests lets these variables win over the session's CA file (its long-standing
        // precedence rule), and some machines set them to the system bundle.
        cmd.env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE");
    }
    // The SDK reads OTEL_* (resource attributes, exporter settings): the
    // expected pages must not depend on the developer's environment.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(&key);
        }
    }
    let started = Instant::now();
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{run:?}: {} exited with {}\nstdout:\n{}\nstderr:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// The text page's lines for one service, `instance` and SDK version as the
/// snapshot reports them.
fn expected_lines(run: Run, instance: &str, sdk_version: &str) -> Vec<String> {
    let l = format!(r#"job="{}",instance="{instance}""#, run.service());
    let route = r#"http_route="/a""#;
    vec![
        format!(r#"app_bytes_sent_bytes_total{{{l},direction="out",{SCOPE}}} 2500"#),
        format!("app_queue_depth{{{l},{SCOPE}}} 3"),
        format!(r#"app_request_duration_seconds_bucket{{{l},{SCOPE},le="0.1"}} 1"#),
        format!(r#"app_request_duration_seconds_bucket{{{l},{SCOPE},le="0.5"}} 3"#),
        format!(r#"app_request_duration_seconds_bucket{{{l},{SCOPE},le="1"}} 3"#),
        format!(r#"app_request_duration_seconds_bucket{{{l},{SCOPE},le="+Inf"}} 4"#),
        format!("app_request_duration_seconds_sum{{{l},{SCOPE}}} 2.65"),
        format!("app_request_duration_seconds_count{{{l},{SCOPE}}} 4"),
        format!(r#"app_requests_total{{{l},{route},outcome="ok",{SCOPE}}} 6"#),
        format!(r#"app_requests_total{{{l},{route},outcome="error",{SCOPE}}} 1"#),
        format!(r#"app_temperature_celsius{{{l},sensor="cpu",{SCOPE}}} 42.5"#),
        format!(
            r#"target_info{{{l},deployment_environment_name="e2e",telemetry_sdk_language="python",telemetry_sdk_name="opentelemetry",telemetry_sdk_version="{sdk_version}"}} 1"#
        ),
    ]
}

const FAMILY_LINES: [&str; 9] = [
    "# TYPE app_bytes_sent_bytes_total counter",
    "# TYPE app_queue_depth gauge",
    "# HELP app_request_duration_seconds Request time.",
    "# TYPE app_request_duration_seconds histogram",
    "# HELP app_requests_total Requests handled.",
    "# TYPE app_requests_total counter",
    "# TYPE app_temperature_celsius gauge",
    "# HELP target_info Target metadata",
    "# TYPE target_info gauge",
];

fn sorted(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = lines.into_iter().collect();
    v.sort();
    v
}

/// Everything the snapshot must say about one run; returns its
/// `(instance, telemetry.sdk.version)`.
fn assert_service(svc: &Service, run: Run) -> (String, String) {
    let service = run.service();
    assert_eq!(svc.service, service);
    assert_eq!(svc.job.as_deref(), Some(service.as_str()), "no namespace");
    let instance = svc
        .instance
        .clone()
        .expect("the SDK sets service.instance.id");
    assert_eq!(
        svc.resource.get("service.instance.id"),
        Some(&json!(instance))
    );
    assert!(
        instance.len() == 36 && instance.matches('-').count() == 4,
        "a UUID, as the Python SDK makes it: {instance}"
    );
    let res = |k: &str| svc.resource.get(k).cloned();
    assert_eq!(res("telemetry.sdk.language"), Some(json!("python")));
    assert_eq!(res("telemetry.sdk.name"), Some(json!("opentelemetry")));
    assert_eq!(res("deployment.environment.name"), Some(json!("e2e")));
    let sdk_version = res("telemetry.sdk.version")
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("telemetry.sdk.version");

    let names: Vec<&str> = svc.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        sorted(names.iter().map(|n| n.to_string())),
        [
            "app.bytes.sent",
            "app.queue.depth",
            "app.request.duration",
            "app.requests",
            "app.temperature"
        ],
        "{service}"
    );
    let metric = |name: &str| {
        svc.metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{service}: {name} missing"))
    };
    for m in &svc.metrics {
        assert_eq!(m.scope.name, "interop.python", "{service} {}", m.name);
        assert_eq!(m.scope.version, "0.9.0", "{service} {}", m.name);
        let expect = (m.kind != "gauge").then_some(run.temporality);
        assert_eq!(m.temporality.as_deref(), expect, "{service} {}", m.name);
    }

    let requests = metric("app.requests");
    assert_eq!(
        (
            requests.kind.as_str(),
            requests.unit.as_str(),
            requests.description.as_str()
        ),
        ("sum", "{request}", "Requests handled.")
    );
    assert_eq!(requests.monotonic, Some(true));
    assert_eq!(
        (
            requests.prometheus.family.as_str(),
            requests.prometheus.kind.as_str()
        ),
        ("app_requests_total", "counter")
    );
    let by_outcome = |outcome: &str| {
        requests
            .series
            .iter()
            .find(|s| s.attributes.get("outcome") == Some(&json!(outcome)))
            .unwrap_or_else(|| panic!("{service}: outcome={outcome} missing"))
    };
    // The cumulative value after two deltas (1+2, then 3) is their sum.
    assert_eq!(by_outcome("ok").value, Some(json!(6)), "{service}");
    assert_eq!(
        by_outcome("ok").attributes.get("http.route"),
        Some(&json!("/a"))
    );
    assert_eq!(by_outcome("error").value, Some(json!(1)), "{service}");
    assert_eq!(requests.series.len(), 2);

    let queue = metric("app.queue.depth");
    assert_eq!(
        (queue.kind.as_str(), queue.unit.as_str()),
        ("sum", "{item}")
    );
    assert_eq!(queue.monotonic, Some(false));
    assert_eq!(queue.prometheus.kind, "gauge");
    // +5 then -2: a delta receiver that replaced instead of adding shows -2.
    assert_eq!(queue.series[0].value, Some(json!(3)), "{service}");

    let duration = metric("app.request.duration");
    assert_eq!(
        (duration.kind.as_str(), duration.unit.as_str()),
        ("histogram", "s")
    );
    assert_eq!(duration.prometheus.family, "app_request_duration_seconds");
    let h = &duration.series[0];
    assert_eq!(h.count, Some(4), "{service}");
    assert_eq!(h.sum, Some(json!(2.65)), "{service}");
    assert_eq!(
        (h.min.clone(), h.max.clone()),
        (Some(json!(0.05)), Some(json!(2.0)))
    );
    let buckets: Vec<(serde_json::Value, u64)> = h
        .buckets
        .as_ref()
        .expect("buckets")
        .iter()
        .map(|b| (b.le.clone(), b.count))
        .collect();
    assert_eq!(
        buckets,
        [
            (json!(0.1), 1),
            (json!(0.5), 3),
            (json!(1.0), 3),
            (json!("+Inf"), 4)
        ],
        "{service}: the View's boundaries, cumulative counts"
    );

    let bytes = metric("app.bytes.sent");
    assert_eq!((bytes.kind.as_str(), bytes.unit.as_str()), ("sum", "By"));
    assert_eq!(bytes.monotonic, Some(true));
    assert_eq!(bytes.prometheus.family, "app_bytes_sent_bytes_total");
    // Observed 1000 then 2500: delta sends 1000 and 1500.
    assert_eq!(bytes.series[0].value, Some(json!(2500)), "{service}");

    let temperature = metric("app.temperature");
    assert_eq!(temperature.kind, "gauge");
    assert_eq!(temperature.prometheus.family, "app_temperature_celsius");
    assert_eq!(temperature.series[0].value, Some(json!(42.5)), "{service}");
    assert_eq!(
        temperature.series[0].attributes.get("sensor"),
        Some(&json!("cpu"))
    );
    (instance, sdk_version)
}

fn assert_openmetrics(om: &str, runs: &[(Run, String)]) {
    assert!(om.ends_with("# EOF\n"), "{om}");
    for line in [
        "# TYPE app_requests counter",
        "# HELP app_requests Requests handled.",
        "# TYPE app_bytes_sent_bytes counter",
        "# UNIT app_bytes_sent_bytes bytes",
        "# UNIT app_request_duration_seconds seconds",
        "# UNIT app_temperature_celsius celsius",
        "# TYPE target info",
    ] {
        assert!(om.lines().any(|l| l == line), "missing {line}\n{om}");
    }
    for (run, instance) in runs {
        let l = format!(r#"job="{}",instance="{instance}""#, run.service());
        for line in [
            format!(r#"app_requests_total{{{l},http_route="/a",outcome="ok",{SCOPE}}} 6"#),
            format!(r#"app_request_duration_seconds_bucket{{{l},{SCOPE},le="1.0"}} 3"#),
        ] {
            assert!(om.lines().any(|x| x == line), "missing {line}\n{om}");
        }
        // Every counter and histogram series has its `_created` line.
        for family in [
            "app_requests",
            "app_bytes_sent_bytes",
            "app_request_duration_seconds",
        ] {
            let prefix = format!("{family}_created{{{l},");
            assert!(
                om.lines().any(|x| x.starts_with(&prefix)),
                "missing {prefix}…\n{om}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_grpc_and_http_cumulative_and_delta_lands_exactly() {
    let started = Instant::now();
    let collector = start_collector(Duration::from_secs(300)).await;
    let endpoint = |run: Run| -> SocketAddr {
        match run.protocol {
            "grpc" => collector.grpc_addr.expect("grpc on"),
            _ => collector.http_addr.expect("http on"),
        }
    };
    // The four clients at once: four processes, one collector.
    let clients: Vec<_> = RUNS
        .iter()
        .map(|&run| {
            let endpoint = format!("http://{}", endpoint(run));
            tokio::task::spawn_blocking(move || (run, run_client(run, &endpoint)))
        })
        .collect();
    let mut timings = Vec::new();
    for client in clients {
        timings.push(client.await.expect("client task"));
    }
    let clients_done = started.elapsed();

    let listen = collector.listen_addr.expect("prometheus exporter");
    let snapshot: Snapshot = serde_json::from_str(&get(listen, "/api/v1/snapshot", None).await)
        .expect("snapshot parses");
    assert_eq!(snapshot.services.len(), RUNS.len(), "{snapshot:?}");
    let mut seen = Vec::new();
    let mut expected: Vec<String> = FAMILY_LINES.iter().map(|l| l.to_string()).collect();
    for run in RUNS {
        let svc = snapshot
            .services
            .iter()
            .find(|s| s.service == run.service())
            .unwrap_or_else(|| panic!("{} missing from the snapshot", run.service()));
        let (instance, sdk_version) = assert_service(svc, run);
        expected.extend(expected_lines(run, &instance, &sdk_version));
        seen.push((run, instance));
    }

    let text = get(listen, "/metrics", None).await;
    let got = sorted(text.lines().map(str::to_string));
    let want = sorted(expected);
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing:\n{missing:#?}\nunexpected:\n{extra:#?}\npage:\n{text}"
    );
    assert_eq!(got, want, "duplicate lines?\n{text}");

    let om = get(listen, "/metrics", Some(OPENMETRICS)).await;
    assert_openmetrics(&om, &seen);
    check_exposition(&text, &om);

    // The collector took every point and needed no repair.
    let counters = collector
        .counters
        .values()
        .next()
        .expect("the otlp receiver")
        .total();
    let accepted = counters.metrics.accepted.load(Ordering::Relaxed);
    assert_eq!(accepted, POINTS_PER_RUN * RUNS.len() as u64);
    assert_eq!(counters.metrics.refused.load(Ordering::Relaxed), 0);
    assert_eq!(counters.bad_requests.load(Ordering::Relaxed), 0);
    let stats = collector
        .store
        .as_deref()
        .expect("prometheus exporter")
        .stats();
    for (name, value) in [
        ("rejected", &stats.rejected_points),
        ("out of order", &stats.out_of_order_points),
        ("resets", &stats.resets),
        ("type conflicts", &stats.type_conflict_points),
    ] {
        assert_eq!(value.load(Ordering::Relaxed), 0, "store: {name}");
    }

    collector.shutdown().await;
    eprintln!(
        "python_client: clients {timings:?} (in parallel, {clients_done:?}), total {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_over_tls_to_both_protocols() {
    let pki = Pki::new("vigil-python-tls");
    let tls = format!(
        "        tls: {{cert_file: {}, key_file: {}}}\n",
        pki.cert, pki.key
    );
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n{tls}      http:\n        endpoint: 127.0.0.1:0\n{tls}\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    );
    let config = vigil_collector::config::Config::from_yaml_str(&yaml, "tls").expect("valid");
    let collector = vigil_collector::app::start(&config).await.expect("starts");
    let runs = [RUNS[0], RUNS[2]];
    for run in runs {
        let addr = match run.protocol {
            "grpc" => collector.grpc_addr.expect("grpc on"),
            _ => collector.http_addr.expect("http on"),
        };
        // The certificate names 127.0.0.1 (and localhost, which may resolve to ::1 first).
        let endpoint = format!("https://{addr}");
        let ca = pki.ca.clone();
        tokio::task::spawn_blocking(move || run_client_with(run, &endpoint, Some(&ca)))
            .await
            .expect("client task");
    }
    let listen = collector.listen_addr.expect("prometheus exporter");
    let snapshot: Snapshot = serde_json::from_str(&get(listen, "/api/v1/snapshot", None).await)
        .expect("snapshot parses");
    for run in runs {
        let svc = snapshot
            .services
            .iter()
            .find(|s| s.service == run.service())
            .unwrap_or_else(|| panic!("{} missing from the snapshot", run.service()));
        assert_service(svc, run);
    }
    assert_eq!(snapshot.services.len(), 2);
    drop(pki.dir);
    collector.shutdown().await;
}

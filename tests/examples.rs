//! Each example service, in its short-running mode, against a collector:
//! the families and label keys it promises, a few values its scenario makes
//! certain, and valid expositions.
//!
//! The examples run as the binaries Cargo builds for `cargo test
//! --all-targets` (`target/<profile>/examples/NAME`), so what is tested is
//! exactly what `cargo run -p examples --example NAME` runs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vigil_proto::snapshot::Snapshot;
use vigil_tests::check_exposition;

use crate::support::{OPENMETRICS, get, start_collector};

/// The built example binary `name`, next to this test binary's profile directory.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/e2e-HASH → target/<profile>/examples/NAME
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let bin = profile.join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run scripts/test (which builds every target), or `cargo build -p examples --examples`",
        bin.display()
    );
    bin
}

/// Run an example in short mode against the collector's gRPC receiver.
async fn run_example(name: &str, grpc: SocketAddr, extra: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new(example_binary(name));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{grpc}"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
        .env("VIGIL_EXAMPLE_DURATION", "6s")
        .envs(extra.iter().copied())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within 90 s"))
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// Prometheus family → label keys (without job, instance and otel_scope_*),
/// for one service, read from the snapshot.
async fn inventory(listen: SocketAddr, service: &str) -> BTreeMap<String, BTreeSet<String>> {
    let snap: Snapshot = serde_json::from_str(
        &get(listen, &format!("/api/v1/snapshot?service={service}"), None).await,
    )
    .expect("snapshot parses");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for svc in &snap.services {
        for m in &svc.metrics {
            let keys = out.entry(m.prometheus.family.clone()).or_default();
            for s in &m.series {
                for k in s.attributes.keys() {
                    keys.insert(vigil_collector::translate::label_name(k).into_owned());
                }
            }
        }
    }
    out
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Asserts the inventory holds `expected` (family → exact label keys).
fn assert_families(
    name: &str,
    got: &BTreeMap<String, BTreeSet<String>>,
    expected: &[(&str, &[&str])],
) {
    for (family, labels) in expected {
        match got.get(*family) {
            None => panic!("{name}: family {family} missing; got {got:#?}"),
            Some(k) => assert_eq!(k, &keys(labels), "{name}: label keys of {family}"),
        }
    }
}

/// The value of the one sample line starting with `prefix` and containing every `parts`.
fn sample(page: &str, prefix: &str, parts: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn pages(listen: SocketAddr) -> String {
    let text = get(listen, "/metrics", None).await;
    let om = get(listen, "/metrics", Some(OPENMETRICS)).await;
    check_exposition(&text, &om);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_service_shows_routes_connections_runtime_and_sweeps() {
    let collector = start_collector(Duration::from_secs(300)).await;
    let grpc = collector.grpc_addr.expect("grpc");
    run_example(
        "http_service",
        grpc,
        &[("EXAMPLE_HTTP_ADDR", "127.0.0.1:0")],
    )
    .await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "http-service",
    )
    .await;
    let http = &[
        "http_request_method",
        "url_scheme",
        "network_protocol_version",
        "http_route",
        "http_response_status_code",
    ][..];
    assert_families(
        "http_service",
        &got,
        &[
            ("http_server_request_duration_seconds", http),
            (
                "http_server_active_requests",
                &["http_request_method", "url_scheme"],
            ),
            ("platform_connections_active", &["connection_kind"]),
            ("platform_sweep_runs_total", &["sweeper", "result"]),
            ("platform_sweep_items_total", &["sweeper", "outcome"]),
            ("platform_sweep_run_duration_seconds", &["sweeper"]),
            ("platform_sweep_last_success_seconds", &["sweeper"]),
            ("platform_process_memory_usage_bytes", &[]),
            ("platform_tokio_workers", &[]),
        ],
    );
    let page = pages(collector.listen_addr.expect("prometheus exporter")).await;
    let count = "http_server_request_duration_seconds_count{";
    assert_eq!(
        sample(
            &page,
            count,
            &[
                r#"http_route="/workspaces/{id}""#,
                r#"http_response_status_code="200""#
            ]
        ),
        Some(3.0)
    );
    // The 404 has no route: never the raw path.
    assert!(
        !page.contains("/nope"),
        "a raw path leaked into a label:\n{page}"
    );
    assert_eq!(
        sample(
            &page,
            "platform_connections_active{",
            &[r#"connection_kind="websocket""#]
        ),
        Some(0.0)
    );
    let runs = "platform_sweep_runs_total{";
    assert_eq!(
        sample(&page, runs, &[r#"result="panic""#]),
        Some(1.0),
        "one sweep panics on purpose"
    );
    assert!(
        sample(&page, runs, &[r#"result="ok""#]).is_some_and(|n| n >= 2.0),
        "sweeps go on after the panic"
    );
    let items = "platform_sweep_items_total{";
    assert_eq!(sample(&page, items, &[r#"outcome="acked""#]), Some(3.0));
    assert_eq!(sample(&page, items, &[r#"outcome="expired""#]), Some(4.0));
    assert_eq!(sample(&page, items, &[r#"outcome="error""#]), Some(1.0));
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_sweeper_marks_stale_runtimes_fails_stuck_tasks_and_expires_in_batches() {
    let collector = start_collector(Duration::from_secs(300)).await;
    run_example("runtime_sweeper", collector.grpc_addr.expect("grpc"), &[]).await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "runtime-daemon",
    )
    .await;
    let transitions = &["operation", "outcome", "origin", "reason"][..];
    assert_families(
        "runtime_sweeper",
        &got,
        &[
            ("daemon_runtime_lifecycle_transitions_total", transitions),
            (
                "daemon_runtime_lifecycle_transition_duration_seconds",
                &["operation"],
            ),
            ("daemon_runtime_lifecycle_count", &["state"]),
            ("daemon_runtime_liveness_count", &["status"]),
            ("daemon_runtime_liveness_fallbacks_total", &[]),
            ("daemon_task_lifecycle_transitions_total", transitions),
            ("daemon_task_lifecycle_count", &["state"]),
            ("daemon_sweep_runs_total", &["sweeper", "result"]),
            ("daemon_sweep_items_total", &["sweeper", "outcome"]),
            ("daemon_sweep_backlog", &["sweeper"]),
            ("daemon_sweep_capped_total", &["sweeper"]),
        ],
    );
    let page = pages(collector.listen_addr.expect("prometheus exporter")).await;
    let rt = "daemon_runtime_lifecycle_transitions_total{";
    assert_eq!(
        sample(
            &page,
            rt,
            &[
                r#"operation="mark_offline""#,
                r#"outcome="success""#,
                r#"reason="stale_heartbeat""#
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, rt, &[r#"operation="gc""#, r#"outcome="success""#]),
        Some(2.0)
    );
    let task = "daemon_task_lifecycle_transitions_total{";
    assert_eq!(
        sample(
            &page,
            task,
            &[r#"reason="dispatch_timeout""#, r#"outcome="success""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &page,
            task,
            &[r#"reason="run_timeout""#, r#"outcome="success""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            task,
            &[r#"reason="queue_ttl""#, r#"outcome="success""#]
        ),
        Some(12.0)
    );
    assert_eq!(
        sample(&page, "daemon_sweep_capped_total{", &[]),
        Some(2.0),
        "12 expired 5 at a time"
    );
    assert_eq!(
        sample(
            &page,
            "daemon_runtime_liveness_count{",
            &[r#"status="alive""#]
        ),
        Some(3.0)
    );
    assert!(
        sample(&page, "daemon_runtime_liveness_fallbacks_total{", &[]).is_some_and(|n| n >= 4.0)
    );
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_snapshot_carries_stages_queue_agents_and_tokens() {
    let collector = start_collector(Duration::from_secs(300)).await;
    run_example("orchestrator", collector.grpc_addr.expect("grpc"), &[]).await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "orchestrator",
    )
    .await;
    assert_families(
        "orchestrator",
        &got,
        &[
            (
                "orchestrator_task_lifecycle_transitions_total",
                &["operation", "outcome", "origin"],
            ),
            ("orchestrator_task_lifecycle_count", &["state"]),
            ("orchestrator_queue_jobs", &["status"]),
            ("orchestrator_queue_depth", &[]),
            ("orchestrator_queue_retries_total", &[]),
            ("orchestrator_queue_concurrency_max", &[]),
            ("orchestrator_queue_breaker_state", &["state"]),
            (
                "orchestrator_agent_uptime_seconds",
                &["agent", "process_pid"],
            ),
        ],
    );
    // The sidecar's view: raw signal from the snapshot, no Prometheus text.
    let snap: Snapshot = serde_json::from_str(
        &get(
            collector.listen_addr.expect("prometheus exporter"),
            "/api/v1/snapshot?service=orchestrator",
            None,
        )
        .await,
    )
    .expect("snapshot");
    let svc = &snap.services[0];
    let metric = |name: &str| {
        svc.metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing from the snapshot"))
    };
    let uptime = metric("orchestrator.agent.uptime");
    assert_eq!(uptime.series.len(), 3, "three agents");
    assert!(
        uptime
            .series
            .iter()
            .all(|s| s.attributes.get("process.pid").is_some_and(|p| p.is_i64()))
    );
    let cpu = metric("orchestrator.process.cpu.time");
    assert!(
        cpu.series
            .iter()
            .any(|s| s.attributes.get("agent") == Some(&serde_json::json!("agent-1")))
    );
    let tokens = metric("gen_ai.client.token.usage");
    let sum_of = |kind: &str| -> f64 {
        tokens
            .series
            .iter()
            .filter(|s| s.attributes.get("gen_ai.token.type") == Some(&serde_json::json!(kind)))
            .filter_map(|s| s.sum.as_ref()?.as_f64())
            .sum()
    };
    assert_eq!(sum_of("input"), 24500.0);
    assert_eq!(sum_of("output"), 2500.0);
    let cost: f64 = metric("orchestrator.gen_ai.client.cost.usd")
        .series
        .iter()
        .filter_map(|s| s.value.as_ref()?.as_f64())
        .sum();
    assert!((cost - 0.0786).abs() < 1e-9, "cost {cost}");
    let page = pages(collector.listen_addr.expect("prometheus exporter")).await;
    assert_eq!(
        sample(
            &page,
            "orchestrator_queue_breaker_state{",
            &[r#"state="closed""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "orchestrator_queue_retries_total{", &[]),
        Some(2.0)
    );
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_dashboard_flags_the_idle_worker_as_a_zombie() {
    let collector = start_collector(Duration::from_secs(300)).await;
    run_example("worker_dashboard", collector.grpc_addr.expect("grpc"), &[]).await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "worker_dashboard",
    )
    .await;
    assert_families(
        "worker_dashboard",
        &got,
        &[
            ("dashboard_worker_zombies", &[]),
            ("dashboard_worker_idle_seconds", &["worker", "zombie"]),
            ("dashboard_process_cpu_utilization", &["worker"]),
            ("dashboard_process_memory_usage_bytes", &["worker"]),
        ],
    );
    let page = pages(collector.listen_addr.expect("prometheus exporter")).await;
    assert_eq!(sample(&page, "dashboard_worker_zombies{", &[]), Some(1.0));
    assert!(
        sample(
            &page,
            "dashboard_worker_idle_seconds{",
            &[r#"worker="idle-1""#, r#"zombie="true""#]
        )
        .is_some_and(|s| s > 2.0)
    );
    assert!(
        sample(
            &page,
            "dashboard_process_memory_usage_bytes{",
            &[r#"worker="busy-1""#]
        )
        .is_some_and(|b| b > 0.0)
    );
    assert!(
        sample(
            &page,
            "dashboard_process_cpu_utilization{",
            &[r#"worker="busy-1""#]
        )
        .is_some_and(|u| u > 0.0),
        "a busy loop uses CPU"
    );
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_lifecycle_shows_exactly_the_duckgres_inventory() {
    let collector = start_collector(Duration::from_secs(300)).await;
    run_example("worker_lifecycle", collector.grpc_addr.expect("grpc"), &[]).await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "worker-pool",
    )
    .await;
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (
            "duckgres_worker_lifecycle_count",
            &["image", "state", "binding"][..],
        ),
        (
            "duckgres_worker_lifecycle_transitions_total",
            &["operation", "outcome", "image", "origin"],
        ),
        (
            "duckgres_worker_lifecycle_transition_duration_seconds",
            &["operation"],
        ),
        ("duckgres_worker_drain_total_duration_seconds", &[]),
        ("duckgres_worker_spawn_failures_total", &["reason", "image"]),
        ("duckgres_worker_health_checks_total", &["result", "image"]),
        (
            "duckgres_worker_stranded_pods_reconciled_total",
            &["outcome"],
        ),
        ("duckgres_activation_duration_seconds", &["image"]),
        ("duckgres_activation_failures_total", &["image"]),
        ("duckgres_warm_capacity_misses_total", &["image", "reason"]),
        ("duckgres_warm_capacity_effective_target", &["image"]),
        ("duckgres_warm_capacity_headroom", &[]),
    ]
    .into_iter()
    .map(|(f, k)| (f.to_string(), keys(k)))
    .collect();
    // The SDK's own export metrics (`otel.sdk.exporter.*`) ride along from the second export
    // on; how many exports a short run makes is timing, so they are checked apart: only these
    // families, with these labels.
    let (sdk, service): (BTreeMap<_, _>, BTreeMap<_, _>) = got
        .into_iter()
        .partition(|(family, _)| family.starts_with("otel_sdk_"));
    assert_eq!(service, expected, "the inventory must be exactly this");
    let sdk_keys = keys(&[
        "otel_component_name",
        "otel_component_type",
        "server_address",
        "server_port",
    ]);
    for (family, labels) in &sdk {
        assert!(
            [
                "otel_sdk_exporter_metric_data_point_exported_total",
                "otel_sdk_exporter_operation_duration_seconds",
            ]
            .contains(&family.as_str())
                && labels.is_superset(&sdk_keys)
                && labels.difference(&sdk_keys).all(|k| k == "error_type"),
            "unexpected SDK family {family} {labels:?}"
        );
    }
    let page = pages(collector.listen_addr.expect("prometheus exporter")).await;
    assert!(
        page.contains(r#"duckgres_worker_lifecycle_transitions_total{job="duckgres/worker-pool","#),
        "{page}"
    );
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_tour_uses_every_instrument_family() {
    let collector = start_collector(Duration::from_secs(300)).await;
    run_example("sdk_tour", collector.grpc_addr.expect("grpc"), &[]).await;
    let got = inventory(
        collector.listen_addr.expect("prometheus exporter"),
        "sdk-tour",
    )
    .await;
    // One family of each instrument family the SDK offers.
    assert_families(
        "sdk_tour",
        &got,
        &[
            (
                "tour_job_lifecycle_transitions_total",
                &["operation", "origin", "outcome"],
            ),
            ("tour_sweep_runs_total", &["result", "sweeper"]),
            ("tour_upstream_health_checks_total", &["result", "zone"]),
            ("tour_runtime_liveness_count", &["status"]),
            ("tour_runtime_liveness_fallbacks_total", &[]),
            ("tour_process_memory_usage_bytes", &["worker"]),
            ("tour_tokio_workers", &[]),
            (
                "http_server_active_requests",
                &["http_request_method", "url_scheme"],
            ),
            ("tour_connections_active", &["connection_kind"]),
            (
                "tour_gen_ai_client_cost_usd_total",
                &[
                    "gen_ai_agent_name",
                    "gen_ai_operation_name",
                    "gen_ai_provider_name",
                    "gen_ai_request_model",
                ],
            ),
        ],
    );
    pages(collector.listen_addr.expect("prometheus exporter")).await;
    collector.shutdown().await;
}

//! Builder and guard tests. Those that call `build()` install global
//! providers, so they hold the global test lock; none installs a global
//! `tracing` subscriber (logs are captured with `set_default`), and none
//! reads the process environment.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};

use super::*;

/// Slack for thread scheduling on a loaded CI machine.
const SLACK: Duration = Duration::from_secs(2);

fn table(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A guard exporting over `protocol` to a closed port.
fn guard_to_closed_port(protocol: &str, timeout: Duration) -> Guard {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    Builder::new()
        .with_env_lookup(table(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ]))
        .with_tracing(false)
        .with_shutdown_timeout(timeout)
        .build()
        .unwrap()
}

fn in_memory_guard(exporter: &InMemoryMetricExporter) -> Guard {
    Builder::new()
        .with_env_lookup(table(&[("OTEL_SERVICE_NAME", "from-env")]))
        .with_tracing(false)
        .with_service_name("init-test")
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build()
        .unwrap()
}

fn u64_sum(metrics: &[ResourceMetrics], name: &str) -> Option<u64> {
    let last = metrics.last()?;
    let metric = last
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)?;
    match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => {
            Some(sum.data_points().map(|p| p.value()).sum())
        }
        _ => None,
    }
}

#[test]
fn records_a_counter_and_sees_it_after_force_flush() {
    let _lock = global_test_lock_blocking();
    let exporter = InMemoryMetricExporter::default();
    let guard = in_memory_guard(&exporter);
    assert!(!guard.is_disabled());

    let counter = guard.meter().u64_counter("vigil.test.requests").build();
    counter.add(2, &[KeyValue::new("outcome", "ok")]);
    counter.add(3, &[KeyValue::new("outcome", "ok")]);
    guard.force_flush().unwrap();

    let metrics = exporter.get_finished_metrics().unwrap();
    assert_eq!(u64_sum(&metrics, "vigil.test.requests"), Some(5));
    let resource = metrics.last().unwrap().resource();
    let service = resource.get(&Key::from_static_str("service.name")).unwrap();
    // Issue 12: OTEL_SERVICE_NAME beats with_service_name("init-test").
    assert_eq!(service.to_string(), "from-env");
    guard.shutdown().unwrap();
}

#[test]
fn installs_the_global_provider_before_returning() {
    let _lock = global_test_lock_blocking();
    let exporter = InMemoryMetricExporter::default();
    let guard = in_memory_guard(&exporter);

    // Created from the global provider after build(): live, not a no-op.
    let counter = meter().u64_counter("vigil.test.global").build();
    counter.add(7, &[]);
    guard.force_flush().unwrap();

    let metrics = exporter.get_finished_metrics().unwrap();
    assert_eq!(u64_sum(&metrics, "vigil.test.global"), Some(7));
    let scope = metrics
        .last()
        .unwrap()
        .scope_metrics()
        .next()
        .unwrap()
        .scope()
        .clone();
    assert_eq!(scope.name(), "vigil");
    assert_eq!(scope.version(), Some(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_histogram_vigil_did_not_build_keeps_the_sdk_boundaries_whatever_its_unit() {
    let _lock = global_test_lock_blocking();
    let exporter = InMemoryMetricExporter::default();
    let guard = in_memory_guard(&exporter);

    let histogram = guard
        .meter()
        .f64_histogram("vigil.test.duration")
        .with_unit("s")
        .build();
    histogram.record(0.2, &[]);
    guard.force_flush().unwrap();

    let metrics = exporter.get_finished_metrics().unwrap();
    let metric = metrics
        .last()
        .unwrap()
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == "vigil.test.duration")
        .unwrap();
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
        panic!("not an f64 histogram: {:?}", metric.data());
    };
    let bounds: Vec<f64> = histogram.data_points().next().unwrap().bounds().collect();
    assert_eq!(
        bounds,
        [
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0
        ]
    );
}

#[test]
fn sdk_disabled_makes_instruments_no_ops_and_skips_exporter_config() {
    let _lock = global_test_lock_blocking();
    let guard = Builder::new()
        .with_env_lookup(table(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            // Would fail build() if the exporters were configured.
            ("OTEL_EXPORTER_OTLP_HEADERS", "broken"),
        ]))
        .with_tracing(false)
        .build()
        .unwrap();
    assert!(guard.is_disabled());
    assert!(
        guard
            .tracing_layer::<tracing_subscriber::Registry>()
            .is_none()
    );
    guard
        .meter()
        .u64_counter("vigil.test.disabled")
        .build()
        .add(1, &[]);
    meter()
        .u64_counter("vigil.test.disabled")
        .build()
        .add(1, &[]);
    guard.force_flush().unwrap();
    guard.shutdown().unwrap();
}

#[test]
fn invalid_configuration_fails_build_and_names_the_variable() {
    // Fails before anything global is installed: no lock needed.
    let error = Builder::new()
        .with_env_lookup(table(&[(
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "api-key=%zz",
        )]))
        .with_tracing(false)
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), Some("OTEL_EXPORTER_OTLP_METRICS_HEADERS"));

    let error = Builder::new()
        .with_env_lookup(table(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]))
        .with_endpoint("127.0.0.1:14318")
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), Some("with_endpoint"));
    assert_eq!(
        format!("{error:?}"),
        "with_endpoint(\"127.0.0.1:14318\") has no scheme; OTLP/HTTP needs one: write \
         http://127.0.0.1:14318 for plaintext or https://127.0.0.1:14318 for TLS"
    );

    let error = Builder::new()
        .with_env_lookup(table(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example:4317",
        )]))
        .with_client_key("/nowhere/client.key")
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), Some("with_client_key"));

    let error = Builder::new()
        .with_env_lookup(table(&[]))
        .with_tracing(false)
        .with_namespace("9lives")
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("must start with an ASCII letter"),
        "{error}"
    );
}

#[test]
fn otel_sdk_disabled_true_beats_with_disabled_false() {
    let _lock = global_test_lock_blocking();
    let guard = Builder::new()
        .with_env_lookup(table(&[("OTEL_SDK_DISABLED", "true")]))
        .with_disabled(false)
        .build()
        .unwrap();
    assert!(guard.is_disabled());
    let guard = Builder::new()
        .with_env_lookup(table(&[("OTEL_SDK_DISABLED", "false")]))
        .with_disabled(true)
        .build()
        .unwrap();
    assert!(guard.is_disabled());
}

/// Issue 12: pointed at a dead endpoint, the app said nothing until shutdown.
#[test]
fn a_dead_endpoint_is_warned_about_while_the_app_runs() {
    let _lock = global_test_lock_blocking();
    let captured = crate::init::report::tests::Captured::default();
    let _default = tracing::subscriber::set_default(captured.subscriber());
    let port = closed_port();
    let guard = Builder::new()
        .with_env_lookup(table(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
        ]))
        .with_export_interval(Duration::from_millis(100))
        .with_shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    guard
        .meter()
        .u64_counter("vigil.test.dead_endpoint")
        .build()
        .add(1, &[]);

    let started = Instant::now();
    let expected = format!("exporting metrics to http://127.0.0.1:{port} failed: ");
    while !captured.text().contains(&expected) && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = captured.text();
    assert!(
        text.contains(&expected),
        "no warning while running:\n{text}"
    );
    assert!(text.contains(" WARN vigil::export: "), "{text}");
    assert!(text.contains("gRPC code: Unavailable"), "{text}");

    // Several exports fail in a second; one warning says so.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        captured.text().matches(&expected).count(),
        1,
        "{}",
        captured.text()
    );
    drop(guard);
}

#[test]
fn tolerated_problems_are_reported_as_warnings() {
    let _lock = global_test_lock_blocking();
    let exporter = InMemoryMetricExporter::default();
    let guard = Builder::new()
        .with_env_lookup(table(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ("OTEL_RESOURCE_ATTRIBUTES", "broken"),
        ]))
        .with_tracing(false)
        .with_reader(PeriodicReader::builder(exporter).build())
        .build()
        .unwrap();
    assert_eq!(
        guard.warnings(),
        [
            "OTEL_RESOURCE_ATTRIBUTES: entry 1 is not key=value; ignoring the whole variable",
            "OTEL_METRIC_EXPORT_INTERVAL=\"soon\" is not a positive number of milliseconds; ignoring it",
        ]
    );
}

#[test]
fn grpc_outside_a_runtime_reports_the_failed_export_within_the_deadline() {
    let _lock = global_test_lock_blocking();
    assert!(tokio::runtime::Handle::try_current().is_err());
    let deadline = Duration::from_secs(10);
    let guard = guard_to_closed_port("grpc", deadline);
    guard
        .meter()
        .u64_counter("vigil.test.unsent")
        .build()
        .add(1, &[]);

    let started = Instant::now();
    let error = guard.shutdown().unwrap_err();
    assert!(
        started.elapsed() < deadline + SLACK,
        "took {:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert_eq!(error.failed_signals(), vec!["metrics"], "{message}");
    assert!(
        message.starts_with("shutdown incomplete: metrics: "),
        "{message}"
    );
    assert!(
        message.contains("1 export(s) failed carrying 1 data points"),
        "{message}"
    );
    assert!(
        message.contains("TonicMetricsClient export failed"),
        "{message}"
    );
}

#[test]
fn http_to_a_closed_port_reports_the_failed_export() {
    let _lock = global_test_lock_blocking();
    let guard = guard_to_closed_port("http/protobuf", Duration::from_secs(10));
    guard
        .meter()
        .u64_counter("vigil.test.unsent_http")
        .build()
        .add(1, &[]);
    let error = guard.shutdown().unwrap_err();
    assert_eq!(error.failed_signals(), vec!["metrics"], "{error}");
    assert!(
        error
            .to_string()
            .contains("1 export(s) failed carrying 1 data points"),
        "{error}"
    );
}

#[test]
fn http_json_falls_back_to_http_protobuf_with_a_warning() {
    let _lock = global_test_lock_blocking();
    let guard = guard_to_closed_port("http/json", Duration::from_secs(5));
    assert_eq!(guard.warnings().len(), 2, "{:?}", guard.warnings());
    assert!(
        guard.warnings()[0].contains("http/json is not supported by Vigil; using http/protobuf")
    );
    // Nothing recorded, nothing to send: a clean shutdown.
    guard.shutdown().unwrap();
}

#[test]
fn shutdown_gives_up_at_the_deadline() {
    let _lock = global_test_lock_blocking();
    let deadline = Duration::from_millis(200);
    let guard = guard_to_closed_port("grpc", deadline);
    guard
        .meter()
        .u64_counter("vigil.test.slow")
        .build()
        .add(1, &[]);

    // Three retries back off for at least 700 ms: still running at 200 ms.
    let started = Instant::now();
    let error = guard.shutdown().unwrap_err();
    assert!(
        started.elapsed() < deadline + SLACK,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        error
            .to_string()
            .contains("metrics: did not finish within 200ms"),
        "{error}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn shuts_down_inside_a_current_thread_runtime_without_deadlock() {
    let _lock = global_test_lock().await;
    let deadline = Duration::from_secs(3);

    // Synchronous shutdown on the runtime's only thread.
    let guard = guard_to_closed_port("grpc", deadline);
    guard
        .meter()
        .u64_counter("vigil.test.current_thread")
        .build()
        .add(1, &[]);
    let started = Instant::now();
    assert!(guard.shutdown().is_err());
    assert!(
        started.elapsed() < deadline + SLACK,
        "took {:?}",
        started.elapsed()
    );

    // Async shutdown, bounded by the test itself.
    let guard = guard_to_closed_port("grpc", deadline);
    guard
        .meter()
        .u64_counter("vigil.test.current_thread")
        .build()
        .add(1, &[]);
    let result = tokio::time::timeout(deadline + SLACK, guard.shutdown_async()).await;
    assert!(result.expect("shutdown_async deadlocked").is_err());

    // Dropping in async context stops the exporters' runtime without panicking.
    let guard = guard_to_closed_port("grpc", deadline);
    let started = Instant::now();
    drop(guard);
    assert!(
        started.elapsed() < deadline + SLACK,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn shuts_down_inside_a_single_worker_multi_thread_runtime() {
    let _lock = global_test_lock().await;
    let exporter = InMemoryMetricExporter::default();
    let guard = in_memory_guard(&exporter);
    guard
        .meter()
        .u64_counter("vigil.test.async")
        .build()
        .add(4, &[]);
    guard.force_flush().unwrap();
    assert_eq!(
        u64_sum(
            &exporter.get_finished_metrics().unwrap(),
            "vigil.test.async"
        ),
        Some(4)
    );
    tokio::time::timeout(Duration::from_secs(10), guard.shutdown_async())
        .await
        .expect("shutdown_async deadlocked")
        .unwrap();
}

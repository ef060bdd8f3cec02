//! Vigil's `prometheusremotewrite` exporter against real time-series databases: Prometheus 2.42
//! (Debian, remote-write 1.0), VictoriaMetrics 1.79 (Debian, its `/api/v1/write`) and
//! Prometheus 3 (built from its Go module, remote-write 2.0 with native histograms). What PromQL
//! answers through each database's HTTP API is compared with exact values; what the
//! OpenTelemetry Collector's exporter of the same name writes is compared series by series; an
//! outage of the database loses nothing.
//!
//! Every peer listens on loopback; every wait is bounded ([`WAIT`]).

mod deploy;
mod otelcol;
mod otlp;
mod outage;

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;
use vigil_tests::peers::{QuerySample, Tsdb, TsdbKind};

use otlp::{counter, exponential, gauge, histogram, now_ns, request, send};

/// The longest any one wait lasts.
const WAIT: Duration = Duration::from_secs(30);
const SECOND: u64 = 1_000_000_000;

/// A collector from a configuration text.
async fn vigil_with(yaml: &str) -> Running {
    let config = Config::from_yaml_str(yaml, "remote-write test")
        .unwrap_or_else(|e| panic!("Vigil refuses the test config: {e}\n{yaml}"));
    app::start(&config).await.expect("Vigil starts")
}

/// A collector: OTLP/gRPC on a free loopback port into `prometheusremotewrite` with `extra`
/// exporter keys.
async fn vigil(endpoint: &str, extra: &str) -> Running {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n\
         exporters:\n  prometheusremotewrite:\n    endpoint: {endpoint}\n{extra}\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheusremotewrite]\n"
    );
    let config = Config::from_yaml_str(&yaml, "remote-write test")
        .unwrap_or_else(|e| panic!("Vigil refuses the test config: {e}\n{yaml}"));
    app::start(&config).await.expect("Vigil starts")
}

/// Runs a blocking peer call (the database helpers use a blocking HTTP client) from a test's
/// async body without stalling the collector's tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The collector's OTLP/gRPC address.
fn addr(vigil: &Running) -> std::net::SocketAddr {
    vigil.grpc_addr.expect("the otlp receiver serves gRPC")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The labels every series of the `checkout` service carries.
fn series(name: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = labels(&[
        ("__name__", name),
        ("job", "checkout"),
        ("instance", "i1"),
        ("otel_scope_name", "shop"),
    ]);
    l.extend(labels(extra));
    l
}

/// Waits until `promql` answers exactly `expected` (order ignored), then returns.
fn expect(tsdb: &Tsdb, promql: &str, expected: Vec<QuerySample>) {
    let sorted = |mut v: Vec<QuerySample>| {
        v.sort_by(|a, b| format!("{:?}", a.labels).cmp(&format!("{:?}", b.labels)));
        v
    };
    let expected = sorted(expected);
    let got =
        blocking(|| tsdb.wait_for_query(promql, |got| sorted(got.to_vec()) == expected, WAIT));
    assert_eq!(sorted(got), expected, "{promql} on {:?}", tsdb.kind());
}

/// A delta counter over two requests, a gauge, a classic histogram and the resource's
/// `target_info`, through `tsdb`, checked with PromQL.
async fn writes_exact_values(tsdb: &Tsdb, extra: &str) {
    let vigil = vigil(&tsdb.remote_write_url(), extra).await;
    let t2 = now_ns();
    let (t0, t1) = (t2 - 60 * SECOND, t2 - 30 * SECOND);
    send(
        addr(&vigil),
        request(
            "checkout",
            vec![
                counter("orders", true, 3, t0, t1),
                gauge("queue.depth", 12.5, t1),
                histogram("latency", [10, 20, 10, 0], 9.0, t0, t1),
            ],
        ),
    )
    .await;
    send(
        addr(&vigil),
        request("checkout", vec![counter("orders", true, 4, t1, t2)]),
    )
    .await;

    expect(
        tsdb,
        "orders_total",
        vec![QuerySample {
            labels: series("orders_total", &[("route", "/pay")]),
            value: 7.0,
        }],
    );
    // Both samples of the counter, oldest first: 3 then 7.
    expect(
        tsdb,
        "min_over_time(orders_total[5m])",
        vec![QuerySample {
            labels: over_time(tsdb, series("orders_total", &[("route", "/pay")])),
            value: 3.0,
        }],
    );
    expect(
        tsdb,
        "queue_depth",
        vec![QuerySample {
            labels: series("queue_depth", &[]),
            value: 12.5,
        }],
    );
    expect(
        tsdb,
        "latency_seconds_count",
        vec![QuerySample {
            labels: series("latency_seconds_count", &[]),
            value: 40.0,
        }],
    );
    // 40 observations; the 20th lies in (0.1, 0.5] after 10 below it: 0.1 + 10/20 * 0.4.
    let q = blocking(|| {
        tsdb.wait_for_query(
            "histogram_quantile(0.5, sum by (le) (latency_seconds_bucket))",
            |got| got.len() == 1,
            WAIT,
        )
    });
    assert!((q[0].value - 0.3).abs() < 1e-12, "{q:?}");
    expect(
        tsdb,
        "target_info",
        vec![QuerySample {
            labels: labels(&[
                ("__name__", "target_info"),
                ("job", "checkout"),
                ("instance", "i1"),
                ("host_name", "h1"),
            ]),
            value: 1.0,
        }],
    );
    vigil.shutdown().await;
}

/// The labels of a `*_over_time` result: Prometheus drops `__name__`, VictoriaMetrics keeps it.
fn over_time(tsdb: &Tsdb, l: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if tsdb.kind() == TsdbKind::VictoriaMetrics {
        l
    } else {
        without_name(l)
    }
}

/// PromQL functions drop `__name__`.
fn without_name(mut l: BTreeMap<String, String>) -> BTreeMap<String, String> {
    l.remove("__name__");
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_2_receives_exact_values_over_remote_write_1_0() {
    let tsdb = blocking(Tsdb::prometheus2);
    writes_exact_values(&tsdb, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_receives_exact_values_over_remote_write_1_0() {
    let tsdb = blocking(Tsdb::victoria_metrics);
    writes_exact_values(&tsdb, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_3_receives_remote_write_2_0_with_native_histograms() {
    let tsdb = blocking(Tsdb::prometheus3);
    writes_exact_values(
        &tsdb,
        "    protobuf_message: io.prometheus.write.v2.Request\n",
    )
    .await;

    let vigil = vigil(
        &tsdb.remote_write_url(),
        "    protobuf_message: io.prometheus.write.v2.Request\n",
    )
    .await;
    let t1 = now_ns();
    // Buckets (1,2]: 2, (2,4]: 0, (4,8]: 5; 7 observations summing to 30.
    send(
        addr(&vigil),
        request(
            "checkout",
            vec![exponential(
                "payload",
                vec![2, 0, 5],
                30.0,
                t1 - 60 * SECOND,
                t1,
            )],
        ),
    )
    .await;
    let no_name = without_name(series("payload_bytes", &[]));
    expect(
        &tsdb,
        "histogram_count(payload_bytes)",
        vec![QuerySample {
            labels: no_name.clone(),
            value: 7.0,
        }],
    );
    expect(
        &tsdb,
        "histogram_sum(payload_bytes)",
        vec![QuerySample {
            labels: no_name.clone(),
            value: 30.0,
        }],
    );
    // Two of seven observations are at most 2 (the upper bound of the first bucket).
    expect(
        &tsdb,
        "histogram_fraction(0, 2, payload_bytes)",
        vec![QuerySample {
            labels: no_name,
            value: 2.0 / 7.0,
        }],
    );
    vigil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_0_only_database_gets_1_0_when_2_0_is_configured() {
    // Prometheus 2.42 answers a 2.0 request with 204 and stores nothing; the missing
    // `X-Prometheus-Remote-Write-Samples-Written` header makes the exporter send 1.0.
    let tsdb = blocking(Tsdb::prometheus2);
    writes_exact_values(
        &tsdb,
        "    protobuf_message: io.prometheus.write.v2.Request\n",
    )
    .await;
}

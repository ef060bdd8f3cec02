//! The deployment pictures in `otel-config/scale-out/`, run from their files with loopback
//! addresses in their environment variables:
//! (a) agent → gateway → vendor (the vendor played by a Vigil collector);
//! (b) two `loadbalancing` gateways → three back-ends → VictoriaMetrics;
//! (c) one collector → Prometheus over remote-write.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;
use vigil_collector::store::Filter;
use vigil_tests::peers::{QuerySample, TempDir, Tsdb, free_port};

use super::otlp::{counter, now_ns, request, send};
use super::{WAIT, addr, blocking, expect, labels, series};

/// Starts the collector of `otel-config/scale-out/<file>` with `env` as its environment.
async fn from_file(file: &str, env: &[(&str, String)]) -> Running {
    let path = vigil_tests::repo_root()
        .join("otel-config/scale-out")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let env: BTreeMap<&str, String> = env.iter().cloned().collect();
    let config = Config::from_yaml_str_with_env(&text, file, &|name| env.get(name).cloned())
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    app::start(&config)
        .await
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_single_collector_into_prometheus() {
    let tsdb = blocking(Tsdb::prometheus2);
    let wal = TempDir::new("vigil-deploy-c");
    let vigil = from_file(
        "single-remote-write.yaml",
        &[
            ("OTLP_GRPC", "127.0.0.1:0".to_owned()),
            ("REMOTE_WRITE_URL", tsdb.remote_write_url()),
            ("WAL_DIR", wal.path().display().to_string()),
        ],
    )
    .await;
    let t = now_ns();
    send(
        addr(&vigil),
        request(
            "checkout",
            vec![counter("orders", false, 9, t - 60_000_000_000, t)],
        ),
    )
    .await;
    expect(
        &tsdb,
        "orders_total",
        vec![QuerySample {
            labels: series("orders_total", &[("route", "/pay")]),
            value: 9.0,
        }],
    );
    vigil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_agent_gateway_vendor() {
    let vendor_http = loopback();
    let vendor = super::vigil_with(&format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: {vendor_http}\n\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    ))
    .await;
    let queue = TempDir::new("vigil-deploy-a");
    let gateway = from_file(
        "gateway-vendor.yaml",
        &[
            ("GATEWAY_GRPC", "127.0.0.1:0".to_owned()),
            ("VENDOR_ENDPOINT", format!("http://{vendor_http}")),
            ("QUEUE_DIR", queue.path().display().to_string()),
        ],
    )
    .await;
    let agent = from_file(
        "agent.yaml",
        &[
            ("AGENT_GRPC", "127.0.0.1:0".to_owned()),
            ("GATEWAY_ENDPOINT", addr(&gateway).to_string()),
        ],
    )
    .await;
    let t = now_ns();
    send(
        addr(&agent),
        request(
            "checkout",
            vec![counter("orders", false, 4, t - 60_000_000_000, t)],
        ),
    )
    .await;
    let store = vendor.store.clone().expect("the vendor has a store");
    let deadline = Instant::now() + WAIT;
    while store.series_count() < 1 {
        assert!(Instant::now() < deadline, "nothing reached the vendor");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snapshot = store.snapshot(&Filter {
        service: Some("checkout".to_owned()),
        metric_prefix: None,
    });
    assert_eq!(snapshot.metrics.len(), 1);
    assert_eq!(&*snapshot.metrics[0].desc.name, "orders");
    agent.shutdown().await;
    gateway.shutdown().await;
    vendor.shutdown().await;
}

const SERVICES: usize = 30;
const ROUNDS: u64 = 3;

fn delta(round: u64, service: usize) -> i64 {
    (round * 100) as i64 + service as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_gateways_backends_and_victoria_metrics() {
    let tsdb = blocking(Tsdb::victoria_metrics);
    let wals: Vec<TempDir> = (0..3).map(|_| TempDir::new("vigil-deploy-b")).collect();
    let mut backends = Vec::new();
    for wal in &wals {
        backends.push(
            from_file(
                "backend-remote-write.yaml",
                &[
                    ("BACKEND_GRPC", loopback()),
                    ("BACKEND_LISTEN", "127.0.0.1:0".to_owned()),
                    ("REMOTE_WRITE_URL", tsdb.remote_write_url()),
                    ("WAL_DIR", wal.path().display().to_string()),
                ],
            )
            .await,
        );
    }
    let backend_env: Vec<(&str, String)> = ["BACKEND_1", "BACKEND_2", "BACKEND_3"]
        .into_iter()
        .zip(backends.iter().map(|b| addr(b).to_string()))
        .collect();
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let mut env = backend_env.clone();
        env.push(("GATEWAY_GRPC", "127.0.0.1:0".to_owned()));
        gateways.push(from_file("lb-gateway.yaml", &env).await);
    }
    let gateway_addrs: Vec<SocketAddr> = gateways.iter().map(addr).collect();
    let start = now_ns() - (ROUNDS + 1) * 10_000_000_000;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let stores: Vec<_> = backends
        .iter()
        .map(|b| b.store.clone().expect("a store"))
        .collect();
    for round in 1..=ROUNDS {
        for i in 0..SERVICES {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let through = gateway_addrs[(seed % 2) as usize];
            let (from, to) = (
                start + (round - 1) * 10_000_000_000,
                start + round * 10_000_000_000,
            );
            send(
                through,
                request(
                    &format!("svc-{i:02}"),
                    vec![counter("requests", true, delta(round, i), from, to)],
                ),
            )
            .await;
        }
        // Rounds in order: each back-end has every service's point of this round before the next.
        let deadline = Instant::now() + WAIT;
        loop {
            let points: u64 = stores
                .iter()
                .map(|s| {
                    s.stats()
                        .accepted_points
                        .load(std::sync::atomic::Ordering::Relaxed)
                })
                .sum();
            if points >= round * SERVICES as u64 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: {points} points reached the back-ends"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Every service lives on exactly one back-end.
    for i in 0..SERVICES {
        let filter = Filter {
            service: Some(format!("svc-{i:02}")),
            metric_prefix: None,
        };
        let holders = stores
            .iter()
            .filter(|s| !s.snapshot(&filter).metrics.is_empty())
            .count();
        assert_eq!(holders, 1, "svc-{i:02} is on {holders} back-ends");
    }
    // VictoriaMetrics holds each service's exact sum.
    let want: Vec<QuerySample> = (0..SERVICES)
        .map(|i| QuerySample {
            labels: labels(&[("job", &format!("svc-{i:02}"))]),
            value: (1..=ROUNDS).map(|r| delta(r, i)).sum::<i64>() as f64,
        })
        .collect();
    expect(
        &tsdb,
        "sum by (job) (requests_total{tier=\"backend\"})",
        want,
    );
    for g in gateways {
        g.shutdown().await;
    }
    for b in backends {
        b.shutdown().await;
    }
}

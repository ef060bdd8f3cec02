//! The deployment pictures in `otel-config/scale-out/`, run from their files with loopback
//! addresses in their environment variables:
//! (a) agent → gateway → vendor (the vendor played by a Vigil collector);
//! (b) two `loadbalancing` gateways → three back-ends → VictoriaMetrics, with a back-end stopped
//!     and restarted: its services move and come back, no other service moves, and every
//!     service's samples add up to what it sent (a move is a counter reset);
//! (c) one collector → Prometheus over remote-write.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;
use vigil_collector::store::{Filter, Store};
use vigil_tests::peers::{QuerySample, TempDir, Tsdb, free_port};

use super::otlp::{counter, now_ns, request, send};
use super::{WAIT, addr, blocking, expect, series};

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
const ROUNDS: u64 = 7;
/// Back-end 0 is stopped after this round and restarted after [`BACK_AFTER`].
const STOP_AFTER: u64 = 3;
const BACK_AFTER: u64 = 5;
const STEP: u64 = 10_000_000_000;

/// Service `i`'s delta in `round`: larger each round, so that a series starting over on
/// another back-end begins below the value it had (the reset stays visible to the database).
fn delta(round: u64, service: usize) -> i64 {
    (round * 100) as i64 + service as i64
}

fn service(i: usize) -> String {
    format!("svc-{i:02}")
}

/// Per service, the back-ends (indices into `stores`) whose store holds its point at `time`.
fn owners(stores: &[Option<Arc<Store>>], time: u64) -> Vec<Vec<usize>> {
    (0..SERVICES)
        .map(|i| {
            let filter = Filter {
                service: Some(service(i)),
                metric_prefix: None,
            };
            stores
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.as_ref().is_some_and(|s| {
                        let snap = s.snapshot(&filter);
                        snap.metrics
                            .iter()
                            .any(|m| snap.series_of(m).iter().any(|x| x.time == time))
                    })
                })
                .map(|(b, _)| b)
                .collect()
        })
        .collect()
}

/// Waits until every service's point of `time` is in exactly one store; returns each owner.
async fn wait_owners(stores: &[Option<Arc<Store>>], time: u64) -> Vec<usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = owners(stores, time);
        if found.iter().all(|o| o.len() == 1) {
            return found.iter().map(|o| o[0]).collect();
        }
        assert!(
            Instant::now() < deadline,
            "not every service landed on exactly one back-end: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every sample VictoriaMetrics holds for `requests_total`, per service, oldest first.
fn exported(tsdb: &Tsdb) -> BTreeMap<String, Vec<(i64, f64)>> {
    let url = format!("{}/api/v1/export?match[]=requests_total", tsdb.base_url());
    let text = reqwest::blocking::get(&url)
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let job = v["metric"]["job"].as_str().unwrap_or("").to_owned();
        let ts = v["timestamps"].as_array().cloned().unwrap_or_default();
        let vs = v["values"].as_array().cloned().unwrap_or_default();
        let samples = out.entry(job).or_default();
        for (t, x) in ts.iter().zip(vs) {
            samples.push((t.as_i64().unwrap_or(0), x.as_f64().unwrap_or(f64::NAN)));
        }
        samples.sort_by_key(|s| s.0);
    }
    out
}

/// The sum of the deltas behind cumulative `samples`: each increase, and after a reset (a
/// value below the one before) the new value itself, as `increase()` reads a counter.
fn sum_of_deltas(samples: &[(i64, f64)]) -> f64 {
    let mut previous = 0.0;
    let mut total = 0.0;
    for &(_, v) in samples {
        total += if v >= previous { v - previous } else { v };
        previous = v;
    }
    total
}

async fn backend(tsdb: &Tsdb, grpc: &str, wal: &TempDir) -> Running {
    let env = [
        ("BACKEND_GRPC", grpc.to_owned()),
        ("BACKEND_LISTEN", "127.0.0.1:0".to_owned()),
        ("REMOTE_WRITE_URL", tsdb.remote_write_url()),
        ("WAL_DIR", wal.path().display().to_string()),
    ];
    from_file("backend-remote-write.yaml", &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_gateways_backends_and_victoria_metrics() {
    let tsdb = blocking(Tsdb::victoria_metrics);
    let wals: Vec<TempDir> = (0..3).map(|_| TempDir::new("vigil-deploy-b")).collect();
    let grpc: Vec<String> = (0..3).map(|_| loopback()).collect();
    let mut backends: Vec<Option<Running>> = Vec::new();
    for (addr, wal) in grpc.iter().zip(&wals) {
        backends.push(Some(backend(&tsdb, addr, wal).await));
    }
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let mut env: Vec<(&str, String)> = ["BACKEND_1", "BACKEND_2", "BACKEND_3"]
            .into_iter()
            .zip(grpc.iter().cloned())
            .collect();
        env.push(("GATEWAY_GRPC", "127.0.0.1:0".to_owned()));
        gateways.push(from_file("lb-gateway.yaml", &env).await);
    }
    let gateway_addrs: Vec<SocketAddr> = gateways.iter().map(addr).collect();
    let start = now_ns() - (ROUNDS + 1) * STEP;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut first_owners = Vec::new();
    for round in 1..=ROUNDS {
        for i in 0..SERVICES {
            // xorshift64: a gateway "at random", the same in every run.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let through = gateway_addrs[(seed % 2) as usize];
            let (from, to) = (start + (round - 1) * STEP, start + round * STEP);
            let metric = counter("requests", true, delta(round, i), from, to);
            send(through, request(&service(i), vec![metric])).await;
        }
        // Rounds in order: every service's point of this round is on one back-end first.
        let stores: Vec<_> = backends
            .iter()
            .map(|b| b.as_ref().and_then(|b| b.store.clone()))
            .collect();
        let now = wait_owners(&stores, start + round * STEP).await;
        match round {
            1 => first_owners = now.clone(),
            r if r <= STOP_AFTER || r > BACK_AFTER => assert_eq!(now, first_owners, "round {r}"),
            r => {
                for i in 0..SERVICES {
                    if first_owners[i] == 0 {
                        assert_ne!(now[i], 0, "round {r}: {} did not move", service(i));
                    } else {
                        assert_eq!(now[i], first_owners[i], "round {r}: {} moved", service(i));
                    }
                }
            }
        }
        if round == STOP_AFTER {
            assert!(
                first_owners.contains(&0),
                "back-end 0 owns no service: {first_owners:?}"
            );
            // Stopped: what it accepted is written (its queue drains on shutdown).
            if let Some(b) = backends[0].take() {
                b.shutdown().await;
            }
        }
        if round == BACK_AFTER {
            backends[0] = Some(backend(&tsdb, &grpc[0], &wals[0]).await);
            // Both gateways have it back on the ring before the next round.
            let deadline = Instant::now() + WAIT;
            while !gateways.iter().all(|g| {
                g.balancers[0]
                    .1
                    .backends()
                    .iter()
                    .any(|b| b.endpoint == grpc[0] && b.up && b.in_ring)
            }) {
                assert!(
                    Instant::now() < deadline,
                    "back-end 0 did not rejoin the ring"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // VictoriaMetrics holds every sample: per service, the deltas behind its cumulative series
    // (a move is a counter reset) add up to what was sent.
    let last = ((start + ROUNDS * STEP) / 1_000_000) as i64;
    let deadline = Instant::now() + WAIT;
    let got = loop {
        let got = blocking(|| exported(&tsdb));
        let complete = (0..SERVICES).all(|i| {
            got.get(&service(i))
                .is_some_and(|s| s.last().is_some_and(|x| x.0 == last))
        });
        if complete || Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for i in 0..SERVICES {
        let samples = got.get(&service(i)).cloned().unwrap_or_default();
        let sent: i64 = (1..=ROUNDS).map(|r| delta(r, i)).sum();
        assert_eq!(samples.len() as u64, ROUNDS, "{}: {samples:?}", service(i));
        assert_eq!(
            sum_of_deltas(&samples),
            sent as f64,
            "{}: {samples:?}",
            service(i)
        );
    }
    for g in gateways {
        g.shutdown().await;
    }
    for b in backends.into_iter().flatten() {
        b.shutdown().await;
    }
}

//! A tier in one process: three back-end collectors (otlp → prometheus) behind two gateways
//! whose `loadbalancing` exporter lists them, 30 services sending delta sums through either
//! gateway. Every service lands on one back-end with the exact cumulative sum; when a back-end
//! stops its services move to the others (starting their sums over) and nothing else moves; when
//! it comes back on the same port they return.
//!
//! Rounds are sequential: a round's deltas are sent, then the test waits (bounded) until every
//! service's point of that round is in some back-end's store, so no back-end ever sees a
//! service's deltas out of order whichever gateway carried them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, NumberDataPoint, number_data_point,
};
use tonic::transport::Channel;

use super::{Running, start};
use crate::config::Config;
use crate::store::{Filter, Number, SnapValue, Store};
use crate::test_support::{START, kv, request_from, resource_metrics, sum_with};

const SERVICES: usize = 30;
const ROUND: u64 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(30);

async fn collector(yaml: &str) -> Running {
    let config = Config::from_yaml_str(yaml, "test").unwrap();
    start(&config).await.unwrap()
}

/// A back-end: otlp/gRPC on `port` (0: any) → prometheus.
async fn backend(port: u16) -> Running {
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{port}}}}}}}}}
exporters: {{prometheus: {{endpoint: 127.0.0.1:0}}}}
service: {{pipelines: {{metrics: {{receivers: [otlp], exporters: [prometheus]}}}}}}
"
    );
    if port == 0 {
        return collector(&yaml).await;
    }
    // The port was just released by the stopped back-end; another test may hold it briefly.
    let config = Config::from_yaml_str(&yaml, "test").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match start(&config).await {
            Ok(running) => return running,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("restarting the back-end: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the back-end could not restart on port {port}: {e}"),
        }
    }
}

async fn gateway(backends: &[SocketAddr]) -> Running {
    let hostnames: Vec<String> = backends.iter().map(ToString::to_string).collect();
    collector(&format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters:
  loadbalancing:
    routing_key: service
    protocol:
      otlp:
        tls: {{insecure: true}}
        timeout: 2s
        retry_on_failure: {{initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 60s}}
        sending_queue: {{num_consumers: 2, queue_size: 100}}
    resolver:
      static:
        hostnames: [{}]
service: {{pipelines: {{metrics: {{receivers: [otlp], exporters: [loadbalancing]}}}}}}
",
        hostnames.join(", ")
    ))
    .await
}

fn service(i: usize) -> String {
    format!("svc-{i:02}")
}

/// The delta service `i` sends in round `r`.
fn delta(r: u64, i: usize) -> i64 {
    (r * 100) as i64 + i as i64
}

/// The sum of service `i`'s deltas over `rounds`.
fn total(rounds: std::ops::RangeInclusive<u64>, i: usize) -> i64 {
    rounds.map(|r| delta(r, i)).sum()
}

/// Sends round `r`: one delta point per service, each through a gateway picked by a fixed
/// pseudo-random sequence.
async fn send_round(clients: &mut [MetricsServiceClient<Channel>], r: u64, seed: &mut u64) {
    for i in 0..SERVICES {
        // xorshift64: "random", and the same in every run.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let client = &mut clients[(*seed % clients.len() as u64) as usize];
        let point = NumberDataPoint {
            start_time_unix_nano: START + (r - 1) * ROUND,
            time_unix_nano: START + r * ROUND,
            value: Some(number_data_point::Value::AsInt(delta(r, i))),
            ..Default::default()
        };
        let metric = sum_with(
            "requests",
            AggregationTemporality::Delta as i32,
            true,
            vec![point],
        );
        let request = request_from(vec![resource_metrics(
            vec![kv("service.name", service(i))],
            vec![metric],
        )]);
        let response = client.export(request).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);
    }
}

/// Where service `i` is: per back-end index, its cumulative sum and the time of its last point.
fn locate(stores: &[Option<Arc<Store>>], i: usize) -> BTreeMap<usize, (i64, u64)> {
    let filter = Filter {
        service: Some(service(i)),
        metric_prefix: None,
    };
    let mut found = BTreeMap::new();
    for (b, store) in stores.iter().enumerate() {
        let Some(store) = store else { continue };
        let snapshot = store.snapshot(&filter);
        for metric in &snapshot.metrics {
            for series in snapshot.series_of(metric) {
                if let SnapValue::Number(Number::Int(v)) = series.value {
                    found.insert(b, (v, series.time));
                }
            }
        }
    }
    found
}

/// Waits until every service's round-`r` point is in some store.
async fn wait_round(stores: &[Option<Arc<Store>>], r: u64) {
    let done = || {
        (0..SERVICES).all(|i| {
            locate(stores, i)
                .values()
                .any(|&(_, time)| time == START + r * ROUND)
        })
    };
    let deadline = Instant::now() + WAIT;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let missing: Vec<String> = (0..SERVICES)
        .filter(|&i| {
            !locate(stores, i)
                .values()
                .any(|&(_, time)| time == START + r * ROUND)
        })
        .map(service)
        .collect();
    assert!(
        missing.is_empty(),
        "round {r} did not arrive for {missing:?}"
    );
}

fn stores(backends: &[Option<Running>]) -> Vec<Option<Arc<Store>>> {
    backends
        .iter()
        .map(|b| b.as_ref().and_then(|b| b.store.clone()))
        .collect()
}

/// What each gateway says about back-end `endpoint`: (up, owns keys).
fn gateway_view(gateway: &Running, endpoint: &str) -> (bool, bool) {
    let (_, balancer) = &gateway.balancers[0];
    let status = balancer.backends();
    let b = status.iter().find(|b| b.endpoint == endpoint).unwrap();
    (b.up, b.in_ring)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_stick_to_one_backend_move_when_it_stops_and_return_when_it_restarts() {
    let mut backends = Vec::new();
    for _ in 0..3 {
        backends.push(Some(backend(0).await));
    }
    let addrs: Vec<SocketAddr> = backends
        .iter()
        .map(|b| b.as_ref().unwrap().grpc_addr.unwrap())
        .collect();
    let endpoints: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let gateways = [gateway(&addrs).await, gateway(&addrs).await];
    let mut clients = Vec::new();
    for g in &gateways {
        let url = format!("http://{}", g.grpc_addr.unwrap());
        clients.push(MetricsServiceClient::connect(url).await.unwrap());
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15;

    // Rounds 1-3, all back-ends up: each service on exactly one, the one both gateways name.
    for r in 1..=3 {
        send_round(&mut clients, r, &mut seed).await;
        wait_round(&stores(&backends), r).await;
    }
    let mut home = Vec::new();
    for i in 0..SERVICES {
        let found = locate(&stores(&backends), i);
        let (&b, &(value, _)) = found.iter().next().unwrap();
        assert_eq!(found.len(), 1, "{} is on back-ends {found:?}", service(i));
        assert_eq!(value, total(1..=3, i), "{}", service(i));
        for g in &gateways {
            let owner = g.balancers[0].1.owner_of_service(&service(i));
            assert_eq!(owner.as_deref(), Some(endpoints[b].as_str()));
        }
        home.push(b);
    }
    for b in 0..3 {
        assert!(home.contains(&b), "back-end {b} got no service: {home:?}");
    }

    // Back-end 1 stops. Rounds 4-6: its services move to the others and start over; every
    // other service stays where it was, its sum unbroken.
    let stopped = 1;
    backends[stopped].take().unwrap().shutdown().await;
    for r in 4..=6 {
        send_round(&mut clients, r, &mut seed).await;
        wait_round(&stores(&backends), r).await;
    }
    let mut interim = BTreeMap::new();
    for (i, &was) in home.iter().enumerate() {
        let found = locate(&stores(&backends), i);
        assert_eq!(found.len(), 1, "{} is on back-ends {found:?}", service(i));
        let (&b, &(value, _)) = found.iter().next().unwrap();
        if was == stopped {
            assert_ne!(b, stopped);
            assert_eq!(
                value,
                total(4..=6, i),
                "{} moved: its sum starts over",
                service(i)
            );
            interim.insert(i, b);
        } else {
            assert_eq!(b, was, "{} moved though its back-end is up", service(i));
            assert_eq!(value, total(1..=6, i), "{}", service(i));
        }
    }
    assert!(!interim.is_empty());
    // What a gateway had queued for the stopped back-end went to the new owners.
    let rerouted: u64 = gateways
        .iter()
        .flat_map(|g| g.balancers[0].1.backends())
        .filter(|b| b.endpoint == endpoints[stopped])
        .map(|b| b.rerouted_items)
        .sum();
    assert!(rerouted > 0);
    // A gateway that carried none of the stopped back-end's services in these rounds may not
    // have noticed; any that did has it off the ring.
    assert!(
        gateways
            .iter()
            .any(|g| gateway_view(g, &endpoints[stopped]) == (false, false))
    );

    // It comes back on the same port. Once both gateways see it up, rounds 7-9 go to it again;
    // the interim copies stop changing.
    backends[stopped] = Some(backend(addrs[stopped].port()).await);
    let deadline = Instant::now() + WAIT;
    let back = || {
        gateways
            .iter()
            .all(|g| gateway_view(g, &endpoints[stopped]) == (true, true))
    };
    while !back() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back(), "the gateways did not see the back-end return");
    for r in 7..=9 {
        send_round(&mut clients, r, &mut seed).await;
        wait_round(&stores(&backends), r).await;
    }
    for i in 0..SERVICES {
        let found = locate(&stores(&backends), i);
        if home[i] == stopped {
            let want = BTreeMap::from([
                (stopped, (total(7..=9, i), START + 9 * ROUND)),
                (interim[&i], (total(4..=6, i), START + 6 * ROUND)),
            ]);
            assert_eq!(found, want, "{} came back", service(i));
        } else {
            let want = BTreeMap::from([(home[i], (total(1..=9, i), START + 9 * ROUND))]);
            assert_eq!(found, want, "{} stayed", service(i));
        }
    }
    // Nothing the gateways accepted is left behind (a batch is acked just after its answer).
    let queued = || -> Vec<usize> {
        gateways
            .iter()
            .flat_map(|g| g.balancers[0].1.backends())
            .map(|b| b.queued)
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    while queued().iter().any(|&q| q > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(queued(), [0; 6]);

    drop(clients);
    for g in gateways {
        g.shutdown().await;
    }
    for b in backends.into_iter().flatten() {
        b.shutdown().await;
    }
}

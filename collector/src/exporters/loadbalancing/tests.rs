//! The exporter's configuration (every key, exact errors), the splitting of requests per
//! routing key (exact parts), and the balancer following a resolver's changes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio_util::sync::CancellationToken;

use super::split::{Plan, metric_hash, plan, resource_hasher, service_hash};
use super::*;
use crate::config::{self, Exporter};
use crate::processors::Request;
use crate::test_support::{
    int_point, kv, logs_request, request_from, resource_metrics, sum, traces_request,
};

// === Configuration ===

fn load(exporter: &str, pipeline: &str) -> Result<config::Config, String> {
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters:
  loadbalancing:
{}
service: {{pipelines: {{{pipeline}: {{receivers: [otlp], exporters: [loadbalancing]}}}}}}
",
        exporter
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    config::Config::from_yaml_str_with_env(&yaml, "test", &|_| None).map_err(|e| format!("{e:#}"))
}

fn settings(exporter: &str) -> Settings {
    match load(exporter, "metrics") {
        Ok(config) => match config.exporters.into_values().next() {
            Some(Exporter::LoadBalancing(s)) => s,
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{exporter}: {e}"),
    }
}

const STATIC: &str = "resolver: {static: {hostnames: [b1:4317]}}";

#[test]
fn parses_every_key() {
    let s = settings(
        r#"routing_key: resource
protocol:
  otlp:
    timeout: 2s
    tls: {insecure: true}
    compression: none
    headers: {x-tenant: blue}
    retry_on_failure: {initial_interval: 100ms}
    sending_queue: {num_consumers: 2, queue_size: 50}
resolver:
  static:
    hostnames: [b1:4317, " 10.0.0.2:4317"]"#,
    );
    assert_eq!(s.routing_key, RoutingKey::Resource);
    let Backends::Static(backends) = &s.backends else {
        panic!("{:?}", s.backends)
    };
    let endpoints: Vec<(&str, String)> = backends
        .iter()
        .map(|(e, o)| (e.as_str(), o.endpoint.to_string()))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("b1:4317", "http://b1:4317/".to_owned()),
            ("10.0.0.2:4317", "http://10.0.0.2:4317/".to_owned())
        ]
    );
    for (_, o) in backends.iter().chain([&("".to_owned(), s.otlp.clone())]) {
        assert_eq!(o.timeout, Duration::from_secs(2));
        assert_eq!((o.queue.num_consumers, o.queue.queue_size), (2, 50));
        assert_eq!(o.retry.initial_interval, Duration::from_millis(100));
        assert_eq!(o.headers.get("x-tenant").unwrap(), "blue");
        assert!(o.tls.is_none());
    }
}

#[test]
fn the_dns_resolver_and_the_defaults() {
    let s = settings(
        "resolver: {dns: {hostname: collectors.internal, port: \"4318\", interval: 30s, timeout: 2s}}",
    );
    assert_eq!(s.routing_key, RoutingKey::Service);
    let Backends::Dns(dns) = &s.backends else {
        panic!("{:?}", s.backends)
    };
    assert_eq!(
        dns,
        &DnsSettings {
            hostname: "collectors.internal".into(),
            port: 4318,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(2),
        }
    );
    assert_eq!(
        s.otlp.endpoint.to_string(),
        "https://collectors.internal:4318/"
    );
    let Backends::Dns(dns) = settings("resolver: {dns: {hostname: c, port: 9000}}").backends else {
        panic!()
    };
    assert_eq!(
        (dns.port, dns.interval, dns.timeout),
        (9000, Duration::from_secs(5), Duration::from_secs(1))
    );
    let Backends::Dns(dns) = settings("resolver: {dns: {hostname: c}}").backends else {
        panic!()
    };
    assert_eq!(dns.port, 4317);
}

#[test]
fn refuses_bad_values_with_the_key_path() {
    let cases = [
        (
            "resolver: {}",
            "exporters.loadbalancing.resolver: set exactly one of static and dns",
        ),
        (
            "resolver: {static: {hostnames: [a:1]}, dns: {hostname: b}}",
            "exporters.loadbalancing.resolver: set exactly one of static and dns",
        ),
        (
            "resolver: {static: {hostnames: []}}",
            "exporters.loadbalancing.resolver.static.hostnames: at least one back-end \
             (host:port) is required",
        ),
        (
            "resolver: {static: {hostnames: [a:4317, a:4317]}}",
            "exporters.loadbalancing.resolver.static.hostnames[1]: \"a:4317\" is listed twice",
        ),
        (
            "resolver: {static: {hostnames: [a:4317/x]}}",
            "exporters.loadbalancing.resolver.static.hostnames[0]: \"a:4317/x\" has a path; a \
             gRPC endpoint is host:port",
        ),
        (
            &format!("routing_key: traceId\n{STATIC}"),
            "exporters.loadbalancing.routing_key: \"traceId\" is not one of service, resource, \
             metric, traceID",
        ),
        (
            &format!("protocol: {{otlp: {{endpoint: b9:4317}}}}\n{STATIC}"),
            "exporters.loadbalancing.protocol.otlp.endpoint: not supported: each back-end's \
             endpoint comes from the resolver",
        ),
        (
            &format!("protocol: {{otlp: {{sending_queue: {{enabled: false}}}}}}\n{STATIC}"),
            "exporters.loadbalancing.protocol.otlp.sending_queue.enabled: false is not \
             supported: each back-end needs its own queue",
        ),
        (
            &format!("protocol: {{otlp: {{timeout: 0}}}}\n{STATIC}"),
            "exporters.loadbalancing.protocol.otlp.timeout: must be more than 0",
        ),
        (
            "resolver: {dns: {port: 4317}}",
            "exporters.loadbalancing.resolver.dns.hostname: required (the name whose addresses \
             are the back-ends)",
        ),
        (
            "resolver: {dns: {hostname: c, port: 0}}",
            "exporters.loadbalancing.resolver.dns.port: 0 is not a port number (1 to 65535)",
        ),
        (
            "resolver: {dns: {hostname: c, port: http}}",
            "exporters.loadbalancing.resolver.dns.port: \"http\" is not a port number (1 to 65535)",
        ),
        (
            "resolver: {dns: {hostname: c, interval: 0}}",
            "exporters.loadbalancing.resolver.dns.interval: must be more than 0",
        ),
        (
            "resolver: {dns: {hostname: \"a b\"}}",
            "exporters.loadbalancing.resolver.dns.hostname: \"a b:4317\" is not host:port",
        ),
        (
            &format!("protocol: {{otlp: {{sending_queue: {{storage: file_storage}}}}}}\n{STATIC}"),
            "exporters.loadbalancing.protocol.otlp.sending_queue.storage: extension \
             \"file_storage\" is not configured (add it under extensions:)",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(load(yaml, "metrics").unwrap_err(), want, "{yaml}");
    }
}

#[test]
fn refuses_unknown_keys_naming_them() {
    for (yaml, want) in [
        (
            "resolver: {k8s: {service: lb}}",
            "unknown field `k8s`, expected `static` or `dns`",
        ),
        (
            "sending_queue: {enabled: true}",
            "unknown field `sending_queue`, expected one of `routing_key`, `protocol`, `resolver`",
        ),
        (
            "protocol: {otlphttp: {}}",
            "unknown field `otlphttp`, expected `otlp`",
        ),
        (
            "resolver: {dns: {hostname: c, server: 10.0.0.53}}",
            "unknown field `server`, expected one of `hostname`, `port`, `interval`, `timeout`",
        ),
    ] {
        let err = load(yaml, "metrics").unwrap_err();
        assert!(err.contains(want), "{yaml}: {err}");
        assert!(
            err.starts_with("test: invalid configuration: exporters.loadbalancing"),
            "{err}"
        );
    }
}

#[test]
fn refuses_a_routing_key_that_cannot_route_the_pipelines_signal() {
    assert_eq!(
        load(&format!("routing_key: metric\n{STATIC}"), "traces").unwrap_err(),
        "service.pipelines.traces: \"loadbalancing\" handles only metrics with routing_key \
         metric, not this pipeline's signal"
    );
    assert_eq!(
        load(&format!("routing_key: traceID\n{STATIC}"), "metrics").unwrap_err(),
        "service.pipelines.metrics: \"loadbalancing\" handles only traces and logs with \
         routing_key traceID, not this pipeline's signal"
    );
    for (key, pipeline) in [
        ("traceID", "logs"),
        ("service", "logs"),
        ("resource", "traces"),
    ] {
        load(&format!("routing_key: {key}\n{STATIC}"), pipeline).unwrap();
    }
}

// === Splitting ===

fn service(name: &str, metric: &str, value: i64) -> ResourceMetrics {
    resource_metrics(
        vec![kv("service.name", name)],
        vec![sum(metric, vec![int_point(value, vec![])])],
    )
}

fn metrics(entries: Vec<ResourceMetrics>) -> Request {
    Request::Metrics(request_from(entries))
}

#[test]
fn service_routing_sends_whole_resources_to_their_owner() {
    let (a1, b, a2) = (
        service("a", "x", 1),
        service("b", "x", 2),
        service("a", "y", 3),
    );
    let request = metrics(vec![a1.clone(), b.clone(), a2.clone()]);
    let owner = |h| usize::from(h == service_hash("b"));
    assert_eq!(
        plan(&request, RoutingKey::Service, &owner),
        Plan::Parts(vec![(0, metrics(vec![a1, a2])), (1, metrics(vec![b]))])
    );
    // Everything to one back-end: the request goes whole (its bytes as received).
    assert_eq!(plan(&request, RoutingKey::Service, &|_| 2), Plan::Whole(2));
    assert_eq!(
        plan(&metrics(vec![]), RoutingKey::Service, &|_| 0),
        Plan::Empty
    );
}

#[test]
fn a_resource_without_a_service_name_routes_as_the_empty_name() {
    let request = metrics(vec![resource_metrics(vec![kv("host.name", "h")], vec![])]);
    let owner = |h| if h == service_hash("") { 7 } else { 0 };
    assert_eq!(plan(&request, RoutingKey::Service, &owner), Plan::Whole(7));
}

#[test]
fn resource_routing_reads_every_attribute_in_key_order() {
    let resource = |attrs| Resource {
        attributes: attrs,
        ..Default::default()
    };
    let one = resource(vec![kv("service.name", "a"), kv("host.name", "h1")]);
    let same = resource(vec![kv("host.name", "h1"), kv("service.name", "a")]);
    let other_host = resource(vec![kv("service.name", "a"), kv("host.name", "h2")]);
    let h = |r: &Resource| resource_hasher(Some(r)).finish();
    assert_eq!(h(&one), h(&same));
    assert_ne!(h(&one), h(&other_host));
    assert_ne!(h(&one), service_hash("a"));

    let entries = vec![
        resource_metrics(
            one.attributes.clone(),
            vec![sum("x", vec![int_point(1, vec![])])],
        ),
        resource_metrics(
            other_host.attributes.clone(),
            vec![sum("x", vec![int_point(2, vec![])])],
        ),
    ];
    let request = metrics(entries.clone());
    let owner = |hash| usize::from(hash == h(&other_host));
    assert_eq!(
        plan(&request, RoutingKey::Resource, &owner),
        Plan::Parts(vec![
            (0, metrics(vec![entries[0].clone()])),
            (1, metrics(vec![entries[1].clone()]))
        ])
    );
}

#[test]
fn metric_routing_splits_inside_a_resource_keeping_resource_and_scope() {
    let attrs = vec![kv("service.name", "a")];
    let (m1, m2, m3) = (
        sum("m1", vec![int_point(1, vec![])]),
        sum("m2", vec![int_point(2, vec![])]),
        sum("m3", vec![int_point(3, vec![])]),
    );
    let request = metrics(vec![resource_metrics(
        attrs.clone(),
        vec![m1.clone(), m2.clone(), m3.clone()],
    )]);
    let res = Resource {
        attributes: attrs.clone(),
        ..Default::default()
    };
    let m2_hash = metric_hash(Some(&res), "m2");
    let owner = |h| usize::from(h == m2_hash);
    assert_eq!(
        plan(&request, RoutingKey::Metric, &owner),
        Plan::Parts(vec![
            (
                0,
                metrics(vec![resource_metrics(attrs.clone(), vec![m1, m3])])
            ),
            (1, metrics(vec![resource_metrics(attrs, vec![m2])])),
        ])
    );
}

#[test]
fn trace_id_routing_splits_spans_and_sends_untraced_logs_by_service() {
    let mut traces = traces_request(3);
    let spans = &mut traces.resource_spans[0].scope_spans[0].spans;
    spans[1].trace_id = vec![2; 16];
    let owner = |h| usize::from(h == super::ring::hash(&[2; 16]));
    let part = |spans: Vec<Span>| {
        let mut t = traces.clone();
        t.resource_spans[0].scope_spans[0].spans = spans;
        Request::Traces(t)
    };
    let all = traces.resource_spans[0].scope_spans[0].spans.clone();
    assert_eq!(
        plan(
            &Request::Traces(traces.clone()),
            RoutingKey::TraceId,
            &owner
        ),
        Plan::Parts(vec![
            (0, part(vec![all[0].clone(), all[2].clone()])),
            (1, part(vec![all[1].clone()])),
        ])
    );

    let mut logs = logs_request(2);
    logs.resource_logs[0].scope_logs[0].log_records[0].trace_id = vec![2; 16];
    let records = logs.resource_logs[0].scope_logs[0].log_records.clone();
    let part = |records: Vec<LogRecord>| {
        let mut l = logs.clone();
        l.resource_logs[0].scope_logs[0].log_records = records;
        Request::Logs(l)
    };
    // The second record has no trace id: it goes where its service goes.
    let owner = |h| {
        if h == service_hash(crate::test_support::SERVICE) {
            4
        } else {
            usize::from(h == super::ring::hash(&[2; 16]))
        }
    };
    assert_eq!(
        plan(&Request::Logs(logs.clone()), RoutingKey::TraceId, &owner),
        Plan::Parts(vec![
            (1, part(vec![records[0].clone()])),
            (4, part(vec![records[1].clone()]))
        ])
    );
    let empty = Request::Logs(ExportLogsServiceRequest::default());
    assert_eq!(plan(&empty, RoutingKey::TraceId, &owner), Plan::Empty);
    let empty = Request::Traces(ExportTraceServiceRequest::default());
    assert_eq!(plan(&empty, RoutingKey::TraceId, &owner), Plan::Empty);
    let empty = Request::Metrics(ExportMetricsServiceRequest::default());
    assert_eq!(plan(&empty, RoutingKey::Metric, &owner), Plan::Empty);
}

// === The balancer and its resolver ===

/// A resolver whose answer the test changes.
fn fake_resolver(answer: Arc<Mutex<Vec<SocketAddr>>>) -> Resolve {
    Arc::new(move || {
        let addrs = answer.lock().unwrap().clone();
        Box::pin(async move { Ok(addrs) })
    })
}

async fn wait_for(balancer: &LoadBalancer, want: &[&str]) {
    let endpoints = || -> Vec<String> {
        balancer
            .backends()
            .into_iter()
            .map(|b| b.endpoint)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints() != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(endpoints(), want);
}

#[tokio::test]
async fn the_dns_resolver_adds_and_retires_backends_and_only_their_keys_move() {
    let mut settings = settings("resolver: {dns: {hostname: localhost, port: 4317}}");
    settings.otlp.tls = None;
    settings.backends = Backends::Dns(DnsSettings {
        hostname: "localhost".into(),
        port: 4317,
        interval: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
    });
    let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let answer = Arc::new(Mutex::new(vec![addr("127.0.0.1:1"), addr("127.0.0.2:1")]));
    let stop = CancellationToken::new();
    let balancer = LoadBalancer::start_with(
        "loadbalancing".into(),
        &settings,
        None,
        &stop,
        Some(fake_resolver(answer.clone())),
    )
    .unwrap();
    wait_for(&balancer, &["127.0.0.1:1", "127.0.0.2:1"]).await;
    let services: Vec<String> = (0..200).map(|i| format!("svc-{i}")).collect();
    let owners = |b: &LoadBalancer| -> Vec<String> {
        services
            .iter()
            .map(|s| b.owner_of_service(s).unwrap())
            .collect()
    };
    let before = owners(&balancer);

    *answer.lock().unwrap() = vec![addr("127.0.0.2:1"), addr("127.0.0.3:1")];
    wait_for(&balancer, &["127.0.0.2:1", "127.0.0.3:1"]).await;
    let after = owners(&balancer);
    for (old, new) in before.iter().zip(&after) {
        match old.as_str() {
            "127.0.0.1:1" => assert_ne!(new, "127.0.0.1:1"),
            // A key of a back-end that stayed moves only to the one that was added.
            kept => assert!(new == kept || new == "127.0.0.3:1", "{kept} -> {new}"),
        }
    }

    // A failed resolution keeps the last answer.
    let failing: Resolve = Arc::new(|| Box::pin(async { Err("no such host".to_owned()) }));
    let other =
        LoadBalancer::start_with("lb/2".into(), &settings, None, &stop, Some(failing)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(other.backends().is_empty());
    let refused = other
        .export(&mut crate::pipeline::Work::decoded(metrics(vec![service(
            "a", "x", 1,
        )])))
        .await
        .unwrap_err();
    assert_eq!(refused.reason, "exporter lb/2: no back-end is known yet");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    balancer.shutdown(deadline).await;
    other.shutdown(deadline).await;
    stop.cancel();
}

#[tokio::test]
async fn the_system_resolver_finds_localhost() {
    let dns = DnsSettings {
        hostname: "localhost".into(),
        port: 4317,
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(2),
    };
    let addrs = super::resolver::lookup(dns)().await.unwrap();
    assert!(
        addrs.contains(&"127.0.0.1:4317".parse().unwrap()),
        "{addrs:?}"
    );
}

#[tokio::test]
async fn each_backend_gets_its_own_persistent_queue() {
    let dir = std::env::temp_dir().join(format!("vigil-lb-queues-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let yaml = format!(
        "extensions: {{file_storage: {{directory: {}, create_directory: true, fsync: false}}}}
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}}}
exporters:
  loadbalancing/tier:
    protocol: {{otlp: {{tls: {{insecure: true}}, sending_queue: {{storage: file_storage}}}}}}
    resolver: {{static: {{hostnames: [\"127.0.0.1:1\", \"127.0.0.1:2\"]}}}}
service:
  extensions: [file_storage]
  pipelines: {{logs: {{receivers: [otlp], exporters: [loadbalancing/tier]}}}}
",
        dir.display()
    );
    let config = config::Config::from_yaml_str(&yaml, "test").unwrap();
    let running = crate::app::start(&config).await.unwrap();
    let mut queues: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    queues.sort();
    assert_eq!(
        queues,
        [
            "loadbalancing_tier_127.0.0.1~3A1",
            "loadbalancing_tier_127.0.0.1~3A2"
        ]
    );
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done(), "timed out waiting until {what}");
}

/// Back-end A's port is closed, then reopened; back-end B listens but never answers (busy).
#[tokio::test]
async fn a_stopped_backend_leaves_the_ring_its_queued_batch_moves_and_it_returns_when_it_listens() {
    let a: SocketAddr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = busy.local_addr().unwrap();
    let settings = settings(&format!(
        "protocol:
  otlp:
    tls: {{insecure: true}}
    timeout: 300ms
    retry_on_failure: {{initial_interval: 10ms, max_interval: 50ms, max_elapsed_time: 0}}
resolver: {{static: {{hostnames: [\"{a}\", \"{b}\"]}}}}"
    ));
    let stop = CancellationToken::new();
    let balancer = LoadBalancer::start("loadbalancing".into(), &settings, None, &stop).unwrap();
    let status = |endpoint: SocketAddr| {
        balancer
            .backends()
            .into_iter()
            .find(|s| s.endpoint == endpoint.to_string())
            .unwrap()
    };
    // A service that A owns while both are up.
    let name = (0..)
        .map(|i| format!("svc-{i}"))
        .find(|n| balancer.owner_of_service(n) == Some(a.to_string()))
        .unwrap();
    let request = metrics(vec![service(&name, "x", 1)]);
    balancer
        .export(&mut crate::pipeline::Work::decoded(request))
        .await
        .unwrap();

    // A refuses connections: after its failed sends and a failed probe it is down and off the
    // ring, and the batch queued for it is queued for B, the service's owner now.
    wait_until("A is down and its batch moved", || {
        let s = status(a);
        (s.up, s.in_ring, s.rerouted_items, s.queued) == (false, false, 1, 0)
    })
    .await;
    assert_eq!(balancer.owner_of_service(&name), Some(b.to_string()));
    // B accepts connections but never answers: busy, not gone. It keeps the batch and its keys.
    let s = status(b);
    assert_eq!((s.up, s.in_ring, s.queued), (true, true, 1));

    // A listens again: two probes later it is back on the ring, and its service with it.
    let _reopened = tokio::net::TcpListener::bind(a).await.unwrap();
    wait_until("A is up again", || {
        let s = status(a);
        (s.up, s.in_ring) == (true, true)
    })
    .await;
    assert_eq!(balancer.owner_of_service(&name), Some(a.to_string()));

    balancer
        .shutdown(tokio::time::Instant::now() + Duration::from_millis(200))
        .await;
    stop.cancel();
    drop(busy);
}

#[tokio::test]
async fn when_every_backend_is_down_all_stay_on_the_ring_and_batches_wait() {
    let a: SocketAddr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let settings = settings(&format!(
        "protocol:
  otlp:
    tls: {{insecure: true}}
    timeout: 300ms
    retry_on_failure: {{initial_interval: 10ms, max_interval: 50ms, max_elapsed_time: 0}}
resolver: {{static: {{hostnames: [\"{a}\"]}}}}"
    ));
    let stop = CancellationToken::new();
    let balancer = LoadBalancer::start("loadbalancing".into(), &settings, None, &stop).unwrap();
    balancer
        .export(&mut crate::pipeline::Work::decoded(metrics(vec![service(
            "a", "x", 1,
        )])))
        .await
        .unwrap();
    wait_until("A is down", || !balancer.backends()[0].up).await;
    let s = &balancer.backends()[0];
    assert_eq!((s.in_ring, s.queued, s.rerouted_items), (true, 1, 0));
    balancer
        .shutdown(tokio::time::Instant::now() + Duration::from_millis(200))
        .await;
    stop.cancel();
}

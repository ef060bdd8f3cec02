//! A catalogue of hostile inputs (issue 10) against a real collector on loopback ports: each
//! case sends its bytes over a real socket and asserts the exact answer, then that the collector
//! is still up and taking points, that a counter accepted first (the sentinel) still has its
//! exact value, that the page has no duplicate series line, and that the page parses in
//! promtool and in Python's prometheus_client (text and OpenMetrics; the Python parses are
//! batched into one process at the end, since starting Python per page costs more than the
//! whole catalogue). Finally the self-telemetry must count every refusal the cases caused.
//!
//! The cases live in tables, one module per area; `case.rs` says what a case is.

mod case;
mod framing;
mod names;
mod pages;
mod protobuf;
mod values;

use std::collections::BTreeMap;

use case::{Answer, Case, Expect, Send};
use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;
use vigil_store::testing::{kv, request_from, resource_metrics, sum};

/// The per-metric series limit of the collector under test, small so a case can reach it.
pub(crate) const MAX_SERIES_PER_METRIC: usize = 5;

/// The sentinel counter's exact line, as the zero-config translation renders it.
const SENTINEL: &str =
    r#"hostile_sentinel_total{job="sentinel",kept="yes",otel_scope_name="test"} 42"#;

async fn start() -> Running {
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0}}
      http: {{endpoint: 127.0.0.1:0, max_request_body_size: 1048576}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
    metric_expiration: 1h
    max_series_per_metric: {MAX_SERIES_PER_METRIC}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"
    );
    let config = Config::from_yaml_str(&yaml, "hostile").expect("the test config is valid");
    app::start(&config).await.expect("the collector starts")
}

/// Every case of every area, in the order they run.
fn catalogue() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(protobuf::cases());
    cases.extend(framing::cases());
    cases.extend(names::cases());
    cases.extend(values::cases());
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_exact_answers_and_leave_the_collector_whole() {
    let vigil = start().await;
    let http = vigil.http_addr.expect("an OTLP/HTTP port");
    let grpc = vigil.grpc_addr.expect("an OTLP/gRPC port");
    let listen = vigil.listen_addr.expect("a /metrics port");
    let telemetry = vigil.telemetry_addr.expect("a telemetry port");

    let sentinel = request_from(vec![resource_metrics(
        vec![kv("service.name", "sentinel")],
        vec![sum(
            "hostile.sentinel",
            vec![vigil_store::testing::int_point(42, vec![kv("kept", "yes")])],
        )],
    )]);
    let answer = case::send(&Send::proto(&sentinel), http, grpc).await;
    case::check("sentinel", &Expect::Accepted, &answer);

    let cases = catalogue();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut refused: BTreeMap<&str, i64> = BTreeMap::new();
    let mut refused_by_transport: BTreeMap<&str, i64> = BTreeMap::new();
    let mut bad_requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut python_pages = Vec::new();
    let mut slowest = Vec::new();
    // VIGIL_HOSTILE_SURVEY=<dir> prints every answer and time (with --nocapture) and writes the
    // text page after case i to <dir>/i.txt, to write a new case's expectation from what the
    // collector does; every check still runs.
    let survey = std::env::var_os("VIGIL_HOSTILE_SURVEY").map(std::path::PathBuf::from);
    for (i, c) in cases.iter().enumerate() {
        let began = std::time::Instant::now();
        for (j, s) in c.setup.iter().enumerate() {
            let answer = case::send(s, http, grpc).await;
            case::check(
                &format!("{} (setup {j})", c.name),
                &Expect::Accepted,
                &answer,
            );
        }
        let answer = case::send(&c.send, http, grpc).await;
        if survey.is_some() {
            eprintln!("hostile: {i} {:?} => {answer:?}", c.name);
        }
        case::check(c.name, &c.expect, &answer);
        if let (Expect::Partial { reason, .. }, Answer::Ok(Some((n, _)))) = (&c.expect, &answer) {
            *refused.entry(reason).or_default() += n;
            let transport = if matches!(c.send, Send::Grpc(_)) {
                "grpc"
            } else {
                "http"
            };
            *refused_by_transport.entry(transport).or_default() += n;
        }
        if let Some(transport) = bad_request(&c.send, &answer) {
            *bad_requests.entry(transport).or_default() += 1;
        }
        let (text, openmetrics) = pages::after_case(c, i, listen, http, grpc).await;
        assert!(
            text.contains(SENTINEL),
            "case {:?}: the sentinel is gone:\n{text}",
            c.name
        );
        for (j, s) in c.cleanup.iter().enumerate() {
            let answer = case::send(s, http, grpc).await;
            case::check(
                &format!("{} (cleanup {j})", c.name),
                &Expect::Accepted,
                &answer,
            );
        }
        slowest.push((began.elapsed(), c.name));
        if let Some(dir) = &survey {
            eprintln!("hostile: took {:?}", began.elapsed());
            std::fs::write(dir.join(format!("{i}.txt")), &text)
                .expect("the survey directory is writable");
        }
        python_pages.push((format!("{} (text)", c.name), text));
        python_pages.push((format!("{} (OpenMetrics)", c.name), openmetrics));
    }
    let parse_began = std::time::Instant::now();
    pages::python_parse_all(&python_pages);
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    slowest.truncate(3);
    eprintln!(
        "hostile: the slowest cases (with their checks): {slowest:?}; prometheus_client parsed every page in {:?}",
        parse_began.elapsed()
    );
    eprintln!(
        "hostile: {} cases, {} pages parsed by prometheus_client",
        cases.len(),
        python_pages.len()
    );

    pages::check_self_telemetry(telemetry, &refused, &refused_by_transport, &bad_requests).await;
    vigil.shutdown().await;
}

/// The transport whose `vigil_receiver_bad_requests_total` an answer counts in: a request the
/// OTLP handlers refused outright (they always say why in the body). Not counted: answers from
/// the HTTP router (404, 405), from hyper before a handler runs (empty bodies), and tonic's own
/// refusal of a message past the size limit (OUT_OF_RANGE).
fn bad_request(send: &Send, answer: &Answer) -> Option<&'static str> {
    match answer {
        Answer::Grpc(tonic::Code::InvalidArgument, _) => Some("grpc"),
        Answer::Status(200 | 404 | 405, _) => None,
        Answer::Status(_, body) if matches!(send, Send::Tcp(_) | Send::TcpOpen(_)) => {
            // The first answer's head: a hyper refusal of the bytes after it may follow.
            let head = body.split("\r\n\r\n").next().unwrap_or_default();
            (!head.contains("content-length: 0")).then_some("http")
        }
        Answer::Status(_, _) => Some("http"),
        _ => None,
    }
}

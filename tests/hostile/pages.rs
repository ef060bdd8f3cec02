//! The checks after every case (the collector is up and takes a fresh point, the page has no
//! duplicate series and parses), the batched prometheus_client parse of every page, and the
//! self-telemetry figures after the whole catalogue.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use vigil_store::testing::{gauge, int_point, request_with};

use crate::case::{self, Case, Expect, Send};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("reqwest client");
    let mut req = client.get(format!("http://{addr}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("the admin port answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("a text body"))
}

/// After case number `i`: `/healthz` is 200; a fresh point (the gauge `hostile.alive` set to
/// `i`, over HTTP and gRPC in turn) is accepted and shown; the text page has the case's lines,
/// lacks its forbidden parts, has no duplicate series and passes promtool. Returns the text and
/// OpenMetrics pages for the batched Python parse.
pub(crate) async fn after_case(
    c: &Case,
    i: usize,
    listen: SocketAddr,
    http: SocketAddr,
    grpc: SocketAddr,
) -> (String, String) {
    let name = c.name;
    let (status, body) = get(listen, "/healthz", None).await;
    assert_eq!(status, 200, "case {name:?}: /healthz says {body}");

    let alive = request_with(vec![gauge(
        "hostile.alive",
        vec![int_point(i as i64, vec![])],
    )]);
    let send = if i.is_multiple_of(2) {
        Send::proto(&alive)
    } else {
        Send::grpc(&alive)
    };
    let answer = case::send(&send, http, grpc).await;
    case::check(&format!("{name} (fresh point)"), &Expect::Accepted, &answer);

    let (status, text) = get(listen, "/metrics", None).await;
    assert_eq!(status, 200, "case {name:?}: /metrics says {text}");
    let (status, openmetrics) = get(listen, "/metrics", Some(OPENMETRICS)).await;
    assert_eq!(
        status, 200,
        "case {name:?}: /metrics (OpenMetrics) says {openmetrics}"
    );

    let alive_line = format!(r#"hostile_alive{{job="test",otel_scope_name="test"}} {i}"#);
    assert!(
        has_line(&text, &alive_line),
        "case {name:?}: no {alive_line:?} in\n{text}"
    );
    for line in &c.page_has {
        assert!(
            has_line(&text, line),
            "case {name:?}: no line {line:?} in\n{text}"
        );
    }
    for part in &c.page_lacks {
        assert!(
            !text.contains(part.as_str()),
            "case {name:?}: {part:?} is on the page\n{text}"
        );
    }
    let dup = duplicate_series(&text);
    assert_eq!(
        dup.as_deref(),
        None,
        "case {name:?}: duplicate series on the page\n{text}"
    );
    if let Err(e) = vigil_tests::promtool_check_metrics_lenient(&text) {
        panic!("case {name:?}: {e}\n{text}");
    }
    (text, openmetrics)
}

fn has_line(page: &str, line: &str) -> bool {
    page.lines().any(|l| l == line)
}

/// The first sample identity (name and labels) that appears on two lines of `page`.
fn duplicate_series(page: &str) -> Option<String> {
    let mut seen = BTreeSet::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let id = series_id(line);
        if !seen.insert(id) {
            return Some(id.to_owned());
        }
    }
    None
}

/// `name{labels}` of a sample line, with quoted label values (which may hold `}` or spaces)
/// skipped over.
fn series_id(line: &str) -> &str {
    let (mut quoted, mut escaped) = (false, false);
    for (at, ch) in line.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return &line[..=at],
            ' ' if !quoted && !line[..at].contains('{') => return &line[..at],
            _ => {}
        }
    }
    line
}

/// Parses every page with prometheus_client in one Python process (`parse_pages.py`), and
/// panics naming each page it rejects.
pub(crate) fn python_parse_all(pages: &[(String, String)]) {
    let script = vigil_tests::repo_root().join("tests/hostile/parse_pages.py");
    let python = vigil_tests::python();
    let input = serde_json::to_vec(pages).expect("pages as JSON");
    let mut child = Command::new(&python)
        .arg("-I")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (set VIGIL_PYTHON or run scripts/test)",
                python.display()
            )
        });
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("parse_pages.py runs");
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            pages.len().to_string()
        ),
        Some(1) => panic!("prometheus_client rejects pages after these cases:\n{stderr}"),
        _ => panic!(
            "parse_pages.py failed ({}): {stderr} (set VIGIL_PYTHON or run scripts/test)",
            out.status
        ),
    }
}

/// The value of the one series of `name` whose labels include every pair of `labels`.
fn value(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&str> = page
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in\n{page}");
    found[0]
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {:?}", found[0]))
}

/// The self-telemetry counts exactly the points the cases saw refused: per reason in the
/// store, per transport at the receiver.
pub(crate) async fn check_self_telemetry(
    telemetry: SocketAddr,
    by_reason: &BTreeMap<&str, i64>,
    by_transport: &BTreeMap<&str, i64>,
    bad_requests: &BTreeMap<&str, i64>,
) {
    let (status, page) = get(telemetry, "/metrics", None).await;
    assert_eq!(status, 200, "{page}");
    let reasons = [
        "series_limit",
        "type_conflict",
        "name",
        "metric",
        "future",
        "overlap",
        "point",
    ];
    for reason in reasons {
        let want = by_reason.get(reason).copied().unwrap_or(0) as f64;
        let got = value(
            &page,
            "vigil_store_refused_points_total",
            &[("reason", reason)],
        );
        assert_eq!(
            got, want,
            "vigil_store_refused_points_total{{reason={reason:?}}}"
        );
    }
    for transport in ["http", "grpc"] {
        let want = by_transport.get(transport).copied().unwrap_or(0) as f64;
        let got = value(
            &page,
            "otelcol_receiver_refused_metric_points_total",
            &[("receiver", "otlp"), ("transport", transport)],
        );
        assert_eq!(got, want, "refused metric points over {transport}");
        assert!(got > 0.0, "the catalogue refuses points over {transport}");
        let want = bad_requests.get(transport).copied().unwrap_or(0) as f64;
        let got = value(
            &page,
            "vigil_receiver_bad_requests_total",
            &[("receiver", "otlp"), ("transport", transport)],
        );
        assert_eq!(got, want, "requests refused outright over {transport}");
        assert!(
            got > 0.0,
            "the catalogue sends bad requests over {transport}"
        );
    }
}

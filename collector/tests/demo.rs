//! `vigil-collector --demo`, the README's first command, serves a valid,
//! non-empty page and a snapshot with the demo service in it; and the demo,
//! run in-process against a collector on free ports, fills every Vigil SDK
//! family with exactly what it says it recorded (`demo_sdk` below).

#[path = "demo/sdk.rs"]
mod demo_sdk;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::check_exposition;
use vigil_tests::peers::free_port;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// Kills the child on drop so a failed assertion never leaves it running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fetch(port: u16, path: &str, accept: Option<&str>) -> Option<String> {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().ok()?.text().ok()
}

#[test]
fn demo_mode_serves_a_valid_non_empty_page_and_snapshot() {
    let (grpc, http, listen) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .args(["--demo", "--otlp-grpc", &format!("127.0.0.1:{grpc}")])
        .args([
            "--otlp-http",
            &format!("127.0.0.1:{http}"),
            "--listen",
            &format!("127.0.0.1:{listen}"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigil-collector");
    let mut guard = Guard(child);
    // The demo exports every 2 s; wait (bounded) for its families to show up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut page = String::new();
    while Instant::now() < deadline {
        page = fetch(listen, "/metrics", None).unwrap_or_default();
        if page.contains("demo_worker_lifecycle_transitions_total{")
            && page.contains("http_server_request_duration_seconds_bucket{")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        page.contains("demo_worker_lifecycle_transitions_total{"),
        "no demo metrics within 30 s:\n{page}"
    );
    let om = fetch(listen, "/metrics", Some(OPENMETRICS)).expect("OpenMetrics page");
    check_exposition(&page, &om);
    let snapshot: vigil_proto::snapshot::Snapshot =
        serde_json::from_str(&fetch(listen, "/api/v1/snapshot", None).expect("snapshot"))
            .expect("parses");
    assert!(
        snapshot.services.iter().any(|s| s.service == "vigil-demo"),
        "{snapshot:?}"
    );
    assert_eq!(fetch(listen, "/readyz", None).as_deref(), Some("ready\n"));
    let _ = guard.0.kill();
    let stderr = guard.0.stderr.take().expect("stderr");
    let first = BufReader::new(stderr)
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    assert!(!first.is_empty(), "the collector says where it serves");
}

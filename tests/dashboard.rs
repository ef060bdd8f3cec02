//! The dashboard at `GET /` in a real browser: Debian's `chromium`, headless,
//! against a collector running the `--demo` service plus two example
//! services built on the Vigil SDK (`sdk_tour`: lifecycle, a sweeper, health
//! checks with the `cache` upstream failing, gen-AI; `worker_dashboard`: child
//! workers with CPU and RSS, `idle-1` flagged a zombie).
//!
//! What it proves:
//! - the page, run by a real browser's JavaScript, draws every service of the
//!   snapshot, the zombie worker, the failing health check first, CPU % from
//!   two polls, and the collector's own figures (or "collector figures
//!   unavailable" while `/api/v1/self` answers 404);
//! - the page makes no request outside the collector: chromium resolves every
//!   host except 127.0.0.1 to nothing (`--host-resolver-rules`), and its
//!   network log (`--log-net-log`) lists every URL it requested, each of
//!   which must be on the collector's address;
//! - screenshots at 1280×800 and 390×844 (a phone) are written to
//!   `<cargo target dir>/dashboard.png` and `dashboard-phone.png` for people
//!   to look at.
//!
//! Chromium comes from `scripts/test` (Debian package `chromium`), which
//! exports `VIGIL_CHROMIUM`; the examples are the binaries `cargo test
//! --all-targets` builds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;
use vigil_collector::demo;
use vigil_proto::snapshot::Snapshot;

const CHROMIUM_HINT: &str = "chromium not found: run scripts/test (it installs the Debian package \
     `chromium`), or `apt-get install -y chromium`, or set VIGIL_CHROMIUM";

/// `$VIGIL_CHROMIUM`, else `/usr/bin/chromium`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("VIGIL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(path.is_file(), "{}: {CHROMIUM_HINT}", path.display());
    path
}

/// `target/<profile>/deps/dashboard-HASH` → `target/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

fn example_binary(name: &str) -> PathBuf {
    let bin = profile_dir().join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run scripts/test (which builds every target), or `cargo build -p examples --examples`",
        bin.display()
    );
    bin
}

async fn start_collector() -> Running {
    let yaml = "receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:0}
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheus]}
";
    let config = Config::from_yaml_str(yaml, "test").expect("test config is valid");
    app::start(&config).await.expect("collector starts")
}

/// An example service, running (it stops after `VIGIL_EXAMPLE_DURATION`, or
/// when the test drops it).
fn spawn_example(name: &str, grpc: SocketAddr) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(example_binary(name));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{grpc}"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
        .env("VIGIL_EXAMPLE_DURATION", "90s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

async fn fetch(listen: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{listen}{path}"))
        .await
        .expect("GET succeeds");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn series_value(snap: &Snapshot, service: &str, metric: &str, attrs: &[(&str, &str)]) -> Option<f64> {
    let svc = snap.services.iter().find(|s| s.service == service)?;
    let m = svc.metrics.iter().find(|m| m.name == metric)?;
    m.series
        .iter()
        .find(|s| {
            attrs
                .iter()
                .all(|(k, v)| s.attributes.get(*k).and_then(|a| a.as_str()) == Some(*v))
        })
        .and_then(|s| s.value.as_ref()?.as_f64())
}

/// Polls the snapshot (at most 60 s) until the scenario is on the collector:
/// the cache upstream unhealthy, idle-1 a zombie, busy-1's CPU counted, and
/// a third service (the demo).
async fn wait_for_scenario(listen: SocketAddr) -> Snapshot {
    let mut last = String::new();
    for _ in 0..120 {
        let (_, body) = fetch(listen, "/api/v1/snapshot").await;
        if let Ok(snap) = serde_json::from_str::<Snapshot>(&body) {
            let ready = series_value(&snap, "sdk-tour", "tour.upstream.health.status", &[("zone", "eu-2")]) == Some(0.0)
                && series_value(&snap, "worker_dashboard", "dashboard.worker.idle", &[("worker", "idle-1"), ("zombie", "true")]).is_some()
                && series_value(&snap, "worker_dashboard", "dashboard.process.cpu.time", &[("worker", "busy-1")]).is_some()
                && snap.services.len() >= 3;
            if ready {
                return snap;
            }
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the scenario did not reach the collector within 60 s; last snapshot:\n{last}");
}

/// Runs headless chromium on `url` with `args`; every host but 127.0.0.1
/// resolves to nothing. Returns stdout; panics on failure or after 60 s.
async fn run_chromium(url: &str, args: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!("vigil-chromium-{}", std::process::id()));
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("chromium finished within 60 s")
        .unwrap_or_else(|e| panic!("cannot run chromium: {e}; {CHROMIUM_HINT}"));
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The opening tag of the element carrying `marker` (an attribute), from the
/// dumped DOM.
fn tag_with<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no element with {marker} in the page:\n{dom}"));
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    &dom[start..=end]
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{} is nearly empty", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (word(16), word(20))
}

/// Every URL chromium's network log says it requested.
fn requested_urls(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).expect("chromium wrote its net log");
    let mut urls = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\"url\":\"") {
        rest = &rest[i + 7..];
        let end = rest.find('"').expect("url ends");
        urls.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_services_a_zombie_worker_and_the_failing_health_check_first() {
    let chromium_path = chromium();
    let collector = start_collector().await;
    let grpc = collector.grpc_addr.expect("grpc receiver");
    let listen = collector.listen_addr.expect("prometheus exporter");
    let stop = CancellationToken::new();
    let demo = tokio::spawn(demo::run(grpc, stop.clone()));
    let tour = spawn_example("sdk_tour", grpc);
    let pool = spawn_example("worker_dashboard", grpc);
    let snap = wait_for_scenario(listen).await;
    let (self_status, _) = fetch(listen, "/api/v1/self").await;
    let url = format!("http://{listen}/");

    // The DOM after 3 polls (virtual time runs ahead while no request is in flight).
    let target = profile_dir().parent().expect("target dir").to_path_buf();
    let net_log = target.join("dashboard-netlog.json");
    let dom = run_chromium(
        &url,
        &[
            "--virtual-time-budget=5000".into(),
            format!("--log-net-log={}", net_log.display()),
            "--dump-dom".into(),
        ],
    )
    .await;

    let polls: u32 = tag_with(&dom, "data-polls=").split("data-polls=\"").nth(1)
        .and_then(|v| v.split('"').next()).and_then(|v| v.parse().ok()).expect("data-polls");
    assert!(polls >= 2, "the page polled {polls} times in 5 s of virtual time");
    // Every service of the snapshot has its card, by name.
    for svc in &snap.services {
        let marker = format!("data-service=\"{}\"", svc.service);
        assert!(
            tag_with(&dom, &format!("class=\"panel service\" {marker}")).starts_with("<section"),
            "no card for {}",
            svc.service
        );
    }
    // The zombie, flagged and listed first in its table; busy workers are not.
    assert_eq!(
        tag_with(&dom, "data-worker=\"idle-1\""),
        "<tr class=\"worker zombie\" data-worker=\"idle-1\" data-zombie=\"true\">"
    );
    assert_eq!(
        tag_with(&dom, "data-worker=\"busy-1\""),
        "<tr class=\"worker\" data-worker=\"busy-1\" data-zombie=\"false\">"
    );
    assert!(dom.find("data-worker=\"idle-1\"") < dom.find("data-worker=\"busy-1\""));
    assert!(dom.contains("<span class=\"badge failing\">zombie</span>"));
    // busy-1 spins a core: its CPU % (two polls of the CPU-seconds counter) is a number.
    let busy_row = &dom[dom.find("data-worker=\"busy-1\"").unwrap_or(0)..];
    let cpu_cell = busy_row.split("<td class=\"num\">").nth(1).and_then(|c| c.split('<').next()).unwrap_or("");
    assert!(cpu_cell.ends_with(" %"), "busy-1 CPU cell: {cpu_cell:?}");
    // The failing upstream first, then the healthy one.
    assert_eq!(
        tag_with(&dom, "data-target=\"zone=eu-2\""),
        "<tr class=\"check failing\" data-target=\"zone=eu-2\" data-status=\"failing\">"
    );
    assert_eq!(
        tag_with(&dom, "data-target=\"zone=eu-1\""),
        "<tr class=\"check healthy\" data-target=\"zone=eu-1\" data-status=\"healthy\">"
    );
    assert!(dom.find("zone=eu-2") < dom.find("zone=eu-1"));
    // Lifecycle and sweeps of the tour.
    assert!(tag_with(&dom, "data-operation=\"finish\"").contains("data-failure-ratio=\"0.0\""));
    assert!(tag_with(&dom, "data-sweeper=\"tmp_gc\"").starts_with("<tr"));
    // The collector's own figures, or the note that they are unavailable.
    let figures = tag_with(&dom, "id=\"collector\"");
    if self_status == 404 {
        assert_eq!(figures, "<section id=\"collector\" class=\"panel\" data-state=\"unavailable\">");
        assert!(dom.contains("collector figures unavailable"));
    } else {
        assert_eq!(self_status, 200, "/api/v1/self");
        assert_eq!(figures, "<section id=\"collector\" class=\"panel\" data-state=\"available\">");
    }

    // No request left the collector.
    let urls = requested_urls(&net_log);
    let origin = format!("http://{listen}/");
    assert!(urls.contains(&format!("{origin}api/v1/snapshot")), "{urls:#?}");
    assert!(urls.contains(&format!("{origin}dashboard.js")), "{urls:#?}");
    let outside: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(outside.is_empty(), "requests outside the collector: {outside:#?}");

    // Screenshots for people to look at.
    for (file, size, w, h) in [
        ("dashboard.png", "1280,800", 1280, 800),
        ("dashboard-phone.png", "390,844", 390, 844),
    ] {
        let path = target.join(file);
        let _ = std::fs::remove_file(&path);
        run_chromium(
            &url,
            &[
                "--virtual-time-budget=5000".into(),
                format!("--window-size={size}"),
                format!("--screenshot={}", path.display()),
            ],
        )
        .await;
        assert_eq!(png_size(&path), (w, h), "{}", path.display());
        eprintln!("dashboard screenshot: {}", path.display());
    }
    let _ = chromium_path;

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), demo).await;
    drop((tour, pool));
    collector.shutdown().await;
}

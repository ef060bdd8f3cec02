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
//! - the filter box narrows services and workers to what matches;
//! - the page makes no request outside the collector: chromium resolves every
//!   host except 127.0.0.1 to nothing (`--host-resolver-rules`), and every URL
//!   the page requested (DevTools `Network.requestWillBeSent`) is on the
//!   collector's address;
//! - on a phone (390×844, mobile viewport) nothing scrolls sideways;
//! - screenshots at 1280×800 and 390×844 are written to
//!   `<cargo target dir>/dashboard.png` and `dashboard-phone.png` for people
//!   to look at.
//!
//! The browser runs in real time, driven over the DevTools protocol (`cdp`),
//! so the page's 2 s polls are real and rates between them are computed.
//!
//! Chromium comes from `scripts/test` (Debian package `chromium`), which
//! exports `VIGIL_CHROMIUM`; the examples are the binaries `cargo test
//! --all-targets` builds.

/// The DevTools protocol over a pipe.
#[path = "dashboard/cdp.rs"]
mod cdp;

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

/// Stops an example as Ctrl-C does (SIGINT, via `kill`), so it kills and reaps
/// its own child workers; a SIGKILL (`kill_on_drop`) would orphan them.
/// Waits at most 15 s, then kills it.
async fn stop_example(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

async fn fetch(listen: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{listen}{path}"))
        .await
        .expect("GET succeeds");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn series_value(
    snap: &Snapshot,
    service: &str,
    metric: &str,
    attrs: &[(&str, &str)],
) -> Option<f64> {
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
            let ready = series_value(
                &snap,
                "sdk-tour",
                "tour.upstream.health.status",
                &[("zone", "eu-2")],
            ) == Some(0.0)
                && series_value(
                    &snap,
                    "worker_dashboard",
                    "dashboard.worker.idle",
                    &[("worker", "idle-1"), ("zombie", "true")],
                )
                .is_some()
                && series_value(
                    &snap,
                    "worker_dashboard",
                    "dashboard.process.cpu.time",
                    &[("worker", "busy-1")],
                )
                .is_some()
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

/// What the browser saw.
struct Seen {
    /// `data-polls` of the page when the DOM was read.
    polls: u64,
    /// The DOM at 1280×800 after three polls.
    dom: String,
    /// Service cards and worker rows left with the filter set to `busy-2`.
    filtered: serde_json::Value,
    /// `document.documentElement.scrollWidth` at 390 px, mobile.
    phone_scroll_width: u64,
    /// Every URL the page requested.
    requested: Vec<String>,
}

/// Loads `url` in headless chromium and looks at it, writing screenshots to
/// `target`. Runs the blocking protocol session on a thread of its own, at
/// most 120 s.
async fn look_at(url: &str, target: &Path) -> Seen {
    let browser = cdp::Browser::start(
        &chromium(),
        &[
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
        ],
    );
    let pipes = browser.pipes();
    let (url, target) = (url.to_string(), target.to_path_buf());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let seen = std::panic::catch_unwind(move || session(&pipes, &url, &target));
        let _ = tx.send(seen);
    });
    let seen = tokio::time::timeout(Duration::from_secs(120), rx)
        .await
        .expect("the browser session finished within 120 s");
    drop(browser);
    match seen {
        Ok(Ok(seen)) => seen,
        _ => panic!("the browser session failed: see the panic above"),
    }
}

fn session(pipes: &(PathBuf, PathBuf), url: &str, target: &Path) -> Seen {
    let mut page = cdp::Session::connect(pipes);
    page.open();
    page.viewport(1280, 800, false);
    page.call("Page.navigate", serde_json::json!({ "url": url }));
    let mut polls = 0;
    for _ in 0..60 {
        polls = page
            .eval("Number(document.body ? document.body.dataset.polls || 0 : 0)")
            .as_u64()
            .unwrap_or(0);
        if polls >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let dom = page
        .eval("document.documentElement.outerHTML")
        .as_str()
        .unwrap_or_default()
        .to_string();
    write_png(&target.join("dashboard.png"), &page.screenshot());

    let filtered = page.eval(
        "(() => { const f = document.getElementById('filter'); f.value = 'busy-2'; \
         f.dispatchEvent(new Event('input')); \
         const out = { services: [...document.querySelectorAll('section.service')].map((e) => e.dataset.service), \
           workers: [...document.querySelectorAll('tr.worker')].map((e) => e.dataset.worker) }; \
         f.value = ''; f.dispatchEvent(new Event('input')); return out; })()",
    );

    page.viewport(390, 844, true);
    std::thread::sleep(Duration::from_millis(500));
    let phone_scroll_width = page
        .eval("document.documentElement.scrollWidth")
        .as_u64()
        .unwrap_or(u64::MAX);
    write_png(&target.join("dashboard-phone.png"), &page.screenshot());
    // A last call, so requests made until now are recorded.
    page.eval("1");
    Seen {
        polls,
        dom,
        filtered,
        phone_scroll_width,
        requested: page.requested,
    }
}

fn write_png(path: &Path, png: &[u8]) {
    std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("dashboard screenshot: {}", path.display());
}

/// The opening tag of the element carrying `marker` (an attribute), from the
/// DOM.
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
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (word(16), word(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_services_a_zombie_worker_and_the_failing_health_check_first() {
    chromium();
    let collector = start_collector().await;
    let grpc = collector.grpc_addr.expect("grpc receiver");
    let listen = collector.listen_addr.expect("prometheus exporter");
    let stop = CancellationToken::new();
    let demo = tokio::spawn(demo::run(grpc, demo::Settings::default(), stop.clone()));
    let tour = spawn_example("sdk_tour", grpc);
    let pool = spawn_example("worker_dashboard", grpc);
    let snap = wait_for_scenario(listen).await;
    let (self_status, _) = fetch(listen, "/api/v1/self").await;
    let origin = format!("http://{listen}/");
    let target = profile_dir().parent().expect("target dir").to_path_buf();
    let seen = look_at(&origin, &target).await;
    let dom = &seen.dom;

    assert!(seen.polls >= 3, "the page polled {} times", seen.polls);
    // Every service of the snapshot has its card, by name.
    let cards: Vec<&str> = dom
        .match_indices("<section class=\"panel service\"")
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap_or(0)])
        .collect();
    assert_eq!(cards.len(), snap.services.len(), "{cards:#?}");
    for svc in &snap.services {
        let marker = format!(" data-service=\"{}\"", svc.service);
        assert!(
            cards.iter().any(|c| c.ends_with(&marker)),
            "no card for {}: {cards:#?}",
            svc.service
        );
    }
    // The zombie, flagged and listed first; busy workers are not zombies.
    let idle = tag_with(dom, "data-worker=\"idle-1\"");
    assert!(
        idle.starts_with("<tr class=\"worker zombie\" data-worker=\"idle-1\" data-zombie=\"true\""),
        "{idle}"
    );
    let busy = tag_with(dom, "data-worker=\"busy-1\"");
    assert!(
        busy.starts_with("<tr class=\"worker\" data-worker=\"busy-1\" data-zombie=\"false\""),
        "{busy}"
    );
    assert!(dom.find("data-worker=\"idle-1\"") < dom.find("data-worker=\"busy-1\""));
    assert!(dom.contains("<span class=\"badge failing\">zombie</span>"));
    // busy-1 spins a shell loop: CPU % from two polls of its CPU-seconds
    // counter is well above zero (a loaded machine gives it less than a core).
    let cpu: f64 = busy
        .split("data-cpu-percent=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no CPU % on busy-1: {busy}"));
    assert!(cpu > 1.0 && cpu < 250.0, "busy-1 CPU {cpu} %");
    // The failing upstream first, then the healthy one.
    assert_eq!(
        tag_with(dom, "data-target=\"zone=eu-2\""),
        "<tr class=\"check failing\" data-target=\"zone=eu-2\" data-status=\"failing\">"
    );
    assert_eq!(
        tag_with(dom, "data-target=\"zone=eu-1\""),
        "<tr class=\"check healthy\" data-target=\"zone=eu-1\" data-status=\"healthy\">"
    );
    assert!(dom.find("zone=eu-2") < dom.find("zone=eu-1"));
    // The tour's lifecycle (no failure) and sweeper.
    assert_eq!(
        tag_with(dom, "data-operation=\"finish\""),
        "<tr data-operation=\"finish\" data-failure-ratio=\"0.0\">"
    );
    assert!(tag_with(dom, "data-sweeper=\"tmp_gc\"").starts_with("<tr"));
    // The collector's own figures, or the note that they are unavailable.
    let figures = tag_with(dom, "id=\"collector\"");
    assert_eq!(self_status, 200, "/api/v1/self");
    assert_eq!(
        figures,
        "<section id=\"collector\" class=\"panel\" data-state=\"available\">"
    );
    let panel = dom
        .split("id=\"collector\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap_or_default();
    assert!(panel.contains(">points/s accepted<"), "{panel}");
    assert!(panel.contains(">series held<"), "{panel}");
    assert!(
        !panel.contains("null"),
        "no stray null in the collector panel: {panel}"
    );
    // The filter keeps the one service and the one worker that match.
    assert_eq!(
        seen.filtered,
        serde_json::json!({"services": ["worker_dashboard"], "workers": ["busy-2"]})
    );
    // Nothing sideways on a phone.
    assert!(
        seen.phone_scroll_width <= 390,
        "scrollWidth {} at 390 px",
        seen.phone_scroll_width
    );

    // No request left the collector, and the page did poll both documents.
    let requested = &seen.requested;
    let pages = ["", "common.js", "views.js", "dashboard.js", "dashboard.css"];
    for path in pages.into_iter().chain(["api/v1/snapshot", "api/v1/self"]) {
        assert!(
            requested.contains(&format!("{origin}{path}")),
            "{path}: {requested:#?}"
        );
    }
    let outside: Vec<&String> = requested
        .iter()
        .filter(|u| !u.starts_with(&origin))
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the collector: {outside:#?}"
    );

    assert_eq!(png_size(&target.join("dashboard.png")), (1280, 800));
    assert_eq!(png_size(&target.join("dashboard-phone.png")), (390, 844));

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), demo).await;
    for example in [tour, pool] {
        stop_example(example).await;
    }
    collector.shutdown().await;
}

//! The demo in-process: a collector on free ports, the demo exporting to it
//! on short timings, and the snapshot (what the dashboard reads) checked for
//! each Vigil SDK family while the demo runs and, once it has stopped and
//! flushed, compared exactly with the [`Report`] of what it recorded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;
use vigil_collector::app;
use vigil_collector::config::Config;
use vigil_collector::demo::{self, Report, Settings};
use vigil_proto::snapshot::{Series, Snapshot};

const CONFIG: &str = "\
receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}}
";

/// Short timings: the idle worker is a zombie after about two seconds.
fn settings() -> Settings {
    Settings {
        export_interval: Duration::from_millis(250),
        tick: Duration::from_millis(100),
        sweep_interval: Duration::from_millis(150),
        panic_on_run: 3,
        health_interval: Duration::from_millis(150),
        sample_interval: Duration::from_millis(150),
        idle_after: Duration::from_millis(300),
        // Ample against a loaded machine: the busy worker is marked active
        // every tick (100 ms) and must never look idle for this long.
        reap_ttl: Duration::from_millis(1500),
    }
}

fn snapshot(listen: std::net::SocketAddr) -> Snapshot {
    let body = reqwest::blocking::get(format!(
        "http://{listen}/api/v1/snapshot?service={}",
        demo::SERVICE
    ))
    .and_then(|r| r.text())
    .unwrap_or_default();
    // Not there yet (or not parsable): an empty document, and the caller polls again.
    serde_json::from_str(&body).unwrap_or_else(|_| Snapshot {
        schema_version: 0,
        generated_at: String::new(),
        services: Vec::new(),
    })
}

/// Every series of the demo's metric `name`.
fn series<'a>(snap: &'a Snapshot, name: &str) -> Vec<&'a Series> {
    snap.services
        .iter()
        .filter(|s| s.service == demo::SERVICE)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .flat_map(|m| &m.series)
        .collect()
}

fn attr<'a>(s: &'a Series, key: &str) -> Option<&'a str> {
    s.attributes.get(key).and_then(Json::as_str)
}

fn number(v: Option<&Json>) -> f64 {
    v.and_then(Json::as_f64).unwrap_or(f64::NAN)
}

/// `name`'s value by the string value of attribute `key`, for series whose
/// attributes include every `(k, v)` of `having`.
fn by(snap: &Snapshot, name: &str, key: &str, having: &[(&str, &str)]) -> BTreeMap<String, f64> {
    series(snap, name)
        .into_iter()
        .filter(|s| having.iter().all(|(k, v)| attr(s, k) == Some(v)))
        .map(|s| {
            (
                attr(s, key).unwrap_or("-").to_owned(),
                number(s.value.as_ref()),
            )
        })
        .collect()
}

fn zombie_flagged(snap: &Snapshot) -> bool {
    by(snap, "demo.worker.idle", "worker", &[("zombie", "true")]).contains_key(demo::IDLE_WORKER)
}

fn sweep_runs(snap: &Snapshot) -> BTreeMap<String, f64> {
    by(
        snap,
        "demo.sweep.runs",
        "result",
        &[("sweeper", demo::SWEEPER)],
    )
}

/// Everything the running phase asserts on has arrived.
fn running_phase_complete(snap: &Snapshot) -> bool {
    let status = by(snap, "demo.dependency.health.status", "target", &[]);
    zombie_flagged(snap)
        && sweep_runs(snap).get("ok").is_some_and(|n| *n >= 2.0)
        && status.get(demo::FAILING_TARGET) == Some(&0.0)
        && status.len() == demo::HEALTH_TARGETS.len()
        && !series(snap, "demo.gen_ai.client.cost.usd").is_empty()
        && by(snap, "demo.process.memory.usage", "worker", &[]).len() == 3
        && transitions(snap).keys().any(|k| k[1] == "failure")
        && [404, 422, 500, 503]
            .iter()
            .all(|code| http(snap).keys().any(|k| k.2 == *code))
}

fn transitions(snap: &Snapshot) -> BTreeMap<[String; 4], u64> {
    series(snap, "demo.worker.lifecycle.transitions")
        .into_iter()
        .filter(|s| number(s.value.as_ref()) > 0.0)
        .map(|s| {
            let key = ["operation", "outcome", "origin", "image"]
                .map(|k| attr(s, k).unwrap_or("?").to_owned());
            (key, number(s.value.as_ref()) as u64)
        })
        .collect()
}

fn reported_transitions(report: &Report) -> BTreeMap<[String; 4], u64> {
    report
        .transitions
        .iter()
        .map(|(t, n)| {
            (
                [t.operation, t.outcome, t.origin, t.image].map(str::to_owned),
                *n,
            )
        })
        .collect()
}

/// Request counts by (method, route, status).
fn http(snap: &Snapshot) -> BTreeMap<(String, Option<String>, u64), u64> {
    let mut counts = BTreeMap::new();
    for s in series(snap, "http.server.request.duration") {
        let key = (
            attr(s, "http.request.method").unwrap_or("?").to_owned(),
            attr(s, "http.route").map(str::to_owned),
            s.attributes
                .get("http.response.status_code")
                .and_then(Json::as_u64)
                .unwrap_or(0),
        );
        *counts.entry(key).or_default() += s.count.unwrap_or(0);
    }
    counts
}

fn reported_http(report: &Report) -> BTreeMap<(String, Option<String>, u64), u64> {
    report
        .http
        .iter()
        .map(|(k, n)| {
            (
                (k.method.to_owned(), k.route.clone(), u64::from(k.status)),
                *n,
            )
        })
        .collect()
}

/// Token sums by (model, token type).
fn tokens(snap: &Snapshot) -> BTreeMap<(String, String), u64> {
    let mut sums = BTreeMap::new();
    for s in series(snap, "gen_ai.client.token.usage") {
        let key = (
            attr(s, "gen_ai.request.model").unwrap_or("?").to_owned(),
            attr(s, "gen_ai.token.type").unwrap_or("?").to_owned(),
        );
        *sums.entry(key).or_default() += number(s.sum.as_ref()) as u64;
    }
    sums
}

fn reported_tokens(report: &Report) -> BTreeMap<(String, String), u64> {
    let mut sums = BTreeMap::new();
    for (model, totals) in &report.genai {
        sums.insert((model.to_string(), "input".to_owned()), totals.input_tokens);
        if totals.output_tokens > 0 {
            sums.insert(
                (model.to_string(), "output".to_owned()),
                totals.output_tokens,
            );
        }
    }
    sums
}

#[test]
fn demo_fills_every_sdk_family_and_the_collector_holds_exactly_what_it_recorded() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config::from_yaml_str(CONFIG, "demo").unwrap();
    let collector = runtime.block_on(app::start(&config)).unwrap();
    let listen = collector.listen_addr.unwrap();
    let stop = CancellationToken::new();
    let demo = runtime.spawn(demo::run(
        collector.grpc_addr.unwrap(),
        settings(),
        stop.clone(),
    ));

    // 1. While it runs: each family is there, with the one failing target,
    // the one zombie and the one panic.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut snap = snapshot(listen);
    while !running_phase_complete(&snap) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        snap = snapshot(listen);
    }
    assert!(
        running_phase_complete(&snap),
        "incomplete after 40 s: {snap:#?}"
    );

    let status = by(&snap, "demo.dependency.health.status", "target", &[]);
    let mut want: BTreeMap<String, f64> = demo::HEALTH_TARGETS
        .iter()
        .map(|t| (t.to_string(), 1.0))
        .collect();
    want.insert(demo::FAILING_TARGET.to_owned(), 0.0);
    assert_eq!(status, want, "only the failing target is unhealthy");
    let failing_checks = by(
        &snap,
        "demo.dependency.health.checks",
        "target",
        &[("result", "fail")],
    );
    assert_eq!(
        failing_checks
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        [demo::FAILING_TARGET],
        "no other target ever failed a probe"
    );
    let passing = by(
        &snap,
        "demo.dependency.health.checks",
        "target",
        &[("result", "pass")],
    );
    assert_eq!(
        passing.get(demo::FAILING_TARGET).copied().unwrap_or(0.0),
        0.0
    );

    assert_eq!(
        number(
            series(&snap, "demo.worker.zombies")
                .first()
                .and_then(|s| s.value.as_ref())
        ),
        1.0,
        "exactly one zombie"
    );
    let zombies = by(&snap, "demo.worker.idle", "worker", &[("zombie", "true")]);
    assert_eq!(
        zombies.keys().collect::<Vec<_>>(),
        [demo::IDLE_WORKER],
        "{zombies:?}"
    );
    let idle = by(&snap, "demo.worker.idle", "worker", &[("zombie", "false")]);
    assert!(
        idle.contains_key(demo::BUSY_WORKER),
        "the busy worker is no zombie: {idle:?}"
    );
    // The idle worker's `zombie="false"` series, from before its TTL ran
    // out, stays in the store until it expires; the flag is the newer one.
    let updated = |zombie: &str| {
        series(&snap, "demo.worker.idle")
            .into_iter()
            .find(|s| {
                attr(s, "worker") == Some(demo::IDLE_WORKER) && attr(s, "zombie") == Some(zombie)
            })
            .map(|s| s.last_update.clone())
    };
    if let Some(before) = updated("false") {
        assert!(
            updated("true").is_some_and(|flagged| flagged > before),
            "{snap:#?}"
        );
    }
    let rss = by(&snap, "demo.process.memory.usage", "worker", &[]);
    for (who, bytes) in &rss {
        assert!(*bytes > 0.0, "RSS of {who}: {rss:?}");
    }
    let cpu = by(
        &snap,
        "demo.process.cpu.time",
        "worker",
        &[("cpu.mode", "user")],
    );
    assert!(cpu.contains_key(demo::BUSY_WORKER), "{cpu:?}");

    assert_eq!(
        sweep_runs(&snap).get("panic"),
        Some(&1.0),
        "the one panic, counted once"
    );

    // 2. Stopped: the workers are reaped, and the last export brings the
    // collector exactly to what the demo recorded.
    stop.cancel();
    let report = runtime.block_on(demo).unwrap().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        report
            .workers
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>(),
        [demo::BUSY_WORKER, demo::IDLE_WORKER]
    );
    for (name, pid) in &report.workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{name} (pid {pid}) was not reaped"
        );
    }
    let want_transitions = reported_transitions(&report);
    let want_http = reported_http(&report);
    let want_tokens = reported_tokens(&report);
    assert!(
        want_transitions.keys().any(|k| k[1] == "failure"),
        "{want_transitions:?}"
    );
    assert!(want_http.keys().any(|k| k.2 == 500), "{want_http:?}");
    assert!(want_http.keys().any(|k| k.2 == 503), "{want_http:?}");
    assert!(want_http.keys().any(|k| k.2 == 422), "{want_http:?}");
    assert!(
        want_http.contains_key(&("GET".to_owned(), None, 404)),
        "a request no route matched: {want_http:?}"
    );
    assert_eq!(report.genai.len(), 2, "{:?}", report.genai);

    let agrees = |snap: &Snapshot| {
        transitions(snap) == want_transitions
            && http(snap) == want_http
            && tokens(snap) == want_tokens
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    snap = snapshot(listen);
    while !agrees(&snap) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        snap = snapshot(listen);
    }
    assert_eq!(transitions(&snap), want_transitions);
    assert_eq!(http(&snap), want_http);
    assert_eq!(tokens(&snap), want_tokens);
    for (model, totals) in &report.genai {
        let cost = by(
            &snap,
            "demo.gen_ai.client.cost.usd",
            "gen_ai.request.model",
            &[],
        )
        .get(*model)
        .copied()
        .unwrap_or(f64::NAN);
        assert!(
            (cost - totals.cost_usd).abs() <= 1e-9 * totals.cost_usd.max(1.0),
            "{model}: {cost} in the collector, {} recorded",
            totals.cost_usd
        );
        let runs: u64 = series(&snap, "gen_ai.client.operation.duration")
            .into_iter()
            .filter(|s| attr(s, "gen_ai.request.model") == Some(model))
            .map(|s| s.count.unwrap_or(0))
            .sum();
        assert_eq!(runs, totals.runs, "{model}");
    }
    assert_eq!(sweep_runs(&snap).get("panic"), Some(&1.0));
    runtime.block_on(collector.shutdown());
}

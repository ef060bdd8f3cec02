//! A real Prometheus server scrapes the collector: the Debian `prometheus`
//! 2.42 binary (installed by `scripts/test`) runs with a one-job config
//! against the collector's `/metrics` on loopback, and the test asks it,
//! through its HTTP API, whether the scrapes worked and what PromQL sees.
//!
//! promtool and prometheus_client check that the exposition *parses*; this
//! checks what only the server can tell: that its scrape loop accepts every
//! sample (no duplicate-timestamp, out-of-order or sample-limit rejections,
//! `up == 1`, an empty `lastError`), that counters fed continuously give a
//! positive `rate()`, and that the histogram's buckets give a
//! `histogram_quantile` inside the recorded range.
//!
//! The collector and the `vigil` SDK run in this process (as in
//! `sdk_e2e.rs`); a background task records a transition every 100 ms and
//! the SDK exports every 300 ms, so every 1 s scrape sees new values.
//!
//! # `honor_labels: true`
//!
//! The collector is a gateway for many services: every series carries its
//! service's `job` (`<service.namespace>/<service.name>`) and `instance`
//! (`service.instance.id`), as the OTel→Prometheus compatibility
//! specification asks. With the default `honor_labels: false`, Prometheus
//! would rename those to `exported_job`/`exported_instance` and stamp every
//! series with the scrape target's `job="vigil"`, so all services would look
//! like one, and `target_info` would no longer join on `job`/`instance`.
//! `honor_labels: true` keeps the exposed labels, as Prometheus advises for
//! federation and the Pushgateway, where the exposed labels are the
//! source's and the scraped endpoint is only a relay. The synthetic series (`up`, `scrape_*`) still carry the
//! target's `job="vigil"` and `instance="<collector addr>"`; a series exposed
//! *without* an `instance` label (a resource without `service.instance.id`)
//! would get the collector's address. The test asserts both sides.
//!
//! # Which format Prometheus scraped
//!
//! Prometheus 2.42 sends `Accept: application/openmetrics-text;version=1.0.0,
//! application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`,
//! (checked against a plain HTTP server), so the collector answers with
//! OpenMetrics 1.0. 2.42's API does not report the scrape format
//! (`scrapeProtocol` came later), so the test infers it from the target
//! metadata: only OpenMetrics has `# UNIT`, and only there is a counter
//! family named without `_total`. Seen with 2.42: metadata
//! `duckgres_worker_lifecycle_transitions` (type counter, no `_total`),
//! `unit: "seconds"` on the duration histogram, the info family as `target`
//! (type info), and the `_created` lines stored as ordinary series
//! (`…_transitions_created`), as 2.42's OpenMetrics parser does without the
//! later created-timestamp feature.
//!
//! # Timing
//!
//! Prometheus is ready in ~0.3 s, but its discovery manager hands targets
//! to the scrape loop at most every 5 s (not configurable in 2.42), so the
//! second scrape lands ~6.5 s after start; the test takes ~7 s. `rate()`
//! over `[1m]` with a few seconds of samples is much lower than the real
//! rate (the window is mostly empty), so the test asks `rate() > 0` and
//! checks the magnitude with `irate()`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vigil::init::Protocol;
use vigil::lifecycle::{Lifecycle, Outcome};

use crate::support::start_collector;

// The same label types, label keys and namespace as `sdk_e2e.rs`: Vigil's
// view registry is process-wide and keyed by instrument name, so two tests
// building `duckgres.worker.lifecycle.*` must register identical settings.
vigil::label! {
    enum WorkerOp = "operation" { Spawn = "spawn", Activate = "activate", Drain = "drain", Retire = "retire" }
}
vigil::label! {
    enum WorkerState = "state" { Idle = "idle", Active = "active", Draining = "draining" }
}
vigil::label! {
    enum Image = "image" { Duckdb1 = "duckdb:1" }
}
vigil::label! {
    enum Binding = "binding" { Unbound = "none" }
}

const SERVICE: &str = "duckgres-control";
const INSTANCE: &str = "cp-prom";
/// The scrape job: the target's own label, on `up` and `scrape_*` only.
const JOB: &str = "vigil";
/// Upper bound on every wait for Prometheus.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);
/// Recorded durations cycle through 120, 130, … 200 ms: all inside the
/// `(0.1, 0.25]` bucket of Vigil's seconds boundaries.
const DURATION_MS: (u64, u64) = (120, 200);
const BUCKET: (f64, f64) = (0.1, 0.25);

/// A Prometheus server in a temp dir; killed and cleaned up on drop, also
/// when the test panics.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Prometheus {
    /// Writes `prometheus.yml` scraping `target` every second and starts
    /// the server on a free loopback port.
    fn start(target: SocketAddr) -> Prometheus {
        let binary = vigil_tests::prometheus();
        let dir = temp_dir();
        let config = format!(
            "# Written by tests/prometheus_server.rs.\n\
             global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {JOB}\n    honor_labels: true\n    \
             static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let addr = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Prometheus {
            child,
            dir,
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client"),
        }
    }

    /// Prometheus' own log, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Panics (with the log) if the server has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("prometheus exited with {status}:\n{}", self.log());
        }
    }

    /// GET a path, `None` on any failure (not up yet, non-200).
    async fn try_get(&self, path: &str, params: &[(&str, &str)]) -> Option<String> {
        let base = format!("http://{}{path}", self.addr);
        let url = reqwest::Url::parse_with_params(&base, params).expect("URL");
        let resp = self.http.get(url).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.text().await.ok()
    }

    /// GET an API path and return its `data`; panics on an API error.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let body = self
            .try_get(path, params)
            .await
            .unwrap_or_else(|| panic!("GET {path} {params:?} failed:\n{}", self.log()));
        let json: Value = serde_json::from_str(&body).expect("API answers JSON");
        assert_eq!(json["status"], "success", "{path} {params:?}: {body}");
        json["data"].clone()
    }

    /// An instant query: each result's labels and value.
    async fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self.api("/api/v1/query", &[("query", promql)]).await;
        assert_eq!(data["resultType"], "vector", "{promql}: {data}");
        data["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .expect("metric labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("label").to_string()))
                    .collect();
                // Values are strings: "1", "0.175", "NaN", "+Inf".
                let value = r["value"][1].as_str().expect("value").parse().expect("f64");
                (labels, value)
            })
            .collect()
    }

    /// The single value of a query that must return exactly one series.
    async fn query_one(&self, promql: &str) -> f64 {
        let result = self.query(promql).await;
        assert_eq!(result.len(), 1, "{promql}: {result:?}");
        result[0].1
    }

    /// Polls `promql` until it returns one series whose value satisfies
    /// `ok`; panics with the last answer after [`DEADLINE`].
    async fn wait_for(&mut self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.assert_running();
            let result = self.query(promql).await;
            if let [(_, v)] = result.as_slice()
                && ok(*v)
            {
                return *v;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: still {result:?} after {DEADLINE:?}\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the API answers (`/-/ready` is 200).
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        while self.try_get("/-/ready", &[]).await.is_none() {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after {DEADLINE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A counter of Prometheus' own `/metrics` page (summed over labels).
    async fn own_counter(&self, name: &str) -> f64 {
        let page = self
            .try_get("/metrics", &[])
            .await
            .expect("prometheus /metrics");
        let values: Vec<f64> = page
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .map(|l| {
                let v = l.rsplit(' ').next().expect("value");
                v.parse().unwrap_or_else(|e| panic!("{l}: {e}"))
            })
            .collect();
        assert!(!values.is_empty(), "{name} not on prometheus' /metrics");
        values.iter().sum()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// A fresh directory under Cargo's per-target temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "prometheus-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A loopback port nothing listens on right now (bound, then released: the
/// short race with other processes is acceptable for a test).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_collector_and_promql_sees_rates_and_quantiles() {
    let started = Instant::now();
    let collector = start_collector(Duration::from_secs(300)).await;
    let endpoint = format!("http://{}", collector.grpc_addr.expect("grpc"));
    // The exporters block while they export: build off the async workers.
    let guard = tokio::task::spawn_blocking(move || {
        vigil::builder()
            .with_service_name(SERVICE)
            .with_resource_attribute("service.instance.id", INSTANCE)
            .with_protocol(Protocol::Grpc)
            .with_endpoint(endpoint)
            .with_export_interval(Duration::from_millis(300))
            .with_tracing(false)
            .build()
    })
    .await
    .expect("join")
    .expect("vigil::init");
    // The namespace on the lifecycle, not the builder: `with_namespace` on
    // the builder would claim it process-wide for every test in this binary.
    let lc: Lifecycle<WorkerOp, WorkerState, Image, (Image, Binding)> =
        Lifecycle::builder("worker")
            .with_meter(guard.meter())
            .with_namespace("duckgres")
            .with_labels::<Image>()
            .with_count_labels::<(Image, Binding)>()
            .build();
    lc.move_state(
        None,
        Some(WorkerState::Idle),
        (Image::Duckdb1, Binding::Unbound),
    );
    let recorder = tokio::spawn({
        let lc = lc.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let steps = (DURATION_MS.1 - DURATION_MS.0) / 10 + 1;
            for i in 0u64.. {
                tick.tick().await;
                let ms = DURATION_MS.0 + (i % steps) * 10;
                lc.record(
                    WorkerOp::Spawn,
                    Outcome::Success,
                    "pool",
                    Image::Duckdb1,
                    Some(Duration::from_millis(ms)),
                );
            }
        }
    });

    let mut prom = Prometheus::start(collector.listen_addr.expect("prometheus exporter"));
    prom.wait_ready().await;
    let ready_after = started.elapsed();

    // Two scrapes, then every assertion on the scrape itself.
    prom.wait_for(&format!("count_over_time(up{{job=\"{JOB}\"}}[1m])"), |n| {
        n >= 2.0
    })
    .await;
    let two_scrapes_after = started.elapsed();
    let target = format!("{{job=\"{JOB}\"}}");
    assert_eq!(prom.query_one(&format!("up{target}")).await, 1.0);
    let targets = prom.api("/api/v1/targets", &[("state", "active")]).await;
    let active = targets["activeTargets"].as_array().expect("activeTargets");
    assert_eq!(active.len(), 1, "{targets}");
    let t = &active[0];
    assert_eq!(t["health"], "up", "{t}");
    assert_eq!(t["lastError"], "", "{t}");
    assert_eq!(t["labels"]["job"], JOB, "{t}");
    assert_eq!(
        t["labels"]["instance"],
        collector
            .listen_addr
            .expect("prometheus exporter")
            .to_string(),
        "{t}"
    );
    assert_eq!(
        t["scrapeUrl"],
        format!(
            "http://{}/metrics",
            collector.listen_addr.expect("prometheus exporter")
        ),
        "{t}"
    );
    let scraped = prom
        .query_one(&format!("scrape_samples_scraped{target}"))
        .await;
    assert!(scraped > 0.0, "no samples scraped");
    assert_eq!(
        prom.query_one(&format!("scrape_samples_post_metric_relabeling{target}"))
            .await,
        scraped,
        "no relabeling is configured: every scraped sample is kept"
    );
    // The scrape loop's rejections: a duplicate series in the exposition
    // shows up as a duplicate timestamp, a broken page as a failed scrape.
    for counter in [
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total",
        "prometheus_target_scrapes_exceeded_body_size_limit_total",
        "prometheus_target_scrapes_exemplar_out_of_order_total",
    ] {
        assert_eq!(prom.own_counter(counter).await, 0.0, "{counter}");
    }

    // honor_labels: the series keep the service's job and instance. Binding
    // a transition creates the series of every outcome (0 until used).
    let transitions = prom
        .query("duckgres_worker_lifecycle_transitions_total")
        .await;
    let outcomes: BTreeMap<&str, f64> = transitions
        .iter()
        .map(|(l, v)| (l["outcome"].as_str(), *v))
        .collect();
    assert_eq!(
        outcomes.keys().copied().collect::<Vec<_>>(),
        ["cancelled", "failure", "success"],
        "{transitions:?}"
    );
    assert_eq!((outcomes["cancelled"], outcomes["failure"]), (0.0, 0.0));
    assert!(outcomes["success"] > 0.0, "{transitions:?}");
    let (labels, _) = transitions
        .iter()
        .find(|(l, _)| l["outcome"] == "success")
        .expect("success series");
    let expect = |k: &str, v: &str| assert_eq!(labels.get(k).map(String::as_str), Some(v), "{k}");
    expect("job", SERVICE);
    expect("instance", INSTANCE);
    expect("operation", "spawn");
    expect("outcome", "success");
    expect("origin", "pool");
    expect("image", "duckdb:1");
    expect("otel_scope_name", "vigil");
    assert!(!labels.contains_key("exported_job"), "{labels:?}");
    assert_eq!(
        prom.query_one(&format!(
            "target_info{{job=\"{SERVICE}\",instance=\"{INSTANCE}\"}}"
        ))
        .await,
        1.0
    );
    assert_eq!(
        prom.query_one(
            "duckgres_worker_lifecycle_count{state=\"idle\",image=\"duckdb:1\",binding=\"none\"}"
        )
        .await,
        1.0
    );

    // PromQL over the continuously fed counter and histogram.
    let rate = prom
        .wait_for(
            "sum(rate(duckgres_worker_lifecycle_transitions_total[1m]))",
            |r| r > 0.0,
        )
        .await;
    let rate_after = started.elapsed();
    assert!(rate.is_finite(), "rate {rate}");
    // rate() over [1m] with a few seconds of samples is far below the real
    // rate (the window is mostly empty); irate() uses the last two samples.
    // 10 transitions/s are recorded; 300 ms exports and 1 s scrapes blur it.
    let irate = prom
        .query_one("sum(irate(duckgres_worker_lifecycle_transitions_total[1m]))")
        .await;
    assert!(irate > 2.0 && irate < 30.0, "irate {irate}");
    let median = prom
        .wait_for(
            "histogram_quantile(0.5, sum by (le) \
             (rate(duckgres_worker_lifecycle_transition_duration_seconds_bucket[1m])))",
            f64::is_finite,
        )
        .await;
    assert!(
        median > BUCKET.0 && median <= BUCKET.1,
        "median {median} outside the bucket of the recorded {DURATION_MS:?} ms"
    );
    let mean = prom
        .query_one(
            "sum(rate(duckgres_worker_lifecycle_transition_duration_seconds_sum[1m])) / \
             sum(rate(duckgres_worker_lifecycle_transition_duration_seconds_count[1m]))",
        )
        .await;
    let (lo, hi) = (DURATION_MS.0 as f64 / 1e3, DURATION_MS.1 as f64 / 1e3);
    assert!(
        mean >= lo - 1e-9 && mean <= hi + 1e-9,
        "mean {mean} outside {lo}..{hi}"
    );

    // The format Prometheus negotiated: OpenMetrics (see the module docs).
    let meta = prom
        .api("/api/v1/targets/metadata", &[("match_target", &target)])
        .await;
    let meta = meta.as_array().expect("metadata array");
    let family = |name: &str| {
        meta.iter()
            .find(|m| m["metric"] == name)
            .unwrap_or_else(|| panic!("no metadata for {name}: {meta:?}"))
    };
    let counter = family("duckgres_worker_lifecycle_transitions");
    assert_eq!(counter["type"], "counter", "{counter}");
    let histogram = family("duckgres_worker_lifecycle_transition_duration_seconds");
    assert_eq!(histogram["type"], "histogram", "{histogram}");
    assert_eq!(
        histogram["unit"], "seconds",
        "only OpenMetrics carries # UNIT: {histogram}"
    );
    // OpenMetrics names the info family without its `_info` suffix.
    assert_eq!(family("target")["type"], "info");
    assert!(
        meta.iter()
            .all(|m| m["metric"] != "duckgres_worker_lifecycle_transitions_total"),
        "a text-format family name: {meta:?}"
    );
    // 2.42's OpenMetrics parser stores `_created` lines as ordinary series:
    // their value is the series' start, a Unix time in seconds.
    let created = prom
        .query("duckgres_worker_lifecycle_transitions_created{outcome=\"success\"}")
        .await;
    assert_eq!(created.len(), 1, "{created:?}");
    let now = unix_seconds();
    let start = created[0].1;
    assert!(
        start > now - started.elapsed().as_secs_f64() - 1.0 && start <= now,
        "_created {start} is not this test's start (now {now})"
    );

    recorder.abort();
    drop(prom);
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("join")
        .expect("clean shutdown");
    collector.shutdown().await;
    eprintln!(
        "prometheus_server: ready {ready_after:?}, two scrapes {two_scrapes_after:?}, \
         rate > 0 {rate_after:?}, total {:?}",
        started.elapsed()
    );
}

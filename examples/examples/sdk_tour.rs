//! A tour of the SDK: every instrument family used once, under the metric
//! namespace `tour` (service `sdk-tour`).
//!
//! ```text
//! cargo run -p vigil-collector &
//! cargo run -p examples --example sdk_tour
//! curl -s localhost:9464/metrics | grep -E '^(tour_|http_server_|gen_ai_)'
//! ```
//!
//! | family | what the tour does | look for |
//! |---|---|---|
//! | `vigil::init` | `vigil::builder()` from the OTel variables; flush on exit | `target_info{job="sdk-tour"}` |
//! | `lifecycle` | a job queued, started and finished | `tour_job_lifecycle_*` |
//! | `sweep` | a temp-file GC every second | `tour_sweep_*{sweeper="tmp_gc"}` |
//! | `health` | two upstreams probed every 500 ms, one failing | `tour_upstream_health_*` |
//! | `liveness` | two runtimes evaluated, once with the fast store down | `tour_runtime_liveness_*` |
//! | `process` | this process and a `sleep` child sampled | `tour_process_*`, `tour_tokio_*`, `tour_worker_*` |
//! | `http` | three requests through an axum router, in process (`oneshot`) | `http_server_request_duration_seconds{http_route="/items/{id}"}` |
//! | `connections` | one WebSocket held open | `tour_connections_active` |
//! | `genai` | one agent run | `gen_ai_client_*`, `tour_gen_ai_client_*` |
//!
//! Everything is recorded within the first second; the sweeper, the health
//! checker and the sampler keep running until Ctrl-C (or
//! `VIGIL_EXAMPLE_DURATION`, e.g. `8s`), then stop and the last export is
//! flushed. The collector address comes from `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4317`); `OTEL_METRIC_EXPORT_INTERVAL=500`
//! exports every half second.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{MatchedPath, Path};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt as _;
use vigil::connections::Connections;
use vigil::genai::{GenAi, Operation, Provider, Run, Usage};
use vigil::health::{HealthChecker, Target};
use vigil::lifecycle::{Lifecycle, Outcome};
use vigil::liveness::{InMemoryStore, Liveness, LivenessStore, StoreError};
use vigil::process::{Sampler, Workers};
use vigil::sweep::{Items, Sweeper};

vigil::label! { enum Op = "operation" { Enqueue = "enqueue", Start = "start", Finish = "finish" } }
vigil::label! { enum State = "state" { Queued = "queued", Running = "running" } }
vigil::label! { enum Gc = "outcome" { Deleted = "deleted", Kept = "kept" } }

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    // init: service name, endpoint, interval from the OTel variables.
    let guard = examples::service::builder("sdk-tour")
        .with_namespace("tour")
        .build()?;
    println!(
        "sdk_tour: exporting to {}; look for tour_*, http_server_* and gen_ai_* on the collector's \
         /metrics (http://127.0.0.1:9464/metrics by default)",
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|_| "http://localhost:4317".into()),
    );

    // lifecycle: transitions with durations, and the state count.
    let jobs: Lifecycle<Op, State> = Lifecycle::builder("job").build();
    jobs.record(Op::Enqueue, Outcome::Success, "api", (), None);
    jobs.move_state(None, Some(State::Queued), ());
    let ran = jobs
        .time(Op::Start, "scheduler", (), async {
            Ok::<_, std::io::Error>(())
        })
        .await;
    jobs.move_state(Some(State::Queued), Some(State::Running), ());
    jobs.record(
        Op::Finish,
        Outcome::Success,
        "worker",
        (),
        Some(Duration::from_millis(42)),
    );
    jobs.move_state(Some(State::Running), None, ());
    println!("lifecycle:   a job enqueued, started ({ran:?}) and finished");

    // sweep: a periodic job with item counts by outcome.
    let sweeper = Sweeper::builder("tmp_gc")
        .with_interval(Duration::from_secs(1))
        .build()
        .start(|| async {
            Ok::<_, Infallible>(Items::new().with(Gc::Deleted, 3).with(Gc::Kept, 1))
        })?;
    println!("sweep:       tmp_gc runs every second");

    // health: probes with a failure threshold, one bounded label.
    let health = HealthChecker::builder("upstream")
        .with_interval(Duration::from_millis(500))
        .with_timeout(Duration::from_millis(200))
        .with_threshold(2)
        .with_label("zone")
        .on_lost(|t| println!("health:      upstream {} lost", t.id()))
        .build()
        .start(|t: Target| async move {
            if t.id() == "cache" {
                Err("connection refused")
            } else {
                Ok(())
            }
        })?;
    health.add_target(Target::new("db").with_label("eu-1"));
    health.add_target(Target::new("cache").with_label("eu-2"));
    println!("health:      probing db (passes) and cache (fails) every 500 ms");

    // liveness: heartbeats in a fast store, the durable time as fallback.
    let liveness = Liveness::builder("runtime", FlakyStore::default())
        .with_stale_after(Duration::from_secs(90))
        .build();
    let now = SystemTime::now();
    let _ = liveness.heartbeat("rt-1", now).await;
    let runtimes = [
        ("rt-1", None),
        ("rt-2", Some(now - Duration::from_secs(600))),
    ];
    liveness.store().down.store(true, Ordering::Relaxed);
    let degraded = liveness.evaluate(runtimes, now).await;
    liveness.store().down.store(false, Ordering::Relaxed);
    let seen = liveness.evaluate(runtimes, now).await;
    println!(
        "liveness:    store down: {} fallbacks, stale {:?}; store up: stale {:?}",
        degraded.fallbacks, degraded.stale, seen.stale
    );

    // process: this process, the tokio runtime, and one child worker.
    let workers = Workers::new();
    let mut child = tokio::process::Command::new("sleep")
        .arg("3600")
        .kill_on_drop(true)
        .spawn()
        .inspect_err(|e| println!("process:     no child worker (cannot run `sleep`: {e})"))
        .ok();
    if let Some(pid) = child.as_ref().and_then(|c| c.id()) {
        workers.register(pid, "sleeper");
    }
    let sampler = Sampler::builder()
        .with_interval(Duration::from_millis(500))
        .with_workers(workers.clone())
        .build()
        .start()?;
    println!(
        "process:     sampling this process and {} worker(s)",
        workers.len()
    );

    // http: the layer on a router, driven in process.
    let app = axum::Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("item {id}") }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(
            vigil::http::MetricsLayer::builder()
                .with_route(|parts| {
                    parts
                        .extensions
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                })
                .build(),
        );
    let mut statuses = Vec::new();
    for uri in ["/items/1", "/items/2", "/boom"] {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty())?)
            .await?;
        statuses.push(response.status().as_u16());
    }
    println!("http:        GET /items/1, /items/2, /boom -> {statuses:?}");

    // connections: an RAII guard per open connection.
    let websockets: Connections = Connections::builder("websocket").build();
    let socket = websockets.open(());
    println!("connections: one websocket open until exit");

    // genai: tokens, duration and cost of one run.
    GenAi::builder().build().record_run(&Run {
        operation: Operation::InvokeAgent,
        provider: Provider::ANTHROPIC,
        model: "claude-sonnet-4".into(),
        agent: Some("triage".into()),
        usage: Usage {
            input: 1200,
            output: 300,
            cache_read: 8000,
            cache_creation: 0,
        },
        cost_usd: 0.0123,
        duration: Duration::from_secs(14),
        error: None,
    });
    println!("genai:       one agent run (9500 input tokens, 300 output, $0.0123)");

    match run_for {
        Some(d) => println!("sdk_tour: running for {}", humantime::format_duration(d)),
        None => println!("sdk_tour: running until Ctrl-C"),
    }
    examples::stop_signal(run_for).await;

    println!("sdk_tour: stopping");
    health.stop().await;
    sweeper.stop().await;
    sampler.stop();
    if let Some(child) = child.as_mut() {
        let _ = child.kill().await;
    }
    socket.close();
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("sdk_tour: some telemetry could not be sent: {e:#}");
    }
    Ok(())
}

/// An in-memory fast store that can be taken down, to show the durable
/// fallback (and `tour_runtime_liveness_fallbacks_total`).
#[derive(Debug, Default)]
struct FlakyStore {
    inner: InMemoryStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        match self.down.load(Ordering::Relaxed) {
            true => Err(StoreError::new("connection reset by peer")),
            false => Ok(()),
        }
    }
}

impl LivenessStore for FlakyStore {
    async fn last_seen(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        self.check()?;
        self.inner.last_seen(id).await
    }

    async fn heartbeat(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.check()?;
        self.inner.heartbeat(id, at).await
    }
}

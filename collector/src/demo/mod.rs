//! `--demo`: an in-process service, instrumented with the Vigil SDK
//! (`vigil`), that exports OTLP/gRPC to this very collector every 2 s, so a
//! newcomer's first command fills `/metrics`, the snapshot and the dashboard
//! with every SDK family:
//!
//! | family | what the demo does | file |
//! |---|---|---|
//! | lifecycle | a simulated worker pool: spawns (the canary image often fails), assignments, drains, retirements; state counts by image | `pool.rs` |
//! | sweep | `expired_sessions` every 5 s, capped batches, an error every 7th run, and one run (the 3rd) that panics, caught and counted | `sweeper.rs` |
//! | health | four dependencies probed over HTTP every 2 s; `billing` always fails | `health.rs` |
//! | process | this process and two child workers (CPU, RSS); `worker-2` stops getting work and is flagged a zombie | `workers.rs` |
//! | HTTP | a server on 127.0.0.1 hit by the demo itself: 2xx, 404, 422, 500, 503 | `web.rs` |
//! | gen-AI | agent and chat runs of two models: tokens in/out, cache reads, cost | `genai.rs` |
//!
//! Metric names carry the namespace `demo` (`demo_worker_lifecycle_transitions_total`),
//! except the HTTP and gen-AI semantic-convention metrics, which are never
//! namespaced. The service is `vigil-demo` whatever `OTEL_SERVICE_NAME` says:
//! that variable, when set for the collector, names the collector, not its demo.
//!
//! Values vary over time (a seeded pseudo-random source and slow waves), and
//! everything is bounded: fixed label sets, at most eight simulated workers,
//! two child processes, tallies keyed by label values. On cancel the demo
//! stops its loops, its server and its workers (killed and waited for),
//! then flushes through the SDK guard; [`run`] returns a [`Report`] of what
//! it recorded, which the tests compare with what the collector holds.
//!
//! The SDK's `init` installs its meter provider globally; the demo passes
//! the guard's own meter to every family and a namespace to each builder
//! instead of claiming the process-wide one, so it depends on no global
//! state and can run more than once in a process (tests).

mod genai;
mod health;
mod pool;
mod rng;
mod sweeper;
mod web;
mod workers;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use health::{FAILING as FAILING_TARGET, TARGETS as HEALTH_TARGETS};
pub use sweeper::NAME as SWEEPER;
pub use workers::{BUSY as BUSY_WORKER, Error as WorkerError, IDLER as IDLE_WORKER};

/// The demo service's `service.name`.
pub const SERVICE: &str = "vigil-demo";
/// The prefix of the demo's metric names.
pub const NAMESPACE: &str = "demo";
/// How often the demo exports, by default.
pub const EXPORT_INTERVAL: Duration = Duration::from_secs(2);
/// The seed of the demo's pseudo-random values.
const SEED: u64 = 0x5EED_D1A1;

/// Demo errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SDK could not be set up.
    #[error("setting up the demo's telemetry: {0}")]
    Init(#[from] vigil::InitError),
    /// The HTTP server could not bind 127.0.0.1.
    #[error("starting the demo's HTTP server: {0}")]
    Server(#[source] std::io::Error),
    /// The child workers or their sampler could not start.
    #[error(transparent)]
    Workers(#[from] workers::Error),
    /// The sweeper could not start.
    #[error(transparent)]
    Sweep(#[from] vigil::sweep::Error),
    /// The health checker could not start.
    #[error(transparent)]
    Health(#[from] vigil::health::Error),
}

/// The demo's timings. [`Settings::default`] is what `--demo` runs; tests
/// shorten them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time between exports (default [`EXPORT_INTERVAL`]).
    pub export_interval: Duration,
    /// Time between two steps of the simulated pool, gen-AI runs, worker
    /// jobs and bursts of HTTP requests (default 1 s).
    pub tick: Duration,
    /// Time between sweeps (default 5 s).
    pub sweep_interval: Duration,
    /// The sweep run that panics, from 1 (default 3; 0 for none).
    pub panic_on_run: u64,
    /// Time between rounds of health probes (default 2 s).
    pub health_interval: Duration,
    /// Time between process samples (default 2 s, the dashboard's refresh).
    pub sample_interval: Duration,
    /// When [`IDLE_WORKER`] stops getting work (default 10 s after start).
    pub idle_after: Duration,
    /// How long a worker may idle before it is a zombie (default 10 s).
    pub reap_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            export_interval: EXPORT_INTERVAL,
            tick: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(5),
            panic_on_run: 3,
            health_interval: Duration::from_secs(2),
            sample_interval: Duration::from_secs(2),
            idle_after: Duration::from_secs(10),
            reap_ttl: Duration::from_secs(10),
        }
    }
}

/// One kind of lifecycle transition, as recorded (the attributes of
/// `demo.worker.lifecycle.transitions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transition {
    /// `operation`.
    pub operation: &'static str,
    /// `outcome`.
    pub outcome: &'static str,
    /// `origin`.
    pub origin: &'static str,
    /// `image`.
    pub image: &'static str,
}

/// One kind of HTTP response, as the SDK's layer keys it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpKey {
    /// `http.request.method`.
    pub method: &'static str,
    /// `http.route`; `None` for requests no route matched.
    pub route: Option<String>,
    /// `http.response.status_code`.
    pub status: u16,
}

/// What the demo recorded for one model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenAiTotals {
    /// Runs.
    pub runs: u64,
    /// Input tokens, cached ones included (`gen_ai.token.type="input"`).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// What a demo run recorded, returned once it has stopped and flushed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Lifecycle transitions counted, by kind.
    pub transitions: BTreeMap<Transition, u64>,
    /// HTTP responses sent, by kind (health probes included).
    pub http: BTreeMap<HttpKey, u64>,
    /// Gen-AI usage by model (`gen_ai.request.model`).
    pub genai: BTreeMap<&'static str, GenAiTotals>,
    /// The child workers' names and pids (all reaped by now).
    pub workers: Vec<(&'static str, u32)>,
    /// Problems while stopping (a worker that could not be reaped, a
    /// last export that did not get through); empty when all went well.
    pub problems: Vec<String>,
}

/// Runs the demo service until `stop` is cancelled, exporting to `grpc` (the
/// collector's own OTLP/gRPC receiver). Must run inside a multi-threaded
/// tokio runtime.
pub async fn run(
    grpc: SocketAddr,
    settings: Settings,
    stop: CancellationToken,
) -> Result<Report, Error> {
    let guard = vigil::builder()
        // Final, unlike `with_service_name`, which OTEL_SERVICE_NAME overrides.
        .with_resource_attribute("service.name", SERVICE)
        .with_service_version(env!("CARGO_PKG_VERSION"))
        .with_resource_attribute("service.namespace", "vigil")
        .with_resource_attribute("service.instance.id", "demo-1")
        .with_resource_attribute("deployment.environment.name", "demo")
        .with_endpoint(format!("http://{grpc}"))
        .with_protocol(vigil::init::Protocol::Grpc)
        .with_export_interval(settings.export_interval)
        .build()?;
    if guard.is_disabled() {
        tracing::warn!("OTEL_SDK_DISABLED=true: the demo service records nothing");
    }
    let meter = guard.meter();

    let server = web::Server::start(meter.clone())
        .await
        .map_err(Error::Server)?;
    let client = web::Client::new(server.addr());
    let workers = workers::Pool::start(
        meter.clone(),
        settings.sample_interval,
        settings.reap_ttl,
        settings.idle_after,
        SEED ^ 1,
    )?;
    let sweeper = sweeper::start(
        meter.clone(),
        settings.sweep_interval,
        settings.panic_on_run,
        SEED ^ 2,
    )?;
    let health = health::start(meter.clone(), settings.health_interval, client.clone())?;
    let mut pool = pool::Pool::new(meter.clone(), SEED ^ 3);
    let mut genai = genai::Usages::new(meter, SEED ^ 4);
    let mut workers = workers;
    let mut load = rng::Rng::new(SEED ^ 5);

    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                n += 1;
                pool.step();
                genai.step(n);
                workers.feed(started.elapsed(), n, settings.tick);
                client.burst(&mut load, n).await;
            }
        }
    }

    // Stop what produces first, then what serves, then flush.
    health.stop().await;
    let _ = sweeper.stop().await;
    pool.shut_down();
    let mut report = Report {
        transitions: pool.tally(),
        http: server.stop().await,
        genai: genai.tally(),
        workers: workers.pids(),
        problems: workers.shut_down(),
    };
    if let Err(e) = guard.shutdown_async().await {
        tracing::warn!(error = %e, "demo service could not flush its last export");
        report.problems.push(e.to_string());
    }
    Ok(report)
}

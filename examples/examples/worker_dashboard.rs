//! The Go worker dashboard, on Vigil: a pool of real child worker processes,
//! per-worker CPU % (from cumulative-CPU deltas) and RSS, and an idle worker
//! left alive past its reap TTL flagged as a zombie, all visible on the
//! collector's `/metrics` and in its JSON snapshot.
//!
//! ```text
//! cargo run -p vigil-collector &     # OTLP on :4317; /metrics, snapshot, dashboard on :9464
//! cargo run -p examples --example worker_dashboard
//! ```
//!
//! It spawns three workers: `busy-1` and `busy-2` are shell busy loops (one
//! core each) that the supervisor marks active every couple of seconds;
//! `idle-1` is a `sleep` it never hands work to. Once `idle-1` has been idle
//! longer than the reap TTL (20 s; 2 s in short mode) while still running,
//! the sampler flags it a zombie; the supervisor reports it and, as the
//! dashboard it replaces did, leaves reaping to a human. Every few seconds
//! it prints the pool as the dashboard page showed it (CPU %, RSS, idle).
//! The collector's address comes from the standard OTel variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, default `http://localhost:4317`). Ctrl-C
//! stops it: the workers are killed and reaped, the last metrics flushed.
//!
//! Look at `http://127.0.0.1:9464/metrics` (families `dashboard_*`) and
//! `http://127.0.0.1:9464/api/v1/snapshot?service=worker_dashboard`.
//!
//! With `VIGIL_EXAMPLE_DURATION=8s` (and `OTEL_METRIC_EXPORT_INTERVAL=500`)
//! the reap TTL is 2 s and the sampler runs every 500 ms, so from about 3 s
//! on (until exit at 8 s):
//!
//! | OTel name (Prometheus family) | type | attributes | certain values |
//! |---|---|---|---|
//! | `dashboard.worker.zombies` (`dashboard_worker_zombies`) | up-down counter (gauge) | none | 1 |
//! | `dashboard.worker.idle` (`dashboard_worker_idle_seconds`) | gauge | `worker`, `zombie` | `worker="idle-1",zombie="true"` > 2; `busy-1`, `busy-2` with `zombie="false"` < 2 |
//! | `dashboard.process.cpu.time` (`dashboard_process_cpu_time_seconds_total`) | counter | `worker`, `cpu.mode` (`cpu_mode`) | series for `busy-1`, `busy-2`, `idle-1` and this process (no `worker`) |
//! | `dashboard.process.cpu.utilization` (`dashboard_process_cpu_utilization`) | gauge | `worker` | busy workers > 0 |
//! | `dashboard.process.memory.usage` (`dashboard_process_memory_usage_bytes`) | gauge | `worker` | RSS > 0 for each |
//! | `dashboard.process.thread.count` (`dashboard_process_thread_count`) | gauge | `worker` | 1 for each worker |
//! | `dashboard.process.unix.file_descriptor.count` (`dashboard_process_unix_file_descriptor_count`) | gauge | `worker` | |
//! | `dashboard.tokio.*` (`dashboard_tokio_workers`, `_alive_tasks`, `_global_queue_depth`, `_busy_time_seconds_total`) | | none | |
//!
//! Worker series carry the worker's name only, not its pid: names are unique
//! in this pool, and pids would start new series on every restart (see the
//! `orchestrator` example for `with_worker_pid(true)`). Read the pool from a
//! script with
//!
//! ```text
//! curl -s 'http://127.0.0.1:9464/api/v1/snapshot?service=worker_dashboard' | jq '
//!   .services[].metrics[] | select(.name | startswith("dashboard.worker."))
//!   | {name, series: [.series[] | {attributes, value}]}'
//! ```

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use examples::children::Children;
use vigil::process::{Sampler, Snapshot, Workers};

/// Workers the supervisor keeps busy.
const BUSY: [&str; 2] = ["busy-1", "busy-2"];
/// The worker it never hands work to.
const IDLE: &str = "idle-1";

/// Timings of one mode: interactive, or short for the end-to-end tests.
struct Timings {
    reap_ttl: Duration,
    sample_every: Duration,
    work_every: Duration,
    print_every: Duration,
}

impl Timings {
    fn new(short: bool) -> Self {
        if short {
            Timings {
                reap_ttl: Duration::from_secs(2),
                sample_every: Duration::from_millis(500),
                work_every: Duration::from_millis(500),
                print_every: Duration::from_secs(2),
            }
        } else {
            // The Go dashboard polled every 2 s; work comes well inside the TTL.
            Timings {
                reap_ttl: Duration::from_secs(20),
                sample_every: Duration::from_secs(2),
                work_every: Duration::from_secs(2),
                print_every: Duration::from_secs(4),
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker_dashboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    let timings = Timings::new(run_for.is_some());
    let guard = vigil::builder()
        .with_service_name("worker_dashboard")
        .with_service_version(env!("CARGO_PKG_VERSION"))
        .with_namespace("dashboard")
        .build()?;

    // Dropped before the guard on every early return: the workers die first.
    let mut children = Children::new();
    let workers = Workers::new().with_reap_ttl(timings.reap_ttl);
    let mut busy = Vec::new();
    for name in BUSY {
        let pid = children.busy_loop(name)?;
        workers.register(pid, name);
        busy.push(pid);
    }
    let idle = children.sleeper(IDLE)?;
    workers.register(idle, IDLE);
    let sampler = Sampler::builder()
        .with_workers(workers.clone())
        .with_interval(timings.sample_every)
        .build()
        .start()?;

    print_banner(&guard, &children, timings.reap_ttl);
    let mut work = tokio::time::interval(timings.work_every);
    // The first table after the first samples, not before.
    let mut print = tokio::time::interval_at(
        tokio::time::Instant::now() + timings.print_every,
        timings.print_every,
    );
    let mut reported = HashSet::new();
    let stop = examples::stop_signal(run_for);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = work.tick() => {
                // Handing each busy worker a job is what keeps it off the zombie list.
                for pid in &busy {
                    workers.mark_active(*pid);
                }
            }
            _ = print.tick() => {
                let snapshot = sampler.snapshot();
                print_pool(&snapshot);
                report_zombies(&snapshot, workers.reap_ttl(), &mut reported);
            }
        }
    }

    sampler.stop();
    for problem in children.kill_all() {
        eprintln!("worker_dashboard: {problem}");
    }
    println!("stopping: workers killed, flushing");
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("worker_dashboard: could not send everything: {e}");
    }
    Ok(())
}

fn print_banner(guard: &vigil::Guard, children: &Children, reap_ttl: Duration) {
    if guard.is_disabled() {
        println!("telemetry is disabled (OTEL_SDK_DISABLED): nothing will be exported");
    }
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4317 (default)".to_string());
    println!("worker_dashboard: exporting to {endpoint}; reap TTL {reap_ttl:?}");
    for (name, pid) in children.pids() {
        println!("  {name} pid {pid}");
    }
    println!(
        "look at the collector's /metrics (dashboard_*) and \
         /api/v1/snapshot?service=worker_dashboard (http://127.0.0.1:9464 by default); Ctrl-C stops"
    );
}

/// The pool as the dashboard page showed it.
fn print_pool(snapshot: &Snapshot) {
    println!(
        "{:<8} {:>7} {:>7} {:>10} {:>7}  state",
        "worker", "pid", "cpu%", "rss", "idle"
    );
    for w in &snapshot.workers {
        let cpu = w
            .process
            .as_ref()
            .and_then(|p| p.cpu_percent)
            .map_or_else(|| "-".to_string(), |c| format!("{c:.1}"));
        let rss = w
            .process
            .as_ref()
            .and_then(|p| p.memory_usage)
            .map_or_else(|| "-".to_string(), |b| format!("{} KiB", b / 1024));
        let state = match (&w.process, w.zombie) {
            (None, _) => "exited",
            (Some(_), true) => "ZOMBIE",
            (Some(_), false) => "ok",
        };
        let idle = format!("{:.1}s", w.idle.as_secs_f64());
        println!(
            "{:<8} {:>7} {cpu:>7} {rss:>10} {idle:>7}  {state}",
            w.name.as_str(),
            w.pid
        );
    }
}

/// Says once per worker that it became a zombie.
fn report_zombies(snapshot: &Snapshot, reap_ttl: Duration, reported: &mut HashSet<u32>) {
    for w in snapshot.zombies() {
        if reported.insert(w.pid) {
            println!(
                "zombie: {} (pid {}) idle {:.1}s, past the reap TTL of {reap_ttl:?}, still running; \
                 a supervisor should reap it",
                w.name.as_str(),
                w.pid,
                w.idle.as_secs_f64()
            );
        }
    }
}

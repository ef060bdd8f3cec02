//! The Go daemon's runtime sweeper, rebuilt on Vigil and simulated in
//! memory: runtimes heartbeat; a sweeper marks stale ones offline (liveness
//! store first, durable last-seen as the fallback when it errors), fails
//! tasks stuck dispatched or running past their timeouts, expires queued
//! tasks past a TTL in capped batches, and garbage-collects long-offline
//! runtimes. Each step is a lifecycle transition with a typed reason.
//!
//! ```text
//! cargo run -p vigil-collector &        # OTLP on 127.0.0.1:4317, /metrics on 127.0.0.1:9464
//! cargo run -p examples --example runtime_sweeper
//! curl -s 127.0.0.1:9464/metrics | grep '^daemon_'
//! ```
//!
//! Metrics go to the collector named by the standard OTel variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_METRIC_EXPORT_INTERVAL`, ...). The
//! scenario (see `examples/src/runtime_sweeper.rs`): runtimes `rt-1`..`rt-4`
//! heartbeat, `rt-4` crashes after its first heartbeat, `rt-0` has been
//! offline for longer than the retention; two tasks are stuck dispatched,
//! one stuck running, twelve queued past the TTL (expired 5 per sweep); the
//! fast store fails every second lookup. Sweeps run every 30 s (heartbeats
//! every 10 s, stale after 90 s, retention 7 days); Ctrl-C stops it, flushes,
//! and prints anything that could not be sent.
//!
//! `VIGIL_EXAMPLE_DURATION=6s` (or longer) runs it for that long instead (the
//! end-to-end tests' mode): sweeps every 1 s, heartbeats every 100 ms, stale
//! after 800 ms, retention 2.5 s, so `rt-4` is marked offline by the second
//! sweep and collected by the fifth. With `OTEL_METRIC_EXPORT_INTERVAL=500`
//! every family below is on the collector within ~2 s (transition series are
//! bound, so they exist at 0 before they count).
//!
//! # Families on the collector's `/metrics` (besides `job`, `instance`, `otel_scope_*`)
//!
//! | family | type | label keys | certain at exit in the short mode |
//! |---|---|---|---|
//! | `daemon_runtime_lifecycle_transitions_total` | counter | `operation`, `outcome`, `origin`, `reason` | `{operation="register",origin="heartbeat",reason="first_heartbeat",outcome="success"}` = 4; `{operation="mark_offline",origin="sweeper",reason="stale_heartbeat",outcome="success"}` = 1; `{operation="gc",origin="sweeper",reason="offline_retention",outcome="success"}` = 2; `failure`/`cancelled` = 0 |
//! | `daemon_runtime_lifecycle_transition_duration_seconds` | histogram | `operation` (`register`, `mark_offline`, `gc`) | `_count`: `mark_offline` = 1, `gc` = 2, `register` = 0 |
//! | `daemon_runtime_lifecycle_count` | gauge | `state` | `online` = 3, `offline` = 0 |
//! | `daemon_runtime_liveness_count` | gauge | `status` | `alive` = 3, `stale` = 0 |
//! | `daemon_runtime_liveness_fallbacks_total` | counter | none | >= 4 (4 runtimes per failed lookup, from the second sweep on) |
//! | `daemon_task_lifecycle_transitions_total` | counter | `operation`, `outcome`, `origin`, `reason` | `origin="sweeper"`, `outcome="success"`: `{operation="fail_task",reason="dispatch_timeout"}` = 2; `{operation="fail_task",reason="run_timeout"}` = 1; `{operation="expire_task",reason="queue_ttl"}` = 12 |
//! | `daemon_task_lifecycle_transition_duration_seconds` | histogram | `operation` (`fail_task`, `expire_task`) | `_count`: `fail_task` = 3, `expire_task` = 12 |
//! | `daemon_task_lifecycle_count` | gauge | `state` | `queued` = 3, `dispatched` = 1, `running` = 1 |
//! | `daemon_sweep_runs_total` | counter | `sweeper`, `result` | `{sweeper="runtime_sweeper"}`: `result="ok"` = one per second run (>= 5 for 6 s), `"error"` = 0, `"panic"` = 0 |
//! | `daemon_sweep_items_total` | counter | `sweeper`, `outcome` | `marked_offline` = 1, `failed` = 3, `expired` = 12, `collected` = 2 |
//! | `daemon_sweep_run_duration_seconds` | histogram | `sweeper` | |
//! | `daemon_sweep_last_success_seconds` | gauge | `sweeper` | a Unix time |
//! | `daemon_sweep_backlog` | gauge | `sweeper` | 0 (7 after the first sweep, 2 after the second) |
//! | `daemon_sweep_capped_total` | counter | `sweeper` | 2 |

use std::sync::Arc;
use std::time::SystemTime;

use examples::runtime_sweeper::{Daemon, Settings, Swept};
use tokio_util::sync::CancellationToken;
use vigil::sweep::Sweeper;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    let settings = match run_for {
        Some(_) => Settings::short(),
        None => Settings::production(),
    };
    let guard = vigil::builder()
        .with_service_name("runtime-daemon")
        // This example has no subscriber of its own: Vigil's prints its logs
        // (RUST_LOG) and exports its spans.
        .with_tracing(true)
        .with_namespace("daemon")
        .build()?;

    let daemon = Arc::new(Daemon::new(settings));
    daemon.seed(SystemTime::now());
    // The first heartbeats land before the first sweep, as they would have
    // before this daemon started.
    daemon.heartbeat(SystemTime::now()).await;

    let shutdown = CancellationToken::new();
    let heartbeats = tokio::spawn(heartbeat(daemon.clone(), shutdown.clone()));
    let sweeper = Sweeper::<Swept>::builder("runtime_sweeper")
        .with_interval(settings.sweep_every)
        .build()
        .start({
            let daemon = daemon.clone();
            move || {
                let daemon = daemon.clone();
                async move {
                    let items = daemon.sweep(SystemTime::now()).await;
                    if let Ok(items) = &items {
                        tracing::info!(?items, backlog = ?items.backlog(), "sweep done");
                    }
                    items
                }
            }
        })?;

    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4317".into());
    println!(
        "runtime_sweeper: sweeping every {}; metrics go to {endpoint}",
        humantime::format_duration(settings.sweep_every)
    );
    println!(
        "look at the collector's /metrics for daemon_* (e.g. daemon_runtime_lifecycle_transitions_total)"
    );
    match run_for {
        Some(d) => println!("running for {}", humantime::format_duration(d)),
        None => println!("Ctrl-C to stop"),
    }

    examples::stop_signal(run_for).await;

    // The sweep in flight finishes and is recorded; then heartbeats stop and
    // the last metrics are flushed.
    sweeper.stop().await;
    shutdown.cancel();
    heartbeats.await?;
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("some telemetry could not be sent: {e}");
    }
    println!("stopped");
    Ok(())
}

/// Heartbeats of the simulated runtimes until `shutdown`.
async fn heartbeat(daemon: Arc<Daemon>, shutdown: CancellationToken) {
    let every = daemon.settings().heartbeat_every;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; main already sent that heartbeat.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => daemon.heartbeat(SystemTime::now()).await,
        }
    }
}

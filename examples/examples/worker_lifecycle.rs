//! A control plane's worker pool: spawn, activate, drain, retire and health
//! checks of workers of two images, with failures injected at random stages
//! (a seeded xorshift PRNG, so every run records the same thing), exported
//! with the `duckgres` metric namespace.
//!
//! ```text
//! cargo run -p vigil-collector &
//! cargo run -p examples --example worker_lifecycle
//! curl -s localhost:9464/metrics | grep -E '^duckgres_'
//! ```
//!
//! The collector's `/metrics` then shows exactly these families (plus `job`,
//! `instance` and `otel_scope_*` labels; `job` is `duckgres/worker-pool`):
//!
//! - `duckgres_worker_lifecycle_count{image,state,binding}`
//! - `duckgres_worker_lifecycle_transitions_total{operation,outcome,image,origin}`
//! - `duckgres_worker_lifecycle_transition_duration_seconds{operation}`
//! - `duckgres_worker_drain_total_duration_seconds`
//! - `duckgres_worker_spawn_failures_total{reason,image}`
//! - `duckgres_worker_health_checks_total{result,image}`
//! - `duckgres_worker_stranded_pods_reconciled_total{outcome}`
//! - `duckgres_activation_duration_seconds{image}`
//! - `duckgres_activation_failures_total{image}`
//! - `duckgres_warm_capacity_misses_total{image,reason}`
//! - `duckgres_warm_capacity_effective_target{image}`
//! - `duckgres_warm_capacity_headroom`
//!
//! (`promtool check metrics` objects to a gauge named `…_count`; that name is
//! the surface the Go control plane had, so it is kept.)
//!
//! Every counter series exists at 0 from the first export, and every family
//! has data within about 2 s. A stand-in for leader election takes the lease
//! away at 3 s for 1 s (then every minute): the state counts and the
//! warm-capacity gauges, which only the leader publishes, drop to 0 and come
//! back (watch `duckgres_warm_capacity_effective_target`). On Ctrl-C (or after
//! `VIGIL_EXAMPLE_DURATION`, e.g. `8s`) spawns and drains in flight are
//! counted as `outcome="cancelled"`, not failures, and the last export is
//! flushed. The collector address comes from `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4317`); `OTEL_METRIC_EXPORT_INTERVAL=500`
//! exports every half second. The pool model is `examples/src/worker_lifecycle.rs`.

use examples::worker_lifecycle::{
    Instruments, Leadership, Lease, NAMESPACE, NOT_LEADER, Pool, SEED, TICK,
};

/// A status line every this many ticks (1 s).
const STATUS_EVERY: u64 = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    let guard = builder().build()?;
    println!(
        "worker_lifecycle: exporting to {}; look for duckgres_* on the collector's /metrics \
         (http://127.0.0.1:9464/metrics by default)",
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|_| "http://localhost:4317".into()),
    );
    match run_for {
        Some(d) => println!(
            "worker_lifecycle: running for {}",
            humantime::format_duration(d)
        ),
        None => println!("worker_lifecycle: running until Ctrl-C"),
    }

    let mut pool = Pool::new(
        Instruments::new(&vigil::init::meter(), NAMESPACE),
        SEED,
        Lease::EXAMPLE,
    );
    let stop = examples::stop_signal(run_for);
    tokio::pin!(stop);
    let mut ticks = tokio::time::interval(TICK);
    // A stalled tick comes late rather than twice: the model counts ticks.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        match pool.tick() {
            Some(Leadership::Lost) => println!(
                "worker_lifecycle: lost the lease; worker counts and warm-capacity gauges reset to {NOT_LEADER}"
            ),
            Some(Leadership::Regained) => {
                println!("worker_lifecycle: leading again; counts and gauges republished")
            }
            None => {}
        }
        if pool.ticks().is_multiple_of(STATUS_EVERY) {
            println!("{}", pool.status());
        }
    }

    let cancelled = pool.shutdown();
    println!(
        "worker_lifecycle: stopping; {cancelled} operations in flight counted as cancelled\n{}",
        pool.status()
    );
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("worker_lifecycle: some telemetry could not be sent: {e:#}");
    }
    Ok(())
}

/// Vigil's builder with this example's defaults: metric namespace
/// `duckgres`, and service `duckgres/worker-pool` unless the standard
/// variables name another.
fn builder() -> vigil::Builder {
    let builder = examples::service::builder("worker-pool").with_namespace(NAMESPACE);
    if examples::service::resource_sets("service.namespace") {
        builder
    } else {
        builder.with_resource_attribute("service.namespace", NAMESPACE)
    }
}

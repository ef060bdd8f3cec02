//! Process and worker resources: CPU, memory, threads and file descriptors of
//! this process and of registered child workers, read from `/proc`, plus the
//! tokio runtime's figures, reported through observable OpenTelemetry
//! instruments.
//!
//! It exists because supervisors hand-rolled this: a dashboard computing
//! per-worker CPU % from cumulative-CPU deltas with a per-pid baseline cache,
//! RSS, and idle workers left alive past their reap TTL flagged as zombies;
//! an orchestrator publishing raw CPU ticks from `/proc/<pid>/stat`. A
//! [`Sampler`] does that on a tokio task, off the metric reader's callbacks,
//! and keeps the latest [`Snapshot`] for the instruments and for dashboards.
//!
//! ```no_run
//! # async fn run() -> Result<(), vigil::process::Error> {
//! use vigil::process::{Sampler, Workers};
//! let workers = Workers::new();
//! let sampler = Sampler::builder().with_workers(workers.clone()).build().start()?;
//! // Supervisor: workers.register(child.id(), "slot-3"); workers.mark_active(pid); ...
//! let zombies: Vec<u32> = sampler.snapshot().zombies().map(|w| w.pid).collect();
//! # Ok(()) }
//! ```
//!
//! # Instruments
//!
//! Names follow the [process semantic conventions](https://opentelemetry.io/docs/specs/semconv/system/process-metrics/),
//! prefixed with the namespace when one is set (`myapp.process.cpu.time`, as
//! Prometheus' Go process collector does with its namespace; an empty
//! [`Builder::with_namespace`] keeps the bare names):
//!
//! | name | instrument | unit | attributes |
//! |---|---|---|---|
//! | `process.cpu.time` | observable counter | `s` | `cpu.mode` = `user` \| `system` |
//! | `process.cpu.utilization` | observable gauge | `1` | none (both modes together) |
//! | `process.memory.usage` | observable up-down counter | `By` | RSS |
//! | `process.thread.count` | observable up-down counter | `{thread}` | |
//! | `process.unix.file_descriptor.count` | observable up-down counter | `{file_descriptor}` | |
//! | `worker.zombies` | observable up-down counter | `{worker}` | (with workers) |
//! | `worker.idle` | observable gauge | `s` | `zombie` = `true` \| `false` (with workers) |
//! | `tokio.workers`, `tokio.alive_tasks`, `tokio.global_queue_depth` | observable up-down counters | `{thread}`, `{task}` | |
//! | `tokio.busy.time` | observable counter | `s` | busy time summed over workers |
//!
//! This process's series carry no attribute: the resource says which
//! process it is. Each running worker's series carry the worker attribute
//! (`worker` = its registered name, key set by
//! [`Builder::with_worker_attribute`]), and `process.pid` only if
//! [`Builder::with_worker_pid`] asks for it, because pids are unbounded.
//! Per-worker series are a deliberate departure from the conventions, which
//! describe one process per resource: a supervisor exports for its workers.
//! Cardinality limits are sized for [`Builder::with_max_workers`] workers.
//!
//! `process.cpu.utilization` divides by the CPUs available to *this*
//! process (affinity and cgroup quota, `std::thread::available_parallelism`)
//! for workers too; [`ProcessStats::cpu_percent`] is the `top`-style figure
//! (100 = one core) dashboards show.
//!
//! # What it does not do
//!
//! It reads `/proc` only, so on other systems the process and worker
//! instruments report nothing (the tokio ones still work), and it never
//! panics on what `/proc` holds. It does not reap or kill workers: it flags
//! zombies and leaves the decision to the supervisor. Tokio figures are the
//! ones the stable API gives (no `tokio_unstable`).

mod clock;
mod cpu;
mod instruments;
mod procfs;
mod sampler;
mod snapshot;
mod workers;

pub use sampler::{
    Builder, DEFAULT_INTERVAL, DEFAULT_MAX_WORKERS, DEFAULT_WORKER_ATTRIBUTE, Error, Handle,
    Sampler,
};
pub use snapshot::{ProcessStats, RuntimeStats, Snapshot, WorkerStats};
pub use workers::{DEFAULT_REAP_TTL, Workers};

#[cfg(test)]
mod tests;

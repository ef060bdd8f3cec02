//! The observable instruments of the process sampler, and the slot holding
//! the latest [`Snapshot`] they report.
//!
//! Every callback clones the snapshot's `Arc` out of a mutex held only for a
//! pointer swap, then reads plain data: callbacks never block on `/proc`,
//! never allocate more than one attribute list per series, and never panic.
//! Series exist only for what the latest snapshot holds, and the SDK drops
//! series an observable callback stops observing, so an exited or
//! unregistered worker's series disappear at the next collection.

use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::{Key, KeyValue};

use super::snapshot::{ProcessStats, RuntimeStats, Snapshot, WorkerStats};
use crate::labels::{Label, LabelSet};
use crate::views;

crate::label! {
    /// `cpu.mode` on `process.cpu.time`.
    enum CpuMode = "cpu.mode" { User = "user", System = "system" }
}

crate::label! {
    /// Whether a worker is a zombie, on `worker.idle`.
    enum Zombie = "zombie" { No = "false", Yes = "true" }
}

/// What the instruments are named and labelled with, from the builder.
#[derive(Debug)]
pub(crate) struct Instruments {
    pub(crate) meter: Meter,
    /// The metric-name prefix, if any (never empty).
    pub(crate) namespace: Option<String>,
    pub(crate) max_workers: usize,
    pub(crate) worker_key: Key,
    pub(crate) worker_pid: bool,
    /// Whether a worker registry is sampled.
    pub(crate) workers: bool,
    /// Whether tokio figures are sampled.
    pub(crate) runtime: bool,
}

impl Instruments {
    /// Registers each instrument's stream settings, then the instrument with
    /// a callback reading `shared`.
    pub(crate) fn register(&self, shared: &Arc<Shared>) {
        let meter = &self.meter;
        let namespace = self.namespace.as_deref();
        let name = |base: &str| match namespace {
            Some(ns) => format!("{ns}.{base}"),
            None => base.to_string(),
        };
        let series = self.max_workers.saturating_add(1);
        let attrs = Arc::new(WorkerAttributes {
            key: self.worker_key.clone(),
            pid: self.worker_pid,
        });
        let register = |name: &str, limit: usize| {
            views::register(name, views::Spec::cardinality(limit.max(1)));
        };

        let n = name("process.cpu.time");
        register(&n, series.saturating_mul(CpuMode::VALUES.len()));
        let (s, a) = (shared.clone(), attrs.clone());
        meter
            .f64_observable_counter(n)
            .with_unit("s")
            .with_description("Total CPU seconds broken down by mode")
            .with_callback(move |obs| {
                each_process(&s.load(), &a, |p, attrs| {
                    for mode in CpuMode::VALUES {
                        let time = match mode {
                            CpuMode::User => p.cpu_user,
                            CpuMode::System => p.cpu_system,
                        };
                        attrs.push(KeyValue::new(CpuMode::KEY, mode.as_str()));
                        obs.observe(time.as_secs_f64(), attrs);
                        attrs.pop();
                    }
                });
            })
            .build();

        let n = name("process.cpu.utilization");
        register(&n, series);
        let (s, a) = (shared.clone(), attrs.clone());
        meter
            .f64_observable_gauge(n)
            .with_unit("1")
            .with_description(
                "Difference in process.cpu.time since the last measurement, divided by the \
                 elapsed time and number of CPUs available to the process",
            )
            .with_callback(move |obs| {
                each_process(&s.load(), &a, |p, attrs| {
                    if let Some(u) = p.cpu_utilization {
                        obs.observe(u, attrs);
                    }
                });
            })
            .build();

        type Figure = fn(&ProcessStats) -> Option<u64>;
        let gauges: [(&str, &str, &str, Figure); 3] = [
            (
                "process.memory.usage",
                "By",
                "The amount of physical memory in use",
                |p| p.memory_usage,
            ),
            (
                "process.thread.count",
                "{thread}",
                "Process threads count",
                |p| Some(p.threads),
            ),
            (
                "process.unix.file_descriptor.count",
                "{file_descriptor}",
                "Number of unix file descriptors in use by the process",
                |p| p.open_fds,
            ),
        ];
        for (base, unit, description, value) in gauges {
            let n = name(base);
            register(&n, series);
            let (s, a) = (shared.clone(), attrs.clone());
            meter
                .i64_observable_up_down_counter(n)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |obs| {
                    each_process(&s.load(), &a, |p, attrs| {
                        if let Some(v) = value(p) {
                            observe_count(obs, v, attrs);
                        }
                    });
                })
                .build();
        }

        self.register_workers(meter, &name, shared, &attrs);
        if self.runtime {
            register_runtime(meter, &name, shared);
        }
    }

    fn register_workers(
        &self,
        meter: &Meter,
        name: &dyn Fn(&str) -> String,
        shared: &Arc<Shared>,
        attrs: &Arc<WorkerAttributes>,
    ) {
        if !self.workers {
            return;
        }
        let n = name("worker.zombies");
        views::register(&n, single_series());
        let s = shared.clone();
        meter
            .i64_observable_up_down_counter(n)
            .with_unit("{worker}")
            .with_description("Workers idle past the reap TTL whose process still runs")
            .with_callback(move |obs| {
                let snapshot = s.load();
                // Liveness comes from /proc: without it (not Linux, or no
                // sample yet) a zero would be a guess.
                if snapshot.process.is_some() {
                    observe_count(obs, snapshot.zombies().count() as u64, &[]);
                }
            })
            .build();

        let n = name("worker.idle");
        views::register(&n, views::Spec::cardinality(self.max_workers.max(1)));
        let (s, a) = (shared.clone(), attrs.clone());
        meter
            .f64_observable_gauge(n)
            .with_unit("s")
            .with_description(
                "Time since a running worker was registered or last marked active; \
                 zombie=true past the reap TTL",
            )
            .with_callback(move |obs| {
                for worker in s.load().workers.iter().filter(|w| w.process.is_some()) {
                    let mut attrs = a.of(worker);
                    let zombie = if worker.zombie {
                        Zombie::Yes
                    } else {
                        Zombie::No
                    };
                    zombie.push_attributes(&mut attrs);
                    obs.observe(worker.idle.as_secs_f64(), &attrs);
                }
            })
            .build();
    }
}

fn register_runtime(meter: &Meter, name: &dyn Fn(&str) -> String, shared: &Arc<Shared>) {
    type Figure = fn(&RuntimeStats) -> usize;
    let figures: [(&str, &str, &str, Figure); 3] = [
        (
            "tokio.workers",
            "{thread}",
            "Worker threads of the tokio runtime",
            |r| r.workers,
        ),
        (
            "tokio.alive_tasks",
            "{task}",
            "Tasks spawned on the tokio runtime and not finished",
            |r| r.alive_tasks,
        ),
        (
            "tokio.global_queue_depth",
            "{task}",
            "Tasks waiting in the tokio runtime's global queue",
            |r| r.global_queue_depth,
        ),
    ];
    for (base, unit, description, value) in figures {
        let n = name(base);
        views::register(&n, single_series());
        let s = shared.clone();
        meter
            .i64_observable_up_down_counter(n)
            .with_unit(unit)
            .with_description(description)
            .with_callback(move |obs| {
                if let Some(runtime) = &s.load().runtime {
                    observe_count(obs, value(runtime) as u64, &[]);
                }
            })
            .build();
    }
    let n = name("tokio.busy.time");
    views::register(&n, single_series());
    let s = shared.clone();
    meter
        .f64_observable_counter(n)
        .with_unit("s")
        .with_description("Time the tokio runtime's workers spent busy, summed over workers")
        .with_callback(move |obs| {
            if let Some(busy) = s.load().runtime.as_ref().and_then(|r| r.busy) {
                obs.observe(busy.as_secs_f64(), &[]);
            }
        })
        .build();
}

/// Settings of an instrument with one series and no attributes.
fn single_series() -> views::Spec {
    views::Spec::cardinality(1)
}

/// Observes a count, saturating at `i64::MAX`.
fn observe_count(obs: &dyn AsyncInstrument<i64>, value: u64, attrs: &[KeyValue]) {
    obs.observe(i64::try_from(value).unwrap_or(i64::MAX), attrs);
}

/// Calls `f` with this process (no attributes) and each running worker
/// (its attributes); `f` may push to the attributes but must pop what it
/// pushed.
fn each_process(
    snapshot: &Snapshot,
    attrs: &WorkerAttributes,
    mut f: impl FnMut(&ProcessStats, &mut Vec<KeyValue>),
) {
    let mut buffer = Vec::new();
    if let Some(process) = &snapshot.process {
        f(process, &mut buffer);
    }
    for worker in &snapshot.workers {
        if let Some(process) = &worker.process {
            let mut attrs = attrs.of(worker);
            f(process, &mut attrs);
        }
    }
}

/// How worker series are labelled.
#[derive(Debug)]
struct WorkerAttributes {
    key: Key,
    pid: bool,
}

impl WorkerAttributes {
    fn of(&self, worker: &WorkerStats) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(4);
        attrs.push(KeyValue::new(
            self.key.clone(),
            worker.name.as_str().to_string(),
        ));
        if self.pid {
            attrs.push(KeyValue::new("process.pid", i64::from(worker.pid)));
        }
        attrs
    }
}

/// The latest snapshot, shared between the task, the callbacks and the handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    current: Mutex<Current>,
}

#[derive(Debug, Default)]
struct Current {
    snapshot: Arc<Snapshot>,
    stopped: bool,
}

impl Shared {
    pub(crate) fn load(&self) -> Arc<Snapshot> {
        self.lock().snapshot.clone()
    }

    pub(crate) fn publish(&self, snapshot: Snapshot) {
        let mut current = self.lock();
        if !current.stopped {
            current.snapshot = Arc::new(snapshot);
        }
    }

    /// Empties the snapshot for good, so the callbacks report nothing.
    pub(crate) fn stop(&self) {
        let mut current = self.lock();
        current.stopped = true;
        current.snapshot = Arc::default();
    }

    /// Critical sections only swap or clone an `Arc` and cannot panic, so a
    /// poisoned lock still holds a consistent value.
    fn lock(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

//! One sample of this process, its workers and its tokio runtime
//! ([`Snapshot`]), and the sampling step that produces it.
//!
//! A snapshot is what the observable instruments report and what a dashboard
//! shows; it is plain data, computed off the callbacks, so a metric reader
//! never waits on `/proc`. The sampling step takes the time and the `/proc`
//! reader as arguments, so tests drive it with fixed clocks and fake
//! processes.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::cpu::CpuTracker;
use super::procfs::{self, Reading};
use super::workers::{self, Workers};
use crate::labels::Free;

/// Everything one sample saw.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the sample was taken; `None` before the first one and after the
    /// sampler stopped.
    pub taken_at: Option<SystemTime>,
    /// CPUs available to this process (affinity and cgroup quota), the
    /// divisor of [`ProcessStats::cpu_utilization`].
    pub cpus: usize,
    /// This process; `None` where `/proc` is not available.
    pub process: Option<ProcessStats>,
    /// Registered workers, by pid.
    pub workers: Vec<WorkerStats>,
    /// The tokio runtime, when runtime metrics are on.
    pub runtime: Option<RuntimeStats>,
}

impl Snapshot {
    /// The workers flagged as zombies.
    pub fn zombies(&self) -> impl Iterator<Item = &WorkerStats> {
        self.workers.iter().filter(|w| w.zombie)
    }
}

/// One process as read from `/proc/<pid>`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProcessStats {
    /// The process id.
    pub pid: u32,
    /// Cumulative CPU time in user mode.
    pub cpu_user: Duration,
    /// Cumulative CPU time in kernel mode.
    pub cpu_system: Duration,
    /// CPU use since the previous sample in the style of `top`: 100 is one
    /// core busy for the whole window, 250 two and a half. `None` on the
    /// first sample of a process.
    pub cpu_percent: Option<f64>,
    /// CPU use since the previous sample divided by the elapsed time and by
    /// [`Snapshot::cpus`] (the `process.cpu.utilization` definition):
    /// nominally `0..=1`, a little over when clock-tick rounding or a worker
    /// allowed more CPUs than this process pushes it there. `None` on the
    /// first sample of a process.
    pub cpu_utilization: Option<f64>,
    /// Resident set size in bytes; `None` when `/proc` did not give it.
    pub memory_usage: Option<u64>,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors; `None` when `/proc/<pid>/fd` is not readable
    /// (another user's process).
    pub open_fds: Option<u64>,
}

/// One registered worker.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The process id.
    pub pid: u32,
    /// The name it was registered under.
    pub name: Free,
    /// Time since it was registered or last marked active.
    pub idle: Duration,
    /// Idle past the reap TTL while its process still runs.
    pub zombie: bool,
    /// Its process; `None` once it exited (or where `/proc` is not available).
    pub process: Option<ProcessStats>,
}

/// Figures from the stable part of tokio's `RuntimeMetrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// Worker threads (1 for a current-thread runtime).
    pub workers: usize,
    /// Tasks spawned and not yet finished.
    pub alive_tasks: usize,
    /// Tasks waiting in the global (injection) queue.
    pub global_queue_depth: usize,
    /// Time all workers spent busy since the runtime started, summed; `None`
    /// on targets without 64-bit atomics, where tokio does not count it.
    pub busy: Option<Duration>,
}

impl RuntimeStats {
    /// Reads the runtime behind `handle` (atomic loads only).
    pub(crate) fn read(handle: &tokio::runtime::Handle) -> Self {
        let metrics = handle.metrics();
        let workers = metrics.num_workers();
        #[cfg(target_has_atomic = "64")]
        let busy = Some(
            (0..workers)
                .map(|worker| metrics.worker_total_busy_duration(worker))
                .fold(Duration::ZERO, Duration::saturating_add),
        );
        #[cfg(not(target_has_atomic = "64"))]
        let busy = None;
        RuntimeStats {
            workers,
            alive_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
            busy,
        }
    }
}

/// What the sampler keeps between samples.
#[derive(Debug)]
pub(crate) struct State {
    pid: u32,
    workers: Option<Workers>,
    runtime: Option<tokio::runtime::Handle>,
    cpu: CpuTracker,
}

impl State {
    /// Samples process `pid`, the registered `workers` and the `runtime`.
    pub(crate) fn new(
        pid: u32,
        workers: Option<Workers>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Self {
        State {
            pid,
            workers,
            runtime,
            cpu: CpuTracker::new(),
        }
    }

    /// Takes a sample now. Reads `/proc`, so it may block: call it off the
    /// async workers.
    pub(crate) fn sample(&mut self) -> Snapshot {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let mut snapshot = self.sample_with(Instant::now(), cpus, procfs::read);
        snapshot.taken_at = Some(SystemTime::now());
        snapshot
    }

    /// Takes a sample at `now` with `cpus` available, reading processes with
    /// `read`. Baselines of processes not seen running are dropped.
    pub(crate) fn sample_with(
        &mut self,
        now: Instant,
        cpus: usize,
        mut read: impl FnMut(u32) -> Option<Reading>,
    ) -> Snapshot {
        let cpus = cpus.max(1);
        let (reap_ttl, registered) = match &self.workers {
            Some(workers) => workers.list(now),
            None => (Duration::ZERO, Vec::new()),
        };
        // One read per pid even if this process is also registered as a worker.
        let mut seen: HashMap<u32, Option<ProcessStats>> = HashMap::new();
        let mut stats_of = |pid: u32, cpu: &mut CpuTracker| {
            seen.entry(pid)
                .or_insert_with(|| {
                    let reading = read(pid).filter(|r| r.stat.is_running())?;
                    Some(process_stats(pid, &reading, cpu, now, cpus))
                })
                .clone()
        };
        let process = stats_of(self.pid, &mut self.cpu);
        let workers = registered
            .into_iter()
            .map(|worker| {
                let process = stats_of(worker.pid, &mut self.cpu);
                WorkerStats {
                    pid: worker.pid,
                    zombie: workers::is_zombie(worker.idle, reap_ttl, process.is_some()),
                    name: worker.name,
                    idle: worker.idle,
                    process,
                }
            })
            .collect();
        self.cpu
            .retain(|pid| seen.get(&pid).is_some_and(Option::is_some));
        Snapshot {
            taken_at: None,
            cpus,
            process,
            workers,
            runtime: self.runtime.as_ref().map(RuntimeStats::read),
        }
    }

    /// The pids with a CPU baseline.
    #[cfg(test)]
    pub(crate) fn baseline_pids(&self) -> Vec<u32> {
        self.cpu.pids()
    }
}

fn process_stats(
    pid: u32,
    reading: &Reading,
    cpu: &mut CpuTracker,
    now: Instant,
    cpus: usize,
) -> ProcessStats {
    let (user, system) = (reading.stat.user(), reading.stat.system());
    let cores = cpu.observe(
        pid,
        reading.stat.start_time,
        user.saturating_add(system),
        now,
    );
    ProcessStats {
        pid,
        cpu_user: user,
        cpu_system: system,
        cpu_percent: cores.map(|c| c * 100.0),
        cpu_utilization: cores.map(|c| c / cpus as f64),
        memory_usage: reading.rss_bytes,
        threads: reading.threads,
        open_fds: reading.open_fds,
    }
}

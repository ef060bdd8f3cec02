//! Sampling with fake processes and fixed clocks (CPU arithmetic, pruning,
//! zombies), real samples of this process and of a `sleep` child, and the
//! instruments read back through the test harness.

#[cfg(target_os = "linux")]
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::procfs::{Reading, Stat, Status};
use super::snapshot::State;
use super::*;
use crate::labels::Free;
use crate::testing::Harness;

/// A running process that had used `user` and `system` clock ticks.
fn reading(user: u64, system: u64) -> Reading {
    let stat = Stat {
        state: 'S',
        utime: user,
        stime: system,
        num_threads: 3,
        start_time: 1000,
    };
    let status = Status {
        rss_bytes: Some(4096),
        threads: Some(4),
    };
    Reading::new(stat, status, Some(8))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn cpu_percent_and_utilization_come_from_two_samples() {
    let t0 = Instant::now();
    let mut state = State::new(1, None, None);
    let first = state.sample_with(t0, 4, |_| Some(reading(100, 50)));
    let p = first.process.unwrap();
    assert_eq!(
        (p.cpu_user, p.cpu_system),
        (secs(1), Duration::from_millis(500))
    );
    assert_eq!(
        (p.cpu_percent, p.cpu_utilization),
        (None, None),
        "no baseline yet"
    );

    // 300 more ticks (3 s of CPU) over 2 s on 4 CPUs: 150 %, 0.375.
    let second = state.sample_with(t0 + secs(2), 4, |_| Some(reading(300, 150)));
    let p = second.process.unwrap();
    assert_eq!(p.cpu_percent, Some(150.0));
    assert_eq!(p.cpu_utilization, Some(0.375));
    assert_eq!(second.cpus, 4);
    assert_eq!(
        (p.memory_usage, p.threads, p.open_fds),
        (Some(4096), 4, Some(8))
    );
}

#[test]
fn baselines_are_pruned_when_a_worker_exits_or_is_unregistered() {
    let t0 = Instant::now();
    let workers = Workers::new();
    workers.register_at(10, Free::new("a"), t0);
    workers.register_at(20, Free::new("b"), t0);
    let mut state = State::new(1, Some(workers.clone()), None);
    state.sample_with(t0, 1, |_| Some(reading(0, 0)));
    assert_eq!(state.baseline_pids(), vec![1, 10, 20]);

    // 20 exits; 10 is unregistered.
    workers.unregister(10);
    let snapshot = state.sample_with(t0 + secs(1), 1, |pid| (pid != 20).then(|| reading(0, 0)));
    assert_eq!(state.baseline_pids(), vec![1]);
    assert_eq!(snapshot.workers.len(), 1);
    assert_eq!(snapshot.workers[0].pid, 20);
    assert_eq!(snapshot.workers[0].process, None);

    // A kernel zombie (exited, not waited for) counts as exited too.
    let mut exited = reading(0, 0);
    exited.stat.state = 'Z';
    let snapshot = state.sample_with(t0 + secs(2), 1, |_| Some(exited));
    assert_eq!(snapshot.process, None);
    assert!(state.baseline_pids().is_empty());
}

#[test]
fn idle_running_workers_past_the_reap_ttl_are_zombies() {
    let t0 = Instant::now();
    let workers = Workers::new().with_reap_ttl(secs(60));
    workers.register_at(10, Free::new("busy"), t0);
    workers.register_at(20, Free::new("idle"), t0);
    workers.register_at(30, Free::new("gone"), t0);
    let mut state = State::new(1, Some(workers.clone()), None);
    let alive = |pid: u32| (pid != 30).then(|| reading(0, 0));

    let snapshot = state.sample_with(t0 + secs(60), 1, alive);
    assert_eq!(snapshot.zombies().count(), 0, "at the TTL is not past it");

    workers.mark_active_at(10, t0 + secs(50));
    let snapshot = state.sample_with(t0 + secs(61), 1, alive);
    let flags: Vec<(&str, Duration, bool)> = snapshot
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.idle, w.zombie))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("busy", secs(11), false),
            ("idle", secs(61), true),
            ("gone", secs(61), false)
        ]
    );
    assert_eq!(
        snapshot.zombies().map(|w| w.pid).collect::<Vec<_>>(),
        vec![20]
    );

    // Activity clears the flag.
    workers.mark_active_at(20, t0 + secs(62));
    let snapshot = state.sample_with(t0 + secs(63), 1, alive);
    assert_eq!(snapshot.zombies().count(), 0);
}

#[test]
fn a_process_registered_as_its_own_worker_is_read_once() {
    let t0 = Instant::now();
    let workers = Workers::new();
    workers.register_at(1, Free::new("self"), t0);
    let mut state = State::new(1, Some(workers), None);
    let mut reads = 0;
    state.sample_with(t0, 1, |_| {
        reads += 1;
        Some(reading(0, 0))
    });
    let snapshot = state.sample_with(t0 + secs(1), 1, |_| Some(reading(50, 50)));
    assert_eq!(reads, 1);
    assert_eq!(snapshot.process.unwrap().cpu_percent, Some(100.0));
    assert_eq!(
        snapshot.workers[0].process.as_ref().unwrap().cpu_percent,
        Some(100.0)
    );
}

#[test]
fn without_proc_nothing_is_reported() {
    let t0 = Instant::now();
    let workers = Workers::new().with_reap_ttl(Duration::ZERO);
    workers.register_at(10, Free::new("w"), t0);
    let mut state = State::new(1, Some(workers), None);
    let snapshot = state.sample_with(t0 + secs(5), 0, |_| None);
    assert_eq!(snapshot.process, None);
    assert_eq!(snapshot.cpus, 1, "never divides by zero CPUs");
    assert_eq!(snapshot.zombies().count(), 0, "liveness unknown: no zombie");
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let error = Sampler::builder()
        .with_meter(Harness::new().meter())
        .build()
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}

/// A `sleep` child, killed and waited for on drop.
#[cfg(target_os = "linux")]
struct Sleeper(Child);

#[cfg(target_os = "linux")]
impl Sleeper {
    fn spawn() -> Self {
        Sleeper(Command::new("sleep").arg("5").spawn().expect("spawn sleep"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(target_os = "linux")]
impl Drop for Sleeper {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn reads_this_process_from_proc() {
    let reading = procfs::read(std::process::id()).expect("/proc/self");
    assert!(reading.stat.is_running());
    assert!(reading.rss_bytes.unwrap() > 0);
    assert!(reading.threads >= 1);
    assert!(reading.open_fds.unwrap() >= 1);
    assert_eq!(procfs::read(u32::MAX), None, "no such pid");
}

#[cfg(target_os = "linux")]
#[test]
fn samples_a_child_worker_until_it_exits() {
    let mut child = Sleeper::spawn();
    let workers = Workers::new();
    workers.register(child.pid(), "sleeper");
    let mut state = State::new(std::process::id(), Some(workers), None);

    let snapshot = state.sample();
    assert!(snapshot.taken_at.is_some());
    assert!(snapshot.cpus >= 1);
    let this = snapshot.process.expect("this process");
    assert!(this.memory_usage.unwrap() > 0);
    assert!(this.threads >= 1);
    let worker = &snapshot.workers[0];
    let sleeper = worker.process.as_ref().expect("sleep is running");
    assert_eq!(sleeper.pid, child.pid());
    assert!(sleeper.memory_usage.unwrap() > 0);
    assert_eq!(sleeper.threads, 1);
    assert!(!worker.zombie);

    let snapshot = state.sample();
    let sleeper = snapshot.workers[0].process.as_ref().unwrap();
    let percent = sleeper.cpu_percent.expect("second sample");
    assert!(
        (0.0..=100.0).contains(&percent),
        "sleep barely runs: {percent}"
    );

    child.kill();
    let snapshot = state.sample();
    assert_eq!(snapshot.workers[0].process, None, "exited and reaped");
    assert_eq!(state.baseline_pids(), vec![std::process::id()]);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruments_report_the_snapshot_through_the_harness() {
    let h = Harness::new();
    let child = Sleeper::spawn();
    let workers = Workers::new().with_reap_ttl(Duration::ZERO);
    workers.register(child.pid(), "slot-1");
    let sampler = Sampler::builder()
        .with_meter(h.meter())
        .with_namespace("t")
        .with_interval(Duration::from_secs(3600))
        .with_workers(workers.clone())
        .with_max_workers(4)
        .build()
        .start()
        .unwrap();
    sampler.refresh().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let snapshot = sampler.refresh().await;
    assert_eq!(snapshot.zombies().count(), 1, "idle past a zero TTL");

    let slot = [("worker", "slot-1")];
    assert!(h.gauge("t.process.memory.usage", &[]).unwrap() > 0.0);
    assert!(h.gauge("t.process.memory.usage", &slot).unwrap() > 0.0);
    assert!(h.gauge("t.process.thread.count", &[]).unwrap() >= 1.0);
    assert_eq!(h.gauge("t.process.thread.count", &slot), Some(1.0));
    assert!(
        h.gauge("t.process.unix.file_descriptor.count", &slot)
            .unwrap()
            >= 1.0
    );
    assert!(h.gauge("t.process.cpu.utilization", &[]).unwrap() >= 0.0);
    assert!(h.gauge("t.process.cpu.utilization", &slot).is_some());
    assert!(
        h.counter("t.process.cpu.time", &[("cpu.mode", "user")])
            .is_some()
    );
    let mode_sets = h.series("t.process.cpu.time");
    assert_eq!(
        mode_sets.len(),
        4,
        "user and system for this process and the worker: {mode_sets:?}"
    );
    assert_eq!(h.gauge("t.worker.zombies", &[]), Some(1.0));
    assert!(
        h.gauge("t.worker.idle", &[("worker", "slot-1"), ("zombie", "true")])
            .is_some()
    );
    assert!(h.gauge("t.tokio.workers", &[]).unwrap() >= 2.0);
    assert!(
        h.gauge("t.tokio.alive_tasks", &[]).unwrap() >= 1.0,
        "the sampler itself"
    );
    assert!(h.gauge("t.tokio.global_queue_depth", &[]).is_some());
    assert!(h.counter("t.tokio.busy.time", &[]).is_some());

    // Activity clears the zombie; an unregistered worker's series go away.
    workers.mark_active(child.pid());
    let ttl_workers = workers.clone().with_reap_ttl(Duration::from_secs(60));
    ttl_workers.mark_active(child.pid());
    sampler.refresh().await;
    assert_eq!(h.gauge("t.worker.zombies", &[]), Some(0.0));
    assert!(
        h.gauge(
            "t.worker.idle",
            &[("worker", "slot-1"), ("zombie", "false")]
        )
        .is_some()
    );
    workers.unregister(child.pid());
    sampler.refresh().await;
    assert_eq!(h.gauge("t.process.memory.usage", &slot), None);
    h.assert_nothing_recorded("t.worker.idle");

    sampler.stop();
    // The reader skips an export with no data at all, which would leave the
    // harness reading the previous one: keep one live series.
    h.meter().u64_counter("t.marker").build().add(1, &[]);
    assert_eq!(h.counter("t.marker", &[]), Some(1.0));
    for name in [
        "t.process.cpu.time",
        "t.process.memory.usage",
        "t.worker.zombies",
        "t.tokio.workers",
    ] {
        h.assert_nothing_recorded(name);
    }
}

#[tokio::test]
async fn worker_pid_is_an_opt_in_attribute_with_a_chosen_key() {
    let h = Harness::new();
    let workers = Workers::new();
    workers.register(std::process::id(), "me");
    let sampler = Sampler::builder()
        .with_meter(h.meter())
        .with_namespace("")
        .with_workers(workers)
        .with_worker_attribute("slot")
        .with_worker_pid(true)
        .with_runtime_metrics(false)
        .build()
        .start()
        .unwrap();
    let snapshot = sampler.refresh().await;
    assert_eq!(snapshot.runtime, None);
    h.assert_nothing_recorded("tokio.workers");
    if snapshot.process.is_some() {
        let pid = std::process::id().to_string();
        let sets = h.series("process.thread.count");
        assert!(
            sets.contains(&vec![
                ("process.pid".to_string(), pid),
                ("slot".to_string(), "me".to_string())
            ]),
            "{sets:?}"
        );
    } else {
        h.assert_nothing_recorded("process.thread.count");
    }
}

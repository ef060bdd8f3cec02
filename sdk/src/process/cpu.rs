//! CPU usage from cumulative CPU time: a per-process baseline, so usage is
//! the difference between two samples, never a second read after a sleep.
//!
//! `/proc` gives cumulative CPU time only. Tools that sleep between two reads
//! block the caller for the window; the dashboard Vigil replaces kept the
//! previous reading per pid instead and divided by the wall time between
//! samples, which is what [`CpuTracker`] does. Times are passed in, so the
//! arithmetic is tested exactly. The tracker does not read `/proc` and does
//! not decide which processes to keep: the sampler prunes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The previous sample of one process.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    /// Start time of the process (clock ticks after boot): a different value
    /// under the same pid is a different process.
    start_time: u64,
    /// Cumulative CPU time (user + system).
    cpu: Duration,
    /// When `cpu` was read.
    at: Instant,
}

/// Per-process baselines of cumulative CPU time.
#[derive(Debug, Default)]
pub(crate) struct CpuTracker {
    baselines: HashMap<u32, Baseline>,
}

impl CpuTracker {
    /// An empty tracker.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records that process `pid` (started at `start_time`) had used `cpu` by
    /// `at`, and returns the CPU cores it kept busy on average since its
    /// previous sample: `1.0` is one core for the whole window, `2.5` two and
    /// a half (the dashboard's "CPU %" is this times 100).
    ///
    /// `None` on the first sample of a process, for a new process under a
    /// reused pid, when the CPU time went backwards, or when no time passed;
    /// each of these except the last restarts the baseline.
    pub(crate) fn observe(
        &mut self,
        pid: u32,
        start_time: u64,
        cpu: Duration,
        at: Instant,
    ) -> Option<f64> {
        let current = Baseline {
            start_time,
            cpu,
            at,
        };
        let Some(previous) = self.baselines.get(&pid).copied() else {
            self.baselines.insert(pid, current);
            return None;
        };
        if previous.start_time != start_time {
            self.baselines.insert(pid, current);
            return None;
        }
        let Some(wall) = at.checked_duration_since(previous.at) else {
            // Time going backwards means the caller mixed up its samples.
            self.baselines.insert(pid, current);
            return None;
        };
        if wall.is_zero() {
            // Keep the older baseline: the next sample gets a real window.
            return None;
        }
        let Some(used) = cpu.checked_sub(previous.cpu) else {
            self.baselines.insert(pid, current);
            return None;
        };
        self.baselines.insert(pid, current);
        Some(used.as_secs_f64() / wall.as_secs_f64())
    }

    /// Drops the baselines of the processes `keep` rejects.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.baselines.retain(|pid, _| keep(*pid));
    }

    /// The pids with a baseline.
    #[cfg(test)]
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.baselines.keys().copied().collect();
        pids.sort_unstable();
        pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn usage_is_cpu_delta_over_wall_delta() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        assert_eq!(
            cpu.observe(7, 1, secs(10.0), t0),
            None,
            "first sample is a baseline"
        );
        // 1.5 s of CPU over 2 s of wall time: three quarters of a core.
        assert_eq!(cpu.observe(7, 1, secs(11.5), t0 + secs(2.0)), Some(0.75));
        // 8 s of CPU over 4 s: two cores busy.
        assert_eq!(cpu.observe(7, 1, secs(19.5), t0 + secs(6.0)), Some(2.0));
        // Idle.
        assert_eq!(cpu.observe(7, 1, secs(19.5), t0 + secs(16.0)), Some(0.0));
    }

    #[test]
    fn processes_have_separate_baselines() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        cpu.observe(1, 1, secs(0.0), t0);
        cpu.observe(2, 1, secs(100.0), t0);
        assert_eq!(cpu.observe(1, 1, secs(1.0), t0 + secs(4.0)), Some(0.25));
        assert_eq!(cpu.observe(2, 1, secs(102.0), t0 + secs(4.0)), Some(0.5));
    }

    #[test]
    fn reused_pid_restarts_the_baseline() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        cpu.observe(9, 100, secs(50.0), t0);
        // Same pid, later start time, more CPU than the old one: still new.
        assert_eq!(cpu.observe(9, 200, secs(60.0), t0 + secs(1.0)), None);
        assert_eq!(cpu.observe(9, 200, secs(61.0), t0 + secs(3.0)), Some(0.5));
    }

    #[test]
    fn cpu_time_going_backwards_restarts_the_baseline() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        cpu.observe(3, 1, secs(5.0), t0);
        assert_eq!(cpu.observe(3, 1, secs(4.0), t0 + secs(1.0)), None);
        assert_eq!(cpu.observe(3, 1, secs(5.0), t0 + secs(3.0)), Some(0.5));
    }

    #[test]
    fn no_elapsed_time_gives_nothing_and_keeps_the_window() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        cpu.observe(3, 1, secs(0.0), t0 + secs(1.0));
        assert_eq!(cpu.observe(3, 1, secs(1.0), t0 + secs(1.0)), None);
        assert_eq!(
            cpu.observe(3, 1, secs(1.0), t0),
            None,
            "time going backwards"
        );
        assert_eq!(cpu.observe(3, 1, secs(2.0), t0 + secs(4.0)), Some(0.25));
    }

    #[test]
    fn retain_prunes_baselines() {
        let t0 = Instant::now();
        let mut cpu = CpuTracker::new();
        for pid in [1, 2, 3] {
            cpu.observe(pid, 1, secs(1.0), t0);
        }
        cpu.retain(|pid| pid != 2);
        assert_eq!(cpu.pids(), vec![1, 3]);
        // A pruned pid starts over.
        assert_eq!(cpu.observe(2, 1, secs(2.0), t0 + secs(1.0)), None);
    }
}

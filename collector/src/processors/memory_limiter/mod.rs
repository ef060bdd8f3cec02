//! Processor `memory_limiter`: when the collector's memory passes a limit, pipelines refuse new
//! batches (the sender is told to retry: gRPC `UNAVAILABLE` / HTTP 503 with `Retry-After`)
//! until it falls back below, instead of growing until the kernel kills the process and every
//! queued batch with it.
//!
//! Memory is the process' resident set (`/proc/self/statm`), measured every `check_interval` by
//! one task per processor; between checks the decision is one atomic load per batch. Above the
//! soft limit (`limit - spike`) batches are refused; below it they are taken again. Rust frees
//! memory as soon as it is unused, so there is no garbage collection to force at the hard limit
//! (the Collector's second threshold): the soft limit does the whole job. Transitions are logged
//! once each way; refused batches are counted by the receivers as refused.
//!
//! Place it first among a pipeline's processors, as in the Collector, so a refused batch costs
//! nothing more.

mod config;
#[cfg(test)]
mod tests;

pub use config::{Config, Settings};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::pipeline::Refused;

/// How long a refused sender is asked to wait.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Reads the memory in use, bytes.
pub type Meter = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// One `memory_limiter` processor.
pub struct MemoryLimiter {
    id: String,
    settings: Settings,
    refusing: AtomicBool,
    /// The last measurement, bytes.
    pub used: AtomicU64,
    meter: Meter,
}

impl MemoryLimiter {
    /// A limiter for processor `id` measuring with `meter` (see [`resident_bytes`]).
    pub fn new(id: &str, settings: Settings, meter: Meter) -> Arc<MemoryLimiter> {
        let limiter = Arc::new(MemoryLimiter {
            id: id.to_owned(),
            settings,
            refusing: AtomicBool::new(false),
            used: AtomicU64::new(0),
            meter,
        });
        limiter.check();
        limiter
    }

    /// Starts the task that measures every `check_interval` until `stop`.
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(limiter.settings.check_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => limiter.check(),
                }
            }
        })
    }

    /// Measures once and updates the decision.
    pub fn check(&self) {
        let Some(used) = (self.meter)() else { return };
        self.used.store(used, Ordering::Relaxed);
        let over = used > self.settings.soft_limit;
        let was = self.refusing.swap(over, Ordering::Relaxed);
        if over && !was {
            tracing::warn!(
                processor = %self.id,
                used_mib = used / (1024 * 1024),
                soft_limit_mib = self.settings.soft_limit / (1024 * 1024),
                "memory above the soft limit: refusing data until it falls back"
            );
        } else if !over && was {
            tracing::info!(
                processor = %self.id,
                used_mib = used / (1024 * 1024),
                "memory back below the soft limit: taking data again"
            );
        }
    }

    /// `Ok` to take a batch, or the refusal to answer with.
    pub fn admit(&self) -> Result<(), Refused> {
        if self.refusing.load(Ordering::Relaxed) {
            return Err(Refused::unavailable(
                format!(
                    "the collector's memory is above the soft limit of processor {} ({} MiB); retry later",
                    self.id,
                    self.settings.soft_limit / (1024 * 1024)
                ),
                RETRY_AFTER,
            ));
        }
        Ok(())
    }
}

/// The process' resident set, bytes (`/proc/self/statm` times the page size, 4 KiB on the
/// platforms Vigil runs on); `None` where it cannot be read.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(4096))
}

/// The memory the process may use, bytes: the cgroup v2 `memory.max` when it is a number, else
/// the machine's `MemTotal`.
pub fn available_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

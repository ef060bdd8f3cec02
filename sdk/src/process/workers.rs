//! The registry of child worker processes the sampler watches, with the time
//! each was last marked active.
//!
//! A supervisor registers each worker it spawns under a bounded name (a slot,
//! a pool member: the attribute its series carry), marks it active when it
//! hands it work, and unregisters it when it reaps it. A worker idle for
//! longer than the reap TTL whose process is still running is a *zombie*:
//! the supervisor should have reaped it and did not. The registry only
//! records; the sampler decides liveness from `/proc` and reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::labels::Free;

/// Default [`Workers::with_reap_ttl`]: five minutes.
pub const DEFAULT_REAP_TTL: Duration = Duration::from_secs(300);

/// A shared registry of worker processes; clones share it.
///
/// ```
/// use vigil::process::Workers;
/// let workers = Workers::new().with_reap_ttl(std::time::Duration::from_secs(60));
/// let child = std::process::id(); // the pid of a spawned worker
/// workers.register(child, "slot-1");
/// workers.mark_active(child); // on each job handed to it
/// assert!(workers.unregister(child)); // once reaped
/// ```
#[derive(Clone, Debug, Default)]
pub struct Workers {
    shared: Arc<Mutex<Registry>>,
}

#[derive(Debug)]
struct Registry {
    reap_ttl: Duration,
    entries: HashMap<u32, Entry>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            reap_ttl: DEFAULT_REAP_TTL,
            entries: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    name: Free,
    last_active: Instant,
}

/// One registered worker, as the sampler sees it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Registered {
    pub(crate) pid: u32,
    pub(crate) name: Free,
    /// Time since registration or the last [`Workers::mark_active`].
    pub(crate) idle: Duration,
}

impl Workers {
    /// An empty registry with the [`DEFAULT_REAP_TTL`].
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a worker may stay idle while its process runs before it is
    /// flagged a zombie (default [`DEFAULT_REAP_TTL`]). The TTL belongs to
    /// the shared registry: it applies to every clone.
    pub fn with_reap_ttl(self, ttl: Duration) -> Self {
        self.lock().reap_ttl = ttl;
        self
    }

    /// The reap TTL.
    pub fn reap_ttl(&self) -> Duration {
        self.lock().reap_ttl
    }

    /// Watches process `pid` under `name`, active from now. Registering a
    /// pid again renames it and marks it active.
    ///
    /// `name` becomes the value of the worker attribute on every series of
    /// this worker: use a bounded value such as a slot or pool name, never a
    /// pid or a job id, and keep it unique among running workers (two running
    /// workers with one name write the same series). An empty name becomes
    /// `unknown`.
    pub fn register(&self, pid: u32, name: impl Into<Free>) {
        self.register_at(pid, name.into(), Instant::now());
    }

    /// Stops watching `pid`; `false` if it was not registered.
    pub fn unregister(&self, pid: u32) -> bool {
        self.lock().entries.remove(&pid).is_some()
    }

    /// Records activity of `pid` now (it was handed work, or reported
    /// progress); `false` if it is not registered.
    pub fn mark_active(&self, pid: u32) -> bool {
        self.mark_active_at(pid, Instant::now())
    }

    /// The number of registered workers.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no worker is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn register_at(&self, pid: u32, name: Free, at: Instant) {
        self.lock().entries.insert(
            pid,
            Entry {
                name,
                last_active: at,
            },
        );
    }

    pub(crate) fn mark_active_at(&self, pid: u32, at: Instant) -> bool {
        match self.lock().entries.get_mut(&pid) {
            Some(entry) => {
                // Never move activity back (a stale timestamp from a slow caller).
                entry.last_active = entry.last_active.max(at);
                true
            }
            None => false,
        }
    }

    /// The reap TTL and every registered worker as of `now`, by pid.
    pub(crate) fn list(&self, now: Instant) -> (Duration, Vec<Registered>) {
        let registry = self.lock();
        let reap_ttl = registry.reap_ttl;
        let mut workers: Vec<Registered> = registry
            .entries
            .iter()
            .map(|(pid, entry)| Registered {
                pid: *pid,
                name: entry.name.clone(),
                idle: now.saturating_duration_since(entry.last_active),
            })
            .collect();
        drop(registry);
        workers.sort_unstable_by_key(|w| w.pid);
        (reap_ttl, workers)
    }

    /// The registry; a panic elsewhere while holding it cannot leave it
    /// inconsistent (every critical section is one map operation), so a
    /// poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a worker idle for `idle` is a zombie under `reap_ttl`: idle for
/// longer than the TTL while its process still runs.
pub(crate) fn is_zombie(idle: Duration, reap_ttl: Duration, running: bool) -> bool {
    running && idle > reap_ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tracks_idle_time_per_worker() {
        let t0 = Instant::now();
        let workers = Workers::new();
        workers.register_at(20, Free::new("slot-2"), t0);
        workers.register_at(10, Free::new("slot-1"), t0);
        assert!(workers.mark_active_at(10, t0 + Duration::from_secs(30)));
        assert!(!workers.mark_active_at(99, t0), "unknown pid");
        let (ttl, list) = workers.list(t0 + Duration::from_secs(40));
        assert_eq!(ttl, DEFAULT_REAP_TTL);
        assert_eq!(
            list,
            vec![
                Registered {
                    pid: 10,
                    name: Free::new("slot-1"),
                    idle: Duration::from_secs(10),
                },
                Registered {
                    pid: 20,
                    name: Free::new("slot-2"),
                    idle: Duration::from_secs(40),
                },
            ]
        );
    }

    #[test]
    fn activity_never_moves_back() {
        let t0 = Instant::now();
        let workers = Workers::new();
        workers.register_at(1, Free::new("a"), t0 + Duration::from_secs(5));
        workers.mark_active_at(1, t0);
        let (_, list) = workers.list(t0 + Duration::from_secs(6));
        assert_eq!(list[0].idle, Duration::from_secs(1));
    }

    #[test]
    fn clones_share_the_registry() {
        let workers = Workers::new().with_reap_ttl(Duration::from_secs(7));
        let clone = workers.clone();
        clone.register(5, "");
        assert_eq!(workers.len(), 1);
        assert_eq!(workers.reap_ttl(), Duration::from_secs(7));
        let (_, list) = workers.list(Instant::now());
        assert_eq!(list[0].name.as_str(), "unknown");
        assert!(workers.unregister(5));
        assert!(!clone.unregister(5));
        assert!(clone.is_empty());
    }

    #[test]
    fn zombies_are_idle_past_the_ttl_and_still_running() {
        let ttl = Duration::from_secs(60);
        assert!(!is_zombie(Duration::from_secs(60), ttl, true), "at the TTL");
        assert!(is_zombie(Duration::from_secs(61), ttl, true));
        assert!(!is_zombie(Duration::from_secs(61), ttl, false), "exited");
        assert!(!is_zombie(Duration::ZERO, ttl, true));
    }
}

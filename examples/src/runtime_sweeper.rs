//! The `runtime_sweeper` example's daemon, simulated in memory: runtimes
//! that heartbeat, tasks in `queued`/`dispatched`/`running`, and the sweep
//! that keeps both honest.
//!
//! It is the Go daemon's 30-second sweeper rebuilt on Vigil. One sweep
//! ([`Daemon::sweep`]), in order:
//!
//! 1. marks runtimes offline whose heartbeat is stale, asking the fast
//!    liveness store first and trusting the durable last-seen time when the
//!    store errors ([`vigil::liveness::Liveness::evaluate`]);
//! 2. fails tasks stuck `dispatched` or `running` past their timeouts;
//! 3. expires `queued` tasks past their TTL, at most [`Settings::expire_cap`]
//!    per sweep ([`vigil::sweep::BatchCap`]);
//! 4. garbage-collects runtimes offline for longer than the retention
//!    (7 days in production).
//!
//! Each step is a lifecycle transition with a typed operation and a typed
//! `reason`, and each item is counted on the sweeper by outcome. The fast
//! store is [`FlakyStore`], a [`vigil::liveness::InMemoryStore`] that fails
//! every other lookup, so the durable fallback is exercised on every second
//! sweep. The "database" is the map of runtimes and tasks; it never fails
//! here.
//!
//! Not simulated: dispatching tasks, runtimes coming back after being marked
//! offline, and leader election between daemons.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use vigil::lifecycle::{BoundTransition, Lifecycle, Outcome};
use vigil::liveness::Liveness;
use vigil::sweep::{BatchCap, Items};

mod labels;
mod store;

pub use labels::{Reason, RuntimeOp, RuntimeState, Swept, TaskOp, TaskState};
pub use store::FlakyStore;

/// Who makes the sweep's transitions (their `origin`).
const SWEEPER: &str = "sweeper";
/// Who makes registrations.
const HEARTBEAT: &str = "heartbeat";

/// Timings and limits of the daemon.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Time between sweeps.
    pub sweep_every: Duration,
    /// Time between heartbeats of each runtime.
    pub heartbeat_every: Duration,
    /// Every this many heartbeats also update the durable last-seen time.
    pub durable_every: u64,
    /// A runtime not seen for longer than this is stale.
    pub stale_after: Duration,
    /// Offline runtimes are deleted after this long.
    pub offline_retention: Duration,
    /// Tasks dispatched for longer than this fail.
    pub dispatch_timeout: Duration,
    /// Tasks running for longer than this fail.
    pub run_timeout: Duration,
    /// Tasks queued for longer than this expire.
    pub queue_ttl: Duration,
    /// Most queued tasks expired per sweep.
    pub expire_cap: BatchCap,
}

impl Settings {
    /// The Go daemon's values.
    pub fn production() -> Self {
        Settings {
            sweep_every: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(10),
            durable_every: 3,
            stale_after: Duration::from_secs(90),
            offline_retention: Duration::from_secs(7 * 24 * 3600),
            dispatch_timeout: Duration::from_secs(120),
            run_timeout: Duration::from_secs(1800),
            queue_ttl: Duration::from_secs(600),
            expire_cap: BatchCap::new(5),
        }
    }

    /// The short-running mode: the crashed runtime is marked offline on the
    /// second sweep (~1 s) and collected ~3 s later. Task timeouts stay as in
    /// production: the seeded stuck tasks are far past them anyway.
    pub fn short() -> Self {
        Settings {
            sweep_every: Duration::from_secs(1),
            heartbeat_every: Duration::from_millis(100),
            durable_every: 2,
            stale_after: Duration::from_millis(800),
            offline_retention: Duration::from_millis(2500),
            ..Settings::production()
        }
    }
}

// === impl Daemon ===

/// A runtime row in the "database".
#[derive(Debug)]
struct Runtime {
    state: RuntimeState,
    durable_last_seen: Option<SystemTime>,
    offline_since: Option<SystemTime>,
    /// Heartbeats it still sends before crashing (`None`: never crashes).
    beats_left: Option<u32>,
}

/// A task row in the "database".
#[derive(Debug)]
struct Task {
    state: TaskState,
    /// When it entered `state`.
    since: SystemTime,
}

/// The daemon: its tables, the liveness rule and the instruments.
pub struct Daemon {
    settings: Settings,
    liveness: Liveness<FlakyStore>,
    runtimes: Mutex<BTreeMap<String, Runtime>>,
    tasks: Mutex<Vec<Task>>,
    beats: AtomicU64,
    runtime_lc: Lifecycle<RuntimeOp, RuntimeState, Reason>,
    task_lc: Lifecycle<TaskOp, TaskState, Reason>,
    register: BoundTransition,
    mark_offline: BoundTransition,
    gc: BoundTransition,
    dispatch_timeout: BoundTransition,
    run_timeout: BoundTransition,
    expire: BoundTransition,
}

impl Daemon {
    /// An empty daemon. Its instruments take the namespace given to
    /// `vigil::builder()`; every transition series is bound here, so each
    /// exists (at 0) from the first export.
    pub fn new(settings: Settings) -> Self {
        let liveness = Liveness::builder("runtime", FlakyStore::new(2))
            .with_stale_after(settings.stale_after)
            .build();
        let runtime_lc = Lifecycle::builder("runtime")
            .with_labels::<Reason>()
            .build();
        let task_lc = Lifecycle::builder("task").with_labels::<Reason>().build();
        let rt = |op, origin, reason: Reason| runtime_lc.bind(op, origin, reason);
        let task = |op, reason: Reason| task_lc.bind(op, SWEEPER, reason);
        Daemon {
            register: rt(RuntimeOp::Register, HEARTBEAT, Reason::FirstHeartbeat),
            mark_offline: rt(RuntimeOp::MarkOffline, SWEEPER, Reason::StaleHeartbeat),
            gc: rt(RuntimeOp::Gc, SWEEPER, Reason::OfflineRetention),
            dispatch_timeout: task(TaskOp::FailTask, Reason::DispatchTimeout),
            run_timeout: task(TaskOp::FailTask, Reason::RunTimeout),
            expire: task(TaskOp::ExpireTask, Reason::QueueTtl),
            settings,
            liveness,
            runtimes: Mutex::new(BTreeMap::new()),
            tasks: Mutex::new(Vec::new()),
            beats: AtomicU64::new(0),
            runtime_lc,
            task_lc,
        }
    }

    /// The daemon's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the daemon finds at start-up: runtimes `rt-1`..`rt-4` about to
    /// heartbeat (`rt-4` crashes after its first), `rt-0` offline since
    /// before the retention; two tasks stuck dispatched and one stuck
    /// running, one healthy of each; twelve queued tasks past the TTL and
    /// three fresh ones.
    pub fn seed(&self, now: SystemTime) {
        let s = &self.settings;
        let gone = ago(now, s.offline_retention + Duration::from_secs(3600));
        let mut runtimes = self.runtimes();
        runtimes.insert(
            "rt-0".into(),
            Runtime {
                state: RuntimeState::Offline,
                durable_last_seen: Some(ago(gone, s.stale_after)),
                offline_since: Some(gone),
                beats_left: Some(0),
            },
        );
        self.runtime_lc
            .move_state(None, Some(RuntimeState::Offline), ());
        for (id, beats_left) in [
            ("rt-1", None),
            ("rt-2", None),
            ("rt-3", None),
            ("rt-4", Some(1)),
        ] {
            runtimes.insert(
                id.into(),
                Runtime {
                    state: RuntimeState::Online,
                    durable_last_seen: None,
                    offline_since: None,
                    beats_left,
                },
            );
            self.register.count(Outcome::Success);
            self.runtime_lc
                .move_state(None, Some(RuntimeState::Online), ());
        }
        drop(runtimes);

        let mut tasks = self.tasks();
        let seeded = [
            (TaskState::Dispatched, ago(now, s.dispatch_timeout * 5), 2),
            (TaskState::Dispatched, now, 1),
            (TaskState::Running, ago(now, s.run_timeout * 4), 1),
            (TaskState::Running, now, 1),
            (TaskState::Queued, ago(now, s.queue_ttl * 6), 12),
            (TaskState::Queued, now, 3),
        ];
        for (state, since, n) in seeded {
            for _ in 0..n {
                tasks.push(Task { state, since });
                self.task_lc.move_state(None, Some(state), ());
            }
        }
    }

    /// One heartbeat from every runtime still running: into the fast store
    /// always, into the durable record every `durable_every` beats.
    pub async fn heartbeat(&self, now: SystemTime) {
        let beat = self.beats.fetch_add(1, Ordering::Relaxed);
        let durable = beat
            .checked_rem(self.settings.durable_every)
            .is_none_or(|r| r == 0);
        let alive: Vec<String> = {
            let mut runtimes = self.runtimes();
            let mut alive = Vec::new();
            for (id, rt) in runtimes.iter_mut() {
                match &mut rt.beats_left {
                    Some(0) => continue,
                    Some(n) => *n -= 1,
                    None => {}
                }
                if durable {
                    rt.durable_last_seen = Some(now);
                }
                alive.push(id.clone());
            }
            alive
        };
        for id in alive {
            if let Err(error) = self.liveness.heartbeat(&id, now).await {
                tracing::warn!(%id, %error, "heartbeat not stored");
            }
        }
    }

    /// One sweep at `now`; see the module docs for the steps.
    pub async fn sweep(&self, now: SystemTime) -> Result<Items<Swept>, Infallible> {
        let mut items = Items::new();
        self.mark_stale_offline(now, &mut items).await;
        self.fail_stuck_tasks(now, &mut items);
        self.expire_queued_tasks(now, &mut items);
        self.collect_offline_runtimes(now, &mut items);
        Ok(items)
    }

    async fn mark_stale_offline(&self, now: SystemTime, items: &mut Items<Swept>) {
        let population: Vec<(String, Option<SystemTime>)> = self
            .runtimes()
            .iter()
            .map(|(id, rt)| (id.clone(), rt.durable_last_seen))
            .collect();
        let seen = self.liveness.evaluate(population, now).await;
        let mut runtimes = self.runtimes();
        for id in seen.stale {
            let Some(rt) = runtimes.get_mut(&id) else {
                continue;
            };
            if rt.state != RuntimeState::Online {
                continue;
            }
            let started = Instant::now();
            rt.state = RuntimeState::Offline;
            rt.offline_since = Some(now);
            self.runtime_lc
                .move_state(Some(RuntimeState::Online), Some(RuntimeState::Offline), ());
            self.mark_offline
                .record(Outcome::Success, started.elapsed());
            items.add(Swept::MarkedOffline, 1);
            tracing::info!(%id, "runtime marked offline: stale heartbeat");
        }
    }

    fn fail_stuck_tasks(&self, now: SystemTime, items: &mut Items<Swept>) {
        let s = &self.settings;
        self.tasks().retain(|task| {
            let started = Instant::now();
            let age = age(now, task.since);
            let transition = match task.state {
                TaskState::Dispatched if age > s.dispatch_timeout => &self.dispatch_timeout,
                TaskState::Running if age > s.run_timeout => &self.run_timeout,
                _ => return true,
            };
            self.task_lc.move_state(Some(task.state), None, ());
            transition.record(Outcome::Success, started.elapsed());
            items.add(Swept::Failed, 1);
            false
        });
    }

    fn expire_queued_tasks(&self, now: SystemTime, items: &mut Items<Swept>) {
        let ttl = self.settings.queue_ttl;
        let mut tasks = self.tasks();
        let past_ttl = |t: &Task| t.state == TaskState::Queued && age(now, t.since) > ttl;
        let backlog = tasks.iter().filter(|t| past_ttl(t)).count() as u64;
        let batch = self.settings.expire_cap.take(backlog);
        let mut left = batch.take();
        tasks.retain(|task| {
            if left == 0 || !past_ttl(task) {
                return true;
            }
            let started = Instant::now();
            left -= 1;
            self.task_lc.move_state(Some(TaskState::Queued), None, ());
            self.expire.record(Outcome::Success, started.elapsed());
            false
        });
        items.add(Swept::Expired, batch.take());
        items.record_batch(batch);
    }

    fn collect_offline_runtimes(&self, now: SystemTime, items: &mut Items<Swept>) {
        let retention = self.settings.offline_retention;
        let mut gone = Vec::new();
        self.runtimes().retain(|id, rt| {
            let expired = rt.state == RuntimeState::Offline
                && rt
                    .offline_since
                    .is_some_and(|since| age(now, since) > retention);
            if expired {
                gone.push(id.clone());
            }
            !expired
        });
        for id in gone {
            let started = Instant::now();
            self.liveness.store().forget(&id);
            self.runtime_lc
                .move_state(Some(RuntimeState::Offline), None, ());
            self.gc.record(Outcome::Success, started.elapsed());
            items.add(Swept::Collected, 1);
            tracing::info!(%id, "offline runtime collected");
        }
    }

    fn runtimes(&self) -> MutexGuard<'_, BTreeMap<String, Runtime>> {
        self.runtimes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<Task>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `now - d`, or the epoch if that is before it.
fn ago(now: SystemTime, d: Duration) -> SystemTime {
    now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// How long ago `then` was; zero if in the future.
fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

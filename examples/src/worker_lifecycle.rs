//! The simulated worker pool behind the `worker_lifecycle` example: spawn,
//! activate, drain, retire and health-check workers of two images, with
//! failures injected at every stage by a seeded PRNG, recorded as a Go
//! control plane's worker observability recorded them (the `duckgres_*`
//! families of DESIGN.md).
//!
//! The pool is a model, not a scheduler: time is counted in ticks, each
//! tick's events are drawn from [`XorShift`], and nothing here reads the
//! clock. The same seed and the same number of ticks always record the same
//! measurements, which is what makes the example usable from tests. The
//! example drives [`Pool::tick`] from a timer.
//!
//! What it records, and why each is not something the SDK could do for it:
//!
//! | Prometheus family (namespace `duckgres`) | from |
//! |---|---|
//! | `worker_lifecycle_transitions_total{operation,outcome,image,origin}`, `worker_lifecycle_transition_duration_seconds{operation}`, `worker_lifecycle_count{state,image,binding}` | [`vigil::lifecycle`] |
//! | `worker_health_checks_total{result,image}` | a typed counter (see [`Instruments`] for why not [`vigil::health::HealthChecker`]) |
//! | `worker_drain_total_duration_seconds`, `worker_spawn_failures_total{reason,image}`, `worker_stranded_pods_reconciled_total{outcome}`, `activation_duration_seconds{image}`, `activation_failures_total{image}`, `warm_capacity_misses_total{image,reason}`, `warm_capacity_effective_target{image}`, `warm_capacity_headroom` | plain OTel instruments behind [`vigil::labels`] typed label sets |
//!
//! Leader-only figures (the state counts and the warm-capacity gauges) are
//! published only while the [`Lease`] stand-in says this replica leads, and
//! reset to [`NOT_LEADER`] when it stops leading.

use std::fmt;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Gauge, Meter};
use vigil::health::CheckResult;
use vigil::labels::{BoundCounters, BoundHistograms, Label};
use vigil::lifecycle::{Lifecycle, Outcome};

/// The metric namespace: `duckgres.worker.…` → `duckgres_worker_…`.
pub const NAMESPACE: &str = "duckgres";
/// Wall time per tick when the example runs; durations below are in ticks.
pub const TICK: Duration = Duration::from_millis(100);
/// The PRNG seed the example uses.
pub const SEED: u64 = 0x5EED_D0C6_2E55;
/// What leader-only gauges and counts read while this replica does not lead.
///
/// 0 rather than -1: a follower's 0 keeps `sum by (image)` over all replicas
/// equal to the leader's figures, and headroom can be legitimately negative,
/// so -1 would not be a distinguishable sentinel for it anyway.
pub const NOT_LEADER: i64 = 0;

/// Most workers the pool runs at once; a miss beyond it is `at_capacity`.
const MAX_WORKERS: usize = 10;
/// Ticks between health rounds and between stranded-pod reconciliations.
const HEALTH_EVERY: u64 = 5;
const RECONCILE_EVERY: u64 = 10;
/// Failed health checks in a row that make a worker lost.
const HEALTH_THRESHOLD: u32 = 2;

vigil::label! {
    /// Worker images: a fixed set, so `image` is a typed label here.
    pub enum Image = "image" {
        /// The current release, most sessions.
        Stable = "duckgres-worker:1.4",
        /// A release candidate taking a share of sessions.
        Canary = "duckgres-worker:1.5-rc1",
    }
}

vigil::label! {
    /// Lifecycle operations.
    pub enum Op = "operation" {
        /// Create a worker pod and wait for it to be ready.
        Spawn = "spawn",
        /// Bind a warm worker to a client session.
        Activate = "activate",
        /// Stop taking queries and let the session finish.
        Drain = "drain",
        /// Delete the pod.
        Retire = "retire",
    }
}

vigil::label! {
    /// Lifecycle states, for `worker_lifecycle_count`.
    pub enum State = "state" {
        /// Pod created, not ready.
        Spawning = "spawning",
        /// Warm, waiting for a session.
        Idle = "idle",
        /// Serving a session.
        Active = "active",
        /// Finishing before retirement.
        Draining = "draining",
    }
}

vigil::label! {
    /// Whether a worker is bound to a client session.
    pub enum Binding = "binding" {
        /// Warm or spawning: any session may take it.
        Unbound = "unbound",
        /// Serving (or draining after) one session.
        Bound = "bound",
    }
}

vigil::label! {
    /// The spawn stage that failed.
    pub enum SpawnFailure = "reason" {
        /// The image could not be pulled.
        ImagePull = "image_pull",
        /// No node could take the pod.
        Scheduling = "scheduling",
        /// The worker never became ready.
        StartupTimeout = "startup_timeout",
    }
}

vigil::label! {
    /// Why a session found no warm worker.
    pub enum MissReason = "reason" {
        /// None idle for its image; one is spawned on demand.
        NoIdleWorker = "no_idle_worker",
        /// None idle, and the pool is at its worker limit.
        AtCapacity = "at_capacity",
    }
}

vigil::label! {
    /// What happened to a stranded pod (one a failed spawn or retire left behind).
    pub enum Reconciled = "outcome" {
        /// Deleted.
        Deleted = "deleted",
        /// Deletion failed; tried again next round.
        Failed = "failed",
    }
}

/// Where a transition came from (the free-form `origin` label).
mod origin {
    /// The autoscaler keeping the warm target.
    pub(super) const POOL: &str = "pool";
    /// A session that found no warm worker.
    pub(super) const DEMAND: &str = "demand";
    /// A client session starting or ending.
    pub(super) const SESSION: &str = "session";
    /// Failed health checks.
    pub(super) const HEALTH: &str = "health";
}

// === PRNG ===

/// xorshift64: small, seedable, and the same on every platform, which is all
/// a fault injector needs (no `rand` crate).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`; 0 (xorshift's fixed point) is replaced.
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi.saturating_sub(lo)).checked_add(1) {
            Some(span) if hi >= lo => lo + self.next_u64() % span,
            _ => lo,
        }
    }

    /// One of a label's values.
    pub fn pick<L: Label>(&mut self) -> L {
        let i = self.between(0, L::VALUES.len().saturating_sub(1) as u64) as usize;
        L::VALUES.get(i).copied().unwrap_or_else(|| L::VALUES[0])
    }
}

// === Leader election stand-in ===

/// A stand-in for a leader-election lease: this replica leads from the
/// start, loses the lease at tick `first_loss` for `outage` ticks, and again
/// every `period` ticks after that.
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    /// Tick of the first loss.
    pub first_loss: u64,
    /// Ticks without the lease each time.
    pub outage: u64,
    /// Ticks between losses.
    pub period: u64,
}

impl Lease {
    /// Lost at 3 s for 1 s, then every minute: once in an 8 s short run.
    pub const EXAMPLE: Lease = Lease {
        first_loss: 30,
        outage: 10,
        period: 600,
    };

    /// Whether this replica leads at `tick`.
    pub fn is_leader(&self, tick: u64) -> bool {
        match tick.checked_sub(self.first_loss) {
            None => true,
            Some(since) => since % self.period.max(1) >= self.outage,
        }
    }
}

// === Instruments ===

/// Every instrument of the inventory.
///
/// The health checks are a typed counter rather than a
/// [`vigil::health::HealthChecker`]: the checker also exports
/// `worker_health_consecutive_failures` and `worker_health_status`, which
/// this inventory does not have, and it probes on its own timer, where this
/// model needs checks drawn from its PRNG at known ticks. The counter has
/// the checker's name, unit and labels (`{ns}.worker.health.checks`,
/// `{check}`, `result` from [`CheckResult`] plus `image`).
pub struct Instruments {
    /// Transitions, their durations, and the state counts.
    pub lifecycle: Lifecycle<Op, State, Image, (Image, Binding)>,
    drain_total: BoundHistograms<()>,
    spawn_failures: BoundCounters<(SpawnFailure, Image)>,
    health_checks: BoundCounters<(CheckResult, Image)>,
    stranded: BoundCounters<Reconciled>,
    activation_duration: BoundHistograms<Image>,
    activation_failures: BoundCounters<Image>,
    misses: BoundCounters<(Image, MissReason)>,
    effective_target: Gauge<i64>,
    headroom: Gauge<i64>,
    image_attrs: Vec<[KeyValue; 1]>,
}

impl Instruments {
    /// Create the instruments from `meter`, named under `namespace`.
    pub fn new(meter: &Meter, namespace: &str) -> Self {
        let name = |suffix: &str| format!("{namespace}.{suffix}");
        let lifecycle = Lifecycle::builder("worker")
            .with_meter(meter.clone())
            .with_namespace(namespace)
            .with_labels::<Image>()
            .with_count_labels::<(Image, Binding)>()
            .build();
        let counter = |suffix: &str, unit: &'static str, description: &'static str| {
            meter
                .u64_counter(name(suffix))
                .with_unit(unit)
                .with_description(description)
                .build()
        };
        let histogram = |suffix: &str, description: &'static str| {
            // Seconds, so the seconds boundaries (the SDK's default ones are milliseconds).
            meter
                .f64_histogram(name(suffix))
                .with_unit("s")
                .with_boundaries(vigil::views::SECONDS_BOUNDARIES.to_vec())
                .with_description(description)
                .build()
        };
        let gauge = |suffix: &str, description: &'static str| {
            meter
                .i64_gauge(name(suffix))
                .with_unit("{worker}")
                .with_description(description)
                .build()
        };
        let instruments = Instruments {
            lifecycle,
            drain_total: BoundHistograms::new(histogram(
                "worker.drain.total.duration",
                "Time from the start of a drain to the worker's retirement.",
            )),
            spawn_failures: BoundCounters::new(counter(
                "worker.spawn.failures",
                "{failure}",
                "Failed spawns, by the stage that failed.",
            )),
            health_checks: BoundCounters::new(counter(
                "worker.health.checks",
                "{check}",
                "Health checks of workers, by result.",
            )),
            stranded: BoundCounters::new(counter(
                "worker.stranded_pods.reconciled",
                "{pod}",
                "Stranded pods the reconciler dealt with, by outcome.",
            )),
            activation_duration: BoundHistograms::new(histogram(
                "activation.duration",
                "Time to bind a warm worker to a session.",
            )),
            activation_failures: BoundCounters::new(counter(
                "activation.failures",
                "{failure}",
                "Activations that failed.",
            )),
            misses: BoundCounters::new(counter(
                "warm_capacity.misses",
                "{miss}",
                "Sessions that found no warm worker, by reason.",
            )),
            effective_target: gauge(
                "warm_capacity.effective_target",
                "Warm workers the pool aims to keep, per image (leader only).",
            ),
            headroom: gauge(
                "warm_capacity.headroom",
                "Idle workers beyond the effective targets; negative when short (leader only).",
            ),
            image_attrs: Image::VALUES
                .iter()
                .map(|i| [KeyValue::new(Image::KEY, i.as_str())])
                .collect(),
        };
        instruments.precreate();
        instruments
    }

    /// Every counter series exists at 0 from the start: the label sets are
    /// bounded, and `rate()` over a series that appears late misses its
    /// first increments.
    fn precreate(&self) {
        for image in Image::VALUES.iter().copied() {
            for reason in SpawnFailure::VALUES.iter().copied() {
                self.spawn_failures.add((reason, image), 0);
            }
            for result in CheckResult::VALUES.iter().copied() {
                self.health_checks.add((result, image), 0);
            }
            for reason in MissReason::VALUES.iter().copied() {
                self.misses.add((image, reason), 0);
            }
            self.activation_failures.add(image, 0);
        }
        for outcome in Reconciled::VALUES.iter().copied() {
            self.stranded.add(outcome, 0);
        }
    }

    fn image_attrs(&self, image: Image) -> &[KeyValue] {
        self.image_attrs
            .get(image.index())
            .map_or(&[][..], |a| &a[..])
    }
}

// === Pool ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Spawning { started: u64, ready_at: u64 },
    Idle,
    Active { until: u64 },
    Draining { started: u64, done_at: u64 },
}

#[derive(Clone, Debug)]
struct Worker {
    image: Image,
    phase: Phase,
    binding: Binding,
    /// What started the operation in flight (the `origin` it is counted with).
    origin: &'static str,
    health_failures: u32,
}

impl Worker {
    fn state(&self) -> State {
        match self.phase {
            Phase::Spawning { .. } => State::Spawning,
            Phase::Idle => State::Idle,
            Phase::Active { .. } => State::Active,
            Phase::Draining { .. } => State::Draining,
        }
    }
}

/// Totals since start, for the example's status lines and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Transitions by [`Op`] index and [`Outcome`] index.
    pub transitions: [[u64; 3]; 4],
    /// Sessions that found no warm worker.
    pub misses: u64,
    /// Health checks that failed.
    pub health_failures: u64,
    /// Stranded pods deleted.
    pub reconciled: u64,
    /// Leadership losses.
    pub leadership_losses: u64,
}

impl Totals {
    /// Transitions of `op` that ended with `outcome`.
    pub fn count(&self, op: Op, outcome: Outcome) -> u64 {
        self.transitions
            .get(op.index())
            .and_then(|o| o.get(outcome.index()))
            .copied()
            .unwrap_or(0)
    }

    fn bump(&mut self, op: Op, outcome: Outcome) {
        if let Some(n) = self
            .transitions
            .get_mut(op.index())
            .and_then(|o| o.get_mut(outcome.index()))
        {
            *n += 1;
        }
    }
}

/// A leadership change seen by [`Pool::tick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// This replica lost the lease: leader-only figures were reset.
    Lost,
    /// This replica leads again: leader-only figures were republished.
    Regained,
}

/// The simulated pool; see the module docs.
pub struct Pool {
    m: Instruments,
    rng: XorShift,
    lease: Lease,
    tick: u64,
    workers: Vec<Worker>,
    stranded: u64,
    /// Recent misses per image, raising its warm target; halves every 20 ticks.
    demand: [u64; 2],
    leader: bool,
    totals: Totals,
}

impl Pool {
    /// A pool recording into `instruments`, drawing faults from `seed`.
    pub fn new(instruments: Instruments, seed: u64, lease: Lease) -> Self {
        Pool {
            m: instruments,
            rng: XorShift::new(seed),
            lease,
            tick: 0,
            workers: Vec::new(),
            stranded: 0,
            demand: [0; 2],
            leader: true,
            totals: Totals::default(),
        }
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// Totals since start.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Advance one tick; returns a leadership change if one happened.
    pub fn tick(&mut self) -> Option<Leadership> {
        let now = self.tick;
        let change = self.follow_lease(now);
        self.finish_spawns(now);
        self.end_sessions(now);
        self.finish_drains(now);
        self.serve_sessions(now);
        if self.leader {
            if now.is_multiple_of(HEALTH_EVERY) {
                self.health_round();
            }
            if now % RECONCILE_EVERY == RECONCILE_EVERY - 1 {
                self.reconcile_stranded();
            }
            if now % 20 == 19 {
                self.demand = self.demand.map(|d| d / 2);
            }
            self.autoscale(now);
            self.publish();
        }
        self.tick += 1;
        change
    }

    /// Shutting down: operations in flight are counted as cancelled, never
    /// as failures. Returns how many were cancelled.
    pub fn shutdown(&mut self) -> usize {
        let mut cancelled = 0;
        for w in std::mem::take(&mut self.workers) {
            let op = match w.phase {
                Phase::Spawning { .. } => Op::Spawn,
                Phase::Draining { .. } => Op::Drain,
                Phase::Idle | Phase::Active { .. } => continue,
            };
            self.transition(op, Outcome::Cancelled, w.origin, w.image, None);
            cancelled += 1;
        }
        cancelled
    }

    /// One line on the pool's state.
    pub fn status(&self) -> String {
        let mut by_state = [0usize; 4];
        for w in &self.workers {
            if let Some(n) = by_state.get_mut(w.state().index()) {
                *n += 1;
            }
        }
        let t = &self.totals;
        format!(
            "t={:>5.1}s {:8} spawning {} idle {} active {} draining {} stranded {} | spawned {} (failed {}) activated {} (failed {}) retired {} misses {} health failures {}",
            self.tick as f64 * TICK.as_secs_f64(),
            if self.leader { "leader" } else { "follower" },
            by_state[0],
            by_state[1],
            by_state[2],
            by_state[3],
            self.stranded,
            t.count(Op::Spawn, Outcome::Success),
            t.count(Op::Spawn, Outcome::Failure),
            t.count(Op::Activate, Outcome::Success),
            t.count(Op::Activate, Outcome::Failure),
            t.count(Op::Retire, Outcome::Success),
            t.misses,
            t.health_failures,
        )
    }

    // --- steps of a tick ---

    fn follow_lease(&mut self, now: u64) -> Option<Leadership> {
        let leader = self.lease.is_leader(now);
        if leader == self.leader {
            return None;
        }
        self.leader = leader;
        if leader {
            self.publish();
            Some(Leadership::Regained)
        } else {
            // The counts and targets are the leader's to publish: stop
            // claiming them before the new leader starts.
            self.m.lifecycle.reset_counts(NOT_LEADER);
            for image in Image::VALUES.iter().copied() {
                self.m
                    .effective_target
                    .record(NOT_LEADER, self.m.image_attrs(image));
            }
            self.m.headroom.record(NOT_LEADER, &[]);
            self.totals.leadership_losses += 1;
            Some(Leadership::Lost)
        }
    }

    fn finish_spawns(&mut self, now: u64) {
        let mut i = 0;
        while let Some(w) = self.workers.get(i) {
            let Phase::Spawning { started, ready_at } = w.phase else {
                i += 1;
                continue;
            };
            if ready_at > now {
                i += 1;
                continue;
            }
            let (image, origin) = (w.image, w.origin);
            let took = self.ticks_to_duration(now - started);
            if self.rng.chance(0.12) {
                let reason: SpawnFailure = self.rng.pick();
                self.m.spawn_failures.add((reason, image), 1);
                self.transition(Op::Spawn, Outcome::Failure, origin, image, Some(took));
                // A pod that was scheduled but never became ready may be left behind.
                if reason != SpawnFailure::ImagePull && self.rng.chance(0.5) {
                    self.stranded += 1;
                }
                self.workers.swap_remove(i);
                continue;
            }
            self.transition(Op::Spawn, Outcome::Success, origin, image, Some(took));
            if let Some(w) = self.workers.get_mut(i) {
                w.phase = Phase::Idle;
            }
            i += 1;
        }
    }

    fn end_sessions(&mut self, now: u64) {
        for w in &mut self.workers {
            if matches!(w.phase, Phase::Active { until } if until <= now) {
                w.phase = Phase::Draining {
                    started: now,
                    done_at: now + self.rng.between(2, 4),
                };
                w.origin = origin::SESSION;
            }
        }
    }

    fn finish_drains(&mut self, now: u64) {
        let mut i = 0;
        while let Some(w) = self.workers.get(i) {
            let Phase::Draining { started, done_at } = w.phase else {
                i += 1;
                continue;
            };
            if done_at > now {
                i += 1;
                continue;
            }
            let (image, origin) = (w.image, w.origin);
            let drained = self.ticks_to_duration(now - started);
            // A drain that times out still ends in retirement: forced.
            let drain = if self.rng.chance(0.05) {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            self.transition(Op::Drain, drain, origin, image, Some(drained));
            let retire_took = Duration::from_millis(self.rng.between(20, 150));
            let retire = if self.rng.chance(0.06) {
                // The pod could not be deleted: the reconciler will find it.
                self.stranded += 1;
                Outcome::Failure
            } else {
                Outcome::Success
            };
            self.transition(Op::Retire, retire, origin, image, Some(retire_took));
            self.m
                .drain_total
                .record((), (drained + retire_took).as_secs_f64());
            self.workers.swap_remove(i);
        }
    }

    fn serve_sessions(&mut self, now: u64) {
        let sessions = match self.rng.unit() {
            u if u < 0.10 => 2,
            u if u < 0.40 => 1,
            _ => 0,
        };
        for _ in 0..sessions {
            let image = if self.rng.chance(0.75) {
                Image::Stable
            } else {
                Image::Canary
            };
            self.activate(now, image);
        }
    }

    fn activate(&mut self, now: u64, image: Image) {
        let idle = self
            .workers
            .iter()
            .position(|w| w.image == image && w.phase == Phase::Idle);
        let Some(i) = idle else {
            let at_capacity = self.workers.len() >= MAX_WORKERS;
            let reason = if at_capacity {
                MissReason::AtCapacity
            } else {
                MissReason::NoIdleWorker
            };
            self.m.misses.add((image, reason), 1);
            self.totals.misses += 1;
            if let Some(d) = self.demand.get_mut(image.index()) {
                *d += 1;
            }
            // Spawning is the leader's job; a follower only counts the miss.
            if self.leader && !at_capacity {
                self.spawn(now, image, origin::DEMAND);
            }
            return;
        };
        let took = Duration::from_millis(self.rng.between(5, 120));
        if self.rng.chance(0.07) {
            // A worker that cannot be bound is drained and replaced.
            self.m.activation_failures.add(image, 1);
            self.transition(
                Op::Activate,
                Outcome::Failure,
                origin::SESSION,
                image,
                Some(took),
            );
            let done_at = now + self.rng.between(1, 2);
            if let Some(w) = self.workers.get_mut(i) {
                w.phase = Phase::Draining {
                    started: now,
                    done_at,
                };
                w.origin = origin::SESSION;
            }
            return;
        }
        self.m.activation_duration.record(image, took.as_secs_f64());
        self.transition(
            Op::Activate,
            Outcome::Success,
            origin::SESSION,
            image,
            Some(took),
        );
        let until = now + self.rng.between(3, 15);
        if let Some(w) = self.workers.get_mut(i) {
            w.phase = Phase::Active { until };
            w.binding = Binding::Bound;
        }
    }

    fn health_round(&mut self) {
        let mut i = 0;
        while let Some(w) = self.workers.get(i) {
            if !matches!(w.phase, Phase::Idle | Phase::Active { .. }) {
                i += 1;
                continue;
            }
            let image = w.image;
            let result = if self.rng.chance(0.06) {
                CheckResult::Fail
            } else {
                CheckResult::Pass
            };
            self.m.health_checks.add((result, image), 1);
            let Some(w) = self.workers.get_mut(i) else {
                break;
            };
            if result == CheckResult::Pass {
                w.health_failures = 0;
                i += 1;
                continue;
            }
            w.health_failures += 1;
            self.totals.health_failures += 1;
            if w.health_failures < HEALTH_THRESHOLD {
                i += 1;
                continue;
            }
            // Lost: retired at once, and its pod may be left behind.
            self.transition(Op::Retire, Outcome::Failure, origin::HEALTH, image, None);
            if self.rng.chance(0.5) {
                self.stranded += 1;
            }
            self.workers.swap_remove(i);
        }
    }

    fn reconcile_stranded(&mut self) {
        for _ in 0..self.stranded {
            if self.rng.chance(0.8) {
                self.m.stranded.add(Reconciled::Deleted, 1);
                self.stranded -= 1;
                self.totals.reconciled += 1;
            } else {
                self.m.stranded.add(Reconciled::Failed, 1);
            }
        }
    }

    /// Keep idle + spawning workers at each image's effective target.
    fn autoscale(&mut self, now: u64) {
        for image in Image::VALUES.iter().copied() {
            let target = self.effective_target(image);
            let warm = self.count(image, |p| matches!(p, Phase::Idle | Phase::Spawning { .. }));
            if warm < target && self.workers.len() < MAX_WORKERS {
                self.spawn(now, image, origin::POOL);
            } else if warm > target + 1 {
                // Scale down one surplus idle worker per tick.
                let surplus = self
                    .workers
                    .iter()
                    .position(|w| w.image == image && w.phase == Phase::Idle);
                let done_at = now + self.rng.between(1, 3);
                if let Some(w) = surplus.and_then(|i| self.workers.get_mut(i)) {
                    w.phase = Phase::Draining {
                        started: now,
                        done_at,
                    };
                    w.origin = origin::POOL;
                }
            }
        }
    }

    /// Publish the leader-only figures from the model.
    fn publish(&self) {
        for state in State::VALUES.iter().copied() {
            for image in Image::VALUES.iter().copied() {
                for binding in Binding::VALUES.iter().copied() {
                    let n = self
                        .workers
                        .iter()
                        .filter(|w| w.state() == state && w.image == image && w.binding == binding)
                        .count();
                    self.m
                        .lifecycle
                        .set_count(state, (image, binding), n as i64);
                }
            }
        }
        let mut headroom = 0i64;
        for image in Image::VALUES.iter().copied() {
            let target = self.effective_target(image) as i64;
            let idle = self.count(image, |p| p == Phase::Idle) as i64;
            headroom += idle - target;
            self.m
                .effective_target
                .record(target, self.m.image_attrs(image));
        }
        self.m.headroom.record(headroom, &[]);
    }

    // --- helpers ---

    fn effective_target(&self, image: Image) -> usize {
        let base = match image {
            Image::Stable => 3,
            Image::Canary => 1,
        };
        let demand = self.demand.get(image.index()).copied().unwrap_or(0);
        base + demand.min(3) as usize
    }

    fn count(&self, image: Image, phase: impl Fn(Phase) -> bool) -> usize {
        self.workers
            .iter()
            .filter(|w| w.image == image && phase(w.phase))
            .count()
    }

    fn spawn(&mut self, now: u64, image: Image, origin: &'static str) {
        let ready_at = now + self.rng.between(2, 5);
        self.workers.push(Worker {
            image,
            phase: Phase::Spawning {
                started: now,
                ready_at,
            },
            binding: Binding::Unbound,
            origin,
            health_failures: 0,
        });
    }

    fn ticks_to_duration(&mut self, ticks: u64) -> Duration {
        TICK * u32::try_from(ticks).unwrap_or(u32::MAX)
            + Duration::from_millis(self.rng.between(0, 99))
    }

    fn transition(
        &mut self,
        op: Op,
        outcome: Outcome,
        origin: &str,
        image: Image,
        took: Option<Duration>,
    ) {
        self.m.lifecycle.record(op, outcome, origin, image, took);
        self.totals.bump(op, outcome);
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("tick", &self.tick)
            .field("workers", &self.workers)
            .field("stranded", &self.stranded)
            .field("leader", &self.leader)
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil::testing::Harness;

    /// Every OTel instrument of the inventory and its attribute keys.
    const INVENTORY: &[(&str, &[&str])] = &[
        (
            "duckgres.worker.lifecycle.count",
            &["binding", "image", "state"],
        ),
        (
            "duckgres.worker.lifecycle.transitions",
            &["image", "operation", "origin", "outcome"],
        ),
        (
            "duckgres.worker.lifecycle.transition.duration",
            &["operation"],
        ),
        ("duckgres.worker.drain.total.duration", &[]),
        ("duckgres.worker.spawn.failures", &["image", "reason"]),
        ("duckgres.worker.health.checks", &["image", "result"]),
        ("duckgres.worker.stranded_pods.reconciled", &["outcome"]),
        ("duckgres.activation.duration", &["image"]),
        ("duckgres.activation.failures", &["image"]),
        ("duckgres.warm_capacity.misses", &["image", "reason"]),
        ("duckgres.warm_capacity.effective_target", &["image"]),
        ("duckgres.warm_capacity.headroom", &[]),
    ];

    fn run(h: &Harness, ticks: u64) -> Pool {
        let mut pool = Pool::new(
            Instruments::new(&h.meter(), NAMESPACE),
            SEED,
            Lease::EXAMPLE,
        );
        for _ in 0..ticks {
            pool.tick();
        }
        pool
    }

    #[test]
    fn every_family_has_data_within_two_seconds_with_exactly_its_label_keys() {
        let h = Harness::new();
        let _pool = run(&h, 20);
        for (name, keys) in INVENTORY {
            let sets = h.series(name);
            assert!(!sets.is_empty(), "{name}: nothing recorded");
            for set in sets {
                let got: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(&got, keys, "{name}");
            }
        }
        assert!(
            h.histogram("duckgres.worker.drain.total.duration", &[])
                .is_some_and(|d| d.count > 0),
            "no drain finished within 2 s"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let (a, b) = (Harness::new(), Harness::new());
        assert_eq!(run(&a, 200).totals(), run(&b, 200).totals());
    }

    #[test]
    fn failures_are_injected_at_every_stage() {
        let h = Harness::new();
        let t = run(&h, 80).totals();
        for op in Op::VALUES.iter().copied() {
            assert!(t.count(op, Outcome::Success) > 0, "{op:?} never succeeded");
            assert!(
                t.count(op, Outcome::Failure) > 0,
                "{op:?} never failed: {t:?}"
            );
        }
        assert!(
            t.misses > 0 && t.health_failures > 0 && t.reconciled > 0,
            "{t:?}"
        );
    }

    #[test]
    fn leader_only_figures_reset_on_leadership_loss_and_return_after() {
        let h = Harness::new();
        let mut pool = Pool::new(
            Instruments::new(&h.meter(), NAMESPACE),
            SEED,
            Lease::EXAMPLE,
        );
        let target = |h: &Harness| {
            h.gauge(
                "duckgres.warm_capacity.effective_target",
                &[("image", Image::Stable.as_str())],
            )
        };
        let mut changes = Vec::new();
        for _ in 0..=Lease::EXAMPLE.first_loss {
            changes.extend(pool.tick());
        }
        assert_eq!(changes, [Leadership::Lost]);
        assert_eq!(target(&h), Some(NOT_LEADER as f64));
        assert_eq!(
            h.gauge("duckgres.warm_capacity.headroom", &[]),
            Some(NOT_LEADER as f64)
        );
        let idle = [
            ("state", "idle"),
            ("image", Image::Stable.as_str()),
            ("binding", "unbound"),
        ];
        assert_eq!(h.gauge("duckgres.worker.lifecycle.count", &idle), Some(0.0));
        for _ in 0..Lease::EXAMPLE.outage {
            changes.extend(pool.tick());
        }
        assert_eq!(changes, [Leadership::Lost, Leadership::Regained]);
        assert!(target(&h).is_some_and(|t| t >= 3.0), "{:?}", target(&h));
    }

    #[test]
    fn shutdown_cancels_operations_in_flight_instead_of_failing_them() {
        let h = Harness::new();
        let mut pool = run(&h, 3);
        let failed_before = pool.totals().count(Op::Spawn, Outcome::Failure);
        let cancelled = pool.shutdown();
        assert!(cancelled > 0);
        assert_eq!(
            pool.totals().count(Op::Spawn, Outcome::Cancelled),
            cancelled as u64
        );
        assert_eq!(
            pool.totals().count(Op::Spawn, Outcome::Failure),
            failed_before
        );
    }

    #[test]
    fn xorshift_stays_in_range() {
        let mut rng = XorShift::new(0);
        for _ in 0..1000 {
            assert!((3..=5).contains(&rng.between(3, 5)));
            assert!((0.0..1.0).contains(&rng.unit()));
        }
        assert_eq!(rng.between(7, 2), 7);
    }
}

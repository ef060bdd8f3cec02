//! The simulated pool and its tick: what happens to workers, and what is recorded.

#[allow(unused_imports)]
use super::*;

/// The simulated pool; see the module docs.
pub struct Pool {
    pub(super) m: Instruments,
    pub(super) rng: XorShift,
    pub(super) lease: Lease,
    pub(super) tick: u64,
    pub(super) workers: Vec<Worker>,
    pub(super) stranded: u64,
    /// Recent misses per image, raising its warm target; halves every 20 ticks.
    pub(super) demand: [u64; 2],
    pub(super) leader: bool,
    pub(super) totals: Totals,
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

    pub(super) fn follow_lease(&mut self, now: u64) -> Option<Leadership> {
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

    pub(super) fn finish_spawns(&mut self, now: u64) {
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

    pub(super) fn end_sessions(&mut self, now: u64) {
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

    pub(super) fn finish_drains(&mut self, now: u64) {
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

    pub(super) fn serve_sessions(&mut self, now: u64) {
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

    pub(super) fn activate(&mut self, now: u64, image: Image) {
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

    pub(super) fn health_round(&mut self) {
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

    pub(super) fn reconcile_stranded(&mut self) {
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
    pub(super) fn autoscale(&mut self, now: u64) {
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
    pub(super) fn publish(&self) {
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

    pub(super) fn effective_target(&self, image: Image) -> usize {
        let base = match image {
            Image::Stable => 3,
            Image::Canary => 1,
        };
        let demand = self.demand.get(image.index()).copied().unwrap_or(0);
        base + demand.min(3) as usize
    }

    pub(super) fn count(&self, image: Image, phase: impl Fn(Phase) -> bool) -> usize {
        self.workers
            .iter()
            .filter(|w| w.image == image && phase(w.phase))
            .count()
    }

    pub(super) fn spawn(&mut self, now: u64, image: Image, origin: &'static str) {
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

    pub(super) fn ticks_to_duration(&mut self, ticks: u64) -> Duration {
        TICK * u32::try_from(ticks).unwrap_or(u32::MAX)
            + Duration::from_millis(self.rng.between(0, 99))
    }

    pub(super) fn transition(
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

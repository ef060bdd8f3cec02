//! The lifecycle family: a simulated pool of workers that are spawned, handed
//! work, released, drained and retired, with some spawns, assignments and
//! retirements failing, through [`vigil::lifecycle::Lifecycle`] and its
//! typed labels.
//!
//! The pool is a simulation (no processes: those are in `workers.rs`) so that
//! its transitions and failures come at a steady, readable pace. It is
//! bounded: never more than [`MAX_WORKERS`] entities, and the tally of what
//! was recorded is keyed by typed label values only.

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use vigil::labels::Label;
use vigil::lifecycle::{Lifecycle, Outcome};

use super::rng::Rng;
use super::{NAMESPACE, Transition};

vigil::label! {
    /// What happened to a worker.
    pub(super) enum Op = "operation" {
        Spawn = "spawn",
        Assign = "assign",
        Release = "release",
        Drain = "drain",
        Retire = "retire",
    }
}

vigil::label! {
    /// Where a worker is.
    pub(super) enum State = "state" {
        Idle = "idle",
        Busy = "busy",
        Draining = "draining",
    }
}

vigil::label! {
    /// The image a worker runs: the typed label of transitions and counts.
    pub(super) enum Image = "image" {
        Stable = "duckdb:1.1",
        Canary = "duckdb:1.2",
    }
}

/// The most simulated workers at once.
pub(super) const MAX_WORKERS: usize = 8;
/// Below this many the pool always spawns.
const MIN_WORKERS: usize = 3;
/// Origin of spawns and drains (the autoscaler decides them).
const AUTOSCALER: &str = "autoscaler";
/// Origin of assignments, releases and retirements.
const POOL: &str = "pool";
/// Origin of what the demo does while stopping.
const SHUTDOWN: &str = "shutdown";

/// The simulated pool and what it recorded.
pub(super) struct Pool {
    lifecycle: Lifecycle<Op, State, Image, Image>,
    workers: Vec<(State, Image)>,
    rng: Rng,
    tally: BTreeMap<Transition, u64>,
}

impl Pool {
    pub(super) fn new(meter: Meter, seed: u64) -> Self {
        let lifecycle = Lifecycle::builder("worker")
            .with_meter(meter)
            .with_namespace(NAMESPACE)
            .with_labels::<Image>()
            .with_count_labels::<Image>()
            .build();
        // Every state count exists from the start (at 0), so the dashboard
        // shows the full table before the first worker moves.
        for state in State::VALUES {
            for image in Image::VALUES {
                lifecycle.set_count(*state, *image, 0);
            }
        }
        Pool {
            lifecycle,
            workers: Vec::with_capacity(MAX_WORKERS),
            rng: Rng::new(seed),
            tally: BTreeMap::new(),
        }
    }

    /// One step: a spawn when the pool is small, else one transition of a
    /// random worker.
    pub(super) fn step(&mut self) {
        let len = self.workers.len();
        if len < MIN_WORKERS || (len < MAX_WORKERS && self.rng.chance(0.25)) {
            self.spawn();
            return;
        }
        let i = self.rng.index(len);
        let Some(&(state, image)) = self.workers.get(i) else {
            return;
        };
        match state {
            State::Idle if self.rng.chance(0.15) => {
                self.record(Op::Drain, Outcome::Success, AUTOSCALER, image, 5..=40);
                self.set(i, State::Draining);
            }
            State::Idle => {
                if self.rng.chance(0.08) {
                    self.record(Op::Assign, Outcome::Failure, POOL, image, 100..=900);
                } else {
                    self.record(Op::Assign, Outcome::Success, POOL, image, 1..=20);
                    self.set(i, State::Busy);
                }
            }
            State::Busy => {
                self.record(Op::Release, Outcome::Success, POOL, image, 1..=10);
                self.set(i, State::Idle);
            }
            State::Draining => {
                if self.rng.chance(0.1) {
                    self.record(Op::Retire, Outcome::Failure, POOL, image, 200..=1500);
                } else {
                    self.record(Op::Retire, Outcome::Success, POOL, image, 20..=200);
                    self.workers.swap_remove(i);
                    self.lifecycle
                        .move_state(Some(State::Draining), None, image);
                }
            }
        }
    }

    /// Stopping: a spawn in flight is cancelled (counted as `cancelled`,
    /// never as a failure) and every worker is retired.
    pub(super) fn shut_down(&mut self) {
        let image = Image::VALUES[self.rng.index(Image::VALUES.len())];
        self.record(Op::Spawn, Outcome::Cancelled, SHUTDOWN, image, 1..=50);
        for (state, image) in std::mem::take(&mut self.workers) {
            self.record(Op::Retire, Outcome::Success, SHUTDOWN, image, 5..=50);
            self.lifecycle.move_state(Some(state), None, image);
        }
    }

    /// What was recorded, by transition.
    pub(super) fn tally(&self) -> BTreeMap<Transition, u64> {
        self.tally.clone()
    }

    fn spawn(&mut self) {
        // The canary image fails to start far more often: the dashboard's
        // failure ratio by image shows it.
        let image = if self.rng.chance(0.3) {
            Image::Canary
        } else {
            Image::Stable
        };
        let fails = match image {
            Image::Canary => 0.35,
            Image::Stable => 0.05,
        };
        if self.rng.chance(fails) {
            self.record(Op::Spawn, Outcome::Failure, AUTOSCALER, image, 500..=3000);
        } else {
            self.record(Op::Spawn, Outcome::Success, AUTOSCALER, image, 40..=400);
            self.workers.push((State::Idle, image));
            self.lifecycle.move_state(None, Some(State::Idle), image);
        }
    }

    fn set(&mut self, i: usize, to: State) {
        if let Some(worker) = self.workers.get_mut(i) {
            self.lifecycle
                .move_state(Some(worker.0), Some(to), worker.1);
            worker.0 = to;
        }
    }

    /// Count one transition that took a random time in `millis`.
    fn record(
        &mut self,
        op: Op,
        outcome: Outcome,
        origin: &'static str,
        image: Image,
        millis: std::ops::RangeInclusive<u64>,
    ) {
        let took = Duration::from_millis(self.rng.range(*millis.start(), *millis.end()));
        self.lifecycle
            .record(op, outcome, origin, image, Some(took));
        let key = Transition {
            operation: op.as_str(),
            outcome: outcome.as_str(),
            origin,
            image: image.as_str(),
        };
        *self.tally.entry(key).or_default() += 1;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.workers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_stays_bounded_records_failures_and_empties_at_shutdown() {
        let mut pool = Pool::new(opentelemetry::global::meter("pool-test"), 11);
        for _ in 0..2000 {
            pool.step();
            assert!(pool.len() <= MAX_WORKERS);
        }
        let tally = pool.tally();
        let failures: u64 = tally
            .iter()
            .filter(|(k, _)| k.outcome == "failure")
            .map(|(_, n)| n)
            .sum();
        assert!(failures > 0, "{tally:?}");
        assert!(tally.keys().all(|k| k.outcome != "cancelled"));
        pool.shut_down();
        assert_eq!(pool.len(), 0);
        let cancelled: Vec<_> = pool
            .tally()
            .into_iter()
            .filter(|(k, _)| k.outcome == "cancelled")
            .collect();
        assert_eq!(cancelled.len(), 1);
        assert_eq!(
            (cancelled[0].0.operation, cancelled[0].0.origin),
            ("spawn", "shutdown")
        );
        assert_eq!(cancelled[0].1, 1);
    }
}

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

mod instruments;
mod pool;
mod sim;
mod state;

pub use instruments::Instruments;
pub use pool::Pool;
pub use sim::{Lease, XorShift};
pub use state::{Leadership, Totals};
use state::{Phase, Worker};

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

use std::time::Duration;

use super::*;
use crate::testing::Harness;

crate::label! {
    enum Op = "operation" { Spawn = "spawn", Drain = "drain", Retire = "retire" }
}
crate::label! {
    enum State = "state" { Idle = "idle", Active = "active", Draining = "draining" }
}

fn lifecycle(h: &Harness) -> Lifecycle<Op, State> {
    super::builder("worker")
        .with_meter(h.meter())
        .with_namespace("duckgres")
        .with_labels(&["image"])
        .with_count_labels(&["image", "binding"])
        .build()
}

const T: &str = "duckgres.worker.lifecycle.transitions";
const D: &str = "duckgres.worker.lifecycle.transition.duration";
const C: &str = "duckgres.worker.lifecycle.count";

#[test]
fn transitions_are_counted_with_typed_labels_and_unknown_for_empty_values() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    lc.record(
        Op::Spawn,
        Outcome::Success,
        "pool",
        &["duckdb:1"],
        Some(Duration::from_millis(250)),
    );
    lc.record(Op::Spawn, Outcome::Success, "pool", &["duckdb:1"], None);
    lc.record(Op::Spawn, Outcome::Failure, "", &[""], None);
    let labels = |outcome, origin, image| {
        [
            ("operation", "spawn"),
            ("outcome", outcome),
            ("origin", origin),
            ("image", image),
        ]
    };
    assert_eq!(
        h.counter(T, &labels("success", "pool", "duckdb:1")),
        Some(2.0)
    );
    assert_eq!(
        h.counter(T, &labels("failure", "unknown", "unknown")),
        Some(1.0)
    );
    let d = h
        .histogram(D, &[("operation", "spawn")])
        .expect("duration recorded");
    assert_eq!((d.count, d.sum), (1, 0.25));
    assert_eq!(d.bounds, crate::views::SECONDS_BOUNDARIES.to_vec());
}

#[test]
fn negative_and_nan_durations_clamp_to_zero() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    lc.record_duration(Op::Drain, -3.0);
    lc.record_duration(Op::Drain, f64::NAN);
    let d = h.histogram(D, &[("operation", "drain")]).expect("recorded");
    assert_eq!((d.count, d.sum), (2, 0.0));
}

#[test]
fn empty_or_unknown_dynamic_operations_drop_the_sample() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    assert!(!lc.record_named("", Outcome::Success, "pool", &["img"]));
    assert!(!lc.record_named("explode", Outcome::Success, "pool", &["img"]));
    h.assert_nothing_recorded(T);
    assert!(lc.record_named(" retire ", Outcome::Success, "pool", &["img"]));
    assert_eq!(
        h.counter(
            T,
            &[
                ("operation", "retire"),
                ("outcome", "success"),
                ("origin", "pool"),
                ("image", "img")
            ]
        ),
        Some(1.0)
    );
}

#[derive(Debug)]
enum WorkError {
    Shutdown,
    Broken,
}

impl Cancellation for WorkError {
    fn is_cancellation(&self) -> bool {
        matches!(self, WorkError::Shutdown)
    }
}

#[tokio::test]
async fn timed_operations_turn_results_into_outcomes_and_cancellation_is_not_failure() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let ok: Result<u8, WorkError> = lc
        .time(Op::Drain, "reconcile", &["img"], async { Ok(7) })
        .await;
    assert_eq!(ok.ok(), Some(7));
    let _ = lc
        .time(Op::Drain, "reconcile", &["img"], async {
            Err::<(), _>(WorkError::Shutdown)
        })
        .await;
    let _ = lc
        .time(Op::Drain, "reconcile", &["img"], async {
            Err::<(), _>(WorkError::Broken)
        })
        .await;
    let labels = |outcome| {
        [
            ("operation", "drain"),
            ("outcome", outcome),
            ("origin", "reconcile"),
            ("image", "img"),
        ]
    };
    assert_eq!(h.counter(T, &labels("success")), Some(1.0));
    assert_eq!(h.counter(T, &labels("cancelled")), Some(1.0));
    assert_eq!(h.counter(T, &labels("failure")), Some(1.0));
    assert_eq!(
        h.histogram(D, &[("operation", "drain")]).map(|d| d.count),
        Some(3)
    );
}

#[test]
fn state_counts_follow_transitions_and_reset_to_a_sentinel() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let labels = |state| [("state", state), ("image", "img"), ("binding", "unknown")];
    lc.move_state(None, Some(State::Idle), &["img"]);
    lc.move_state(None, Some(State::Idle), &["img"]);
    lc.move_state(Some(State::Idle), Some(State::Active), &["img"]);
    assert_eq!(h.gauge(C, &labels("idle")), Some(1.0));
    assert_eq!(h.gauge(C, &labels("active")), Some(1.0));
    // Never below zero, even if a transition is reported twice.
    lc.move_state(Some(State::Draining), None, &["img"]);
    assert_eq!(h.gauge(C, &labels("draining")), Some(0.0));
    lc.set_count(State::Active, &["img"], 5);
    assert_eq!(h.gauge(C, &labels("active")), Some(5.0));
    lc.reset_counts(-1);
    assert_eq!(h.gauge(C, &labels("active")), Some(-1.0));
    assert_eq!(h.gauge(C, &labels("idle")), Some(-1.0));
}

#[test]
fn bound_transitions_count_every_outcome() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let b = lc.bind(Op::Retire, "gc", &["img"]);
    for _ in 0..3 {
        b.count(Outcome::Success);
    }
    b.record(Outcome::Failure, Duration::from_secs(2));
    let labels = |outcome| {
        [
            ("operation", "retire"),
            ("outcome", outcome),
            ("origin", "gc"),
            ("image", "img"),
        ]
    };
    assert_eq!(h.counter(T, &labels("success")), Some(3.0));
    assert_eq!(h.counter(T, &labels("failure")), Some(1.0));
    assert_eq!(
        h.histogram(D, &[("operation", "retire")]).map(|d| d.sum),
        Some(2.0)
    );
}

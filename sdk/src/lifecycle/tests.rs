use std::time::Duration;

use super::*;
use crate::testing::Harness;

crate::label! {
    enum Op = "operation" { Spawn = "spawn", Drain = "drain", Retire = "retire" }
}
crate::label! {
    enum State = "state" { Idle = "idle", Active = "active", Draining = "draining" }
}
crate::label! {
    enum Image = "image" { Duckdb1 = "duckdb:1", Img = "img" }
}
crate::label! {
    enum Binding = "binding" { Bound = "bound", Free = "free" }
}

fn lifecycle(h: &Harness) -> Lifecycle<Op, State, Image, (Image, Binding)> {
    Lifecycle::builder("worker")
        .with_meter(h.meter())
        .with_namespace("duckgres")
        .with_labels::<Image>()
        .with_count_labels::<(Image, Binding)>()
        .build()
}

const T: &str = "duckgres.worker.lifecycle.transitions";
const D: &str = "duckgres.worker.lifecycle.transition.duration";
const C: &str = "duckgres.worker.lifecycle.count";

#[test]
fn transitions_are_counted_with_typed_labels_and_unknown_for_an_empty_origin() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    lc.record(
        Op::Spawn,
        Outcome::Success,
        "pool",
        Image::Duckdb1,
        Some(Duration::from_millis(250)),
    );
    lc.record(Op::Spawn, Outcome::Success, "pool", Image::Duckdb1, None);
    lc.record(Op::Spawn, Outcome::Failure, " ", Image::Img, None);
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
        h.counter(T, &labels("failure", "unknown", "img")),
        Some(1.0)
    );
    let d = h
        .histogram(D, &[("operation", "spawn")])
        .expect("duration recorded");
    assert_eq!((d.count, d.sum), (1, 0.25));
    assert_eq!(d.bounds, crate::views::SECONDS_BOUNDARIES.to_vec());
}

#[test]
fn typed_labels_record_exactly_their_own_keys() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    lc.record(Op::Drain, Outcome::Success, "pool", Image::Img, None);
    lc.move_state(None, Some(State::Idle), (Image::Img, Binding::Bound));
    let mut recorded = h.series(T);
    recorded.sort();
    let expected: Vec<Vec<(String, String)>> = ["cancelled", "failure", "success"]
        .iter()
        .map(|outcome| {
            [
                ("image", "img"),
                ("operation", "drain"),
                ("origin", "pool"),
                ("outcome", outcome),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        })
        .collect();
    assert_eq!(recorded, expected);
    assert_eq!(
        h.gauge(
            C,
            &[("state", "idle"), ("image", "img"), ("binding", "bound")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_million_distinct_origins_keep_the_cache_at_its_bound_and_still_count() {
    let h = Harness::new();
    let lc: Lifecycle<Op, State> = Lifecycle::builder("worker")
        .with_meter(h.meter())
        .with_namespace("bounded")
        .build();
    for i in 0..1_000_000u32 {
        lc.record(
            Op::Spawn,
            Outcome::Success,
            &format!("origin-{i}"),
            (),
            None,
        );
    }
    assert_eq!(lc.cached_len(), DEFAULT_CACHE_LIMIT);
    // A cached key and one past the bound both count.
    lc.record(Op::Spawn, Outcome::Success, "origin-0", (), None);
    assert_eq!(lc.cached_len(), DEFAULT_CACHE_LIMIT);
    let name = "bounded.worker.lifecycle.transitions";
    let labels = |origin| {
        [
            ("operation", "spawn"),
            ("outcome", "success"),
            ("origin", origin),
        ]
    };
    assert_eq!(h.counter(name, &labels("origin-0")), Some(2.0));
    assert_eq!(h.counter(name, &labels("origin-1023")), Some(1.0));
    // Every cached key's series fits the stream; the rest overflow, counted.
    assert_eq!(h.counter(name, &labels("origin-1024")), None);
    assert_eq!(
        h.counter(name, &[("otel.metric.overflow", "true")]),
        Some((1_000_000 - DEFAULT_CACHE_LIMIT) as f64)
    );
}

#[test]
fn binds_past_the_cache_limit_are_made_but_not_cached() {
    let h = Harness::new();
    let lc: Lifecycle<Op, State> = Lifecycle::builder("worker")
        .with_meter(h.meter())
        .with_namespace("small")
        .with_cache_limit(2)
        .build();
    for origin in ["a", "b", "c", "d"] {
        lc.bind(Op::Retire, origin, ()).count(Outcome::Failure);
    }
    assert_eq!(lc.cached_len(), 2);
    let counted = |origin| {
        h.counter(
            "small.worker.lifecycle.transitions",
            &[
                ("operation", "retire"),
                ("outcome", "failure"),
                ("origin", origin),
            ],
        )
    };
    assert_eq!(
        ["a", "b", "c", "d"].map(counted),
        [Some(1.0), Some(1.0), Some(1.0), Some(1.0)]
    );
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
    assert!(!lc.record_named("", Outcome::Success, "pool", Image::Img));
    assert!(!lc.record_named("explode", Outcome::Success, "pool", Image::Img));
    h.assert_nothing_recorded(T);
    assert!(lc.record_named(" retire ", Outcome::Success, "pool", Image::Img));
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

fn drain_counts(h: &Harness) -> [Option<f64>; 3] {
    ["success", "cancelled", "failure"].map(|outcome| {
        h.counter(
            T,
            &[
                ("operation", "drain"),
                ("outcome", outcome),
                ("origin", "reconcile"),
                ("image", "img"),
            ],
        )
    })
}

#[tokio::test]
async fn time_counts_every_error_as_a_failure_including_interrupted() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let ok: Result<u8, std::io::Error> = lc
        .time(Op::Drain, "reconcile", Image::Img, async { Ok(7) })
        .await;
    assert_eq!(ok.ok(), Some(7));
    let interrupted = std::io::Error::from(std::io::ErrorKind::Interrupted);
    let _ = lc
        .time(Op::Drain, "reconcile", Image::Img, async {
            Err::<(), _>(interrupted)
        })
        .await;
    assert_eq!(drain_counts(&h), [Some(1.0), Some(0.0), Some(1.0)]);
    assert_eq!(
        h.histogram(D, &[("operation", "drain")]).map(|d| d.count),
        Some(2)
    );
}

#[tokio::test]
async fn a_closure_classifies_anyhow_errors() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    #[derive(Debug, thiserror::Error)]
    #[error("shutting down")]
    struct ShuttingDown;
    let classify = |e: &anyhow::Error| {
        if e.is::<ShuttingDown>() {
            Outcome::Cancelled
        } else {
            Outcome::Failure
        }
    };
    for error in [anyhow::Error::new(ShuttingDown), anyhow::anyhow!("broken")] {
        let result = lc
            .time_with(Op::Drain, "reconcile", Image::Img, classify, async {
                Err::<(), _>(error)
            })
            .await;
        assert!(result.is_err());
    }
    let _ = lc
        .time_with(Op::Drain, "reconcile", Image::Img, classify, async {
            Ok::<_, anyhow::Error>(())
        })
        .await;
    assert_eq!(drain_counts(&h), [Some(1.0), Some(1.0), Some(1.0)]);
}

#[tokio::test]
async fn a_closure_classifies_tonic_statuses() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let classify = |s: &tonic::Status| match s.code() {
        tonic::Code::Cancelled => Outcome::Cancelled,
        _ => Outcome::Failure,
    };
    for status in [
        tonic::Status::cancelled("server shutting down"),
        tonic::Status::cancelled("again"),
        tonic::Status::unavailable("down"),
    ] {
        let _ = lc
            .time_with(Op::Drain, "reconcile", Image::Img, classify, async {
                Err::<(), _>(status)
            })
            .await;
    }
    assert_eq!(drain_counts(&h), [Some(0.0), Some(2.0), Some(1.0)]);
}

/// A classifier of your own can implement `Classify` for a foreign error
/// type, here `Box<dyn Error>`.
struct ByMessage;

impl Classify<Box<dyn std::error::Error + Send + Sync>> for ByMessage {
    fn classify(&self, error: &Box<dyn std::error::Error + Send + Sync>) -> Outcome {
        if error.to_string().contains("shutdown") {
            Outcome::Cancelled
        } else {
            Outcome::Failure
        }
    }
}

#[tokio::test]
async fn a_classifier_type_classifies_boxed_errors() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    for message in ["shutdown in progress", "disk full"] {
        let _ = lc
            .time_with(Op::Drain, "reconcile", Image::Img, ByMessage, async {
                Err::<(), Box<dyn std::error::Error + Send + Sync>>(message.into())
            })
            .await;
    }
    assert_eq!(drain_counts(&h), [Some(0.0), Some(1.0), Some(1.0)]);
}

#[test]
fn state_counts_follow_transitions_and_reset_to_a_sentinel() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let labels = |state| [("state", state), ("image", "img"), ("binding", "free")];
    let set = (Image::Img, Binding::Free);
    lc.move_state(None, Some(State::Idle), set);
    lc.move_state(None, Some(State::Idle), set);
    lc.move_state(Some(State::Idle), Some(State::Active), set);
    assert_eq!(h.gauge(C, &labels("idle")), Some(1.0));
    assert_eq!(h.gauge(C, &labels("active")), Some(1.0));
    // Never below zero, even if a transition is reported twice.
    lc.move_state(Some(State::Draining), None, set);
    assert_eq!(h.gauge(C, &labels("draining")), Some(0.0));
    lc.set_count(State::Active, set, 5);
    assert_eq!(h.gauge(C, &labels("active")), Some(5.0));
    lc.reset_counts(-1);
    assert_eq!(h.gauge(C, &labels("active")), Some(-1.0));
    assert_eq!(h.gauge(C, &labels("idle")), Some(-1.0));
}

#[test]
fn bound_transitions_count_every_outcome() {
    let h = Harness::new();
    let lc = lifecycle(&h);
    let b = lc.bind(Op::Retire, "gc", Image::Img);
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

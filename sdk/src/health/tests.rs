use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::testing::Harness;

const CHECKS: &str = "app.worker.health.checks";
const CONSECUTIVE: &str = "app.worker.health.consecutive_failures";
const STATUS: &str = "app.worker.health.status";

const MS: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_secs(10);

/// What the fake probe does for a target.
#[derive(Clone, Copy, Debug)]
enum Act {
    Pass,
    Fail,
    Hang,
    Panic,
}

#[derive(Clone, Default)]
struct Fake {
    acts: Arc<Mutex<HashMap<String, Act>>>,
}

impl Fake {
    fn set(&self, id: &str, act: Act) {
        self.acts.lock().expect("acts").insert(id.to_string(), act);
    }

    fn probe(&self) -> impl Fn(Target) -> BoxedProbe + Send + Sync + 'static {
        let acts = self.acts.clone();
        move |target: Target| {
            let act = acts.lock().expect("acts").get(target.id()).copied();
            Box::pin(async move {
                match act.unwrap_or(Act::Pass) {
                    Act::Pass => Ok(()),
                    Act::Fail => Err("connection refused".to_string()),
                    Act::Hang => std::future::pending().await,
                    Act::Panic => panic!("probe bug"),
                }
            })
        }
    }
}

type BoxedProbe = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Records the ids a callback was called with.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn hook(&self) -> impl Fn(&Target) + Send + Sync + 'static {
        let calls = self.0.clone();
        move |t| calls.lock().expect("calls").push(t.id().to_string())
    }

    fn get(&self) -> Vec<String> {
        self.0.lock().expect("calls").clone()
    }
}

fn builder(h: &Harness) -> Builder {
    HealthChecker::builder("worker")
        .with_meter(h.meter())
        .with_namespace("app")
        .with_interval(TICK)
        .with_timeout(Duration::from_secs(2))
}

fn status(healthy: bool, consecutive_failures: u32) -> Option<TargetHealth> {
    Some(TargetHealth {
        healthy,
        consecutive_failures,
    })
}

#[tokio::test(start_paused = true)]
async fn the_threshold_fires_once_per_loss_and_a_pass_recovers() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("w1", Act::Fail);
    let (lost, recovered) = (Calls::default(), Calls::default());
    let checker = builder(&h)
        .with_threshold(3)
        .on_lost(lost.hook())
        .on_recovered(recovered.hook())
        .with_targets([Target::new("w1")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(MS).await;
    assert_eq!(checker.status("w1"), status(true, 1));
    assert!(lost.get().is_empty());
    tokio::time::sleep(2 * TICK).await;
    assert_eq!(checker.status("w1"), status(false, 3));
    assert_eq!(lost.get(), ["w1"]);
    tokio::time::sleep(2 * TICK).await;
    assert_eq!(checker.status("w1"), status(false, 5));
    assert_eq!(lost.get(), ["w1"], "not again until it recovers");
    assert_eq!(h.gauge(CONSECUTIVE, &[]), Some(5.0));
    assert_eq!(h.gauge(STATUS, &[]), Some(0.0));

    fake.set("w1", Act::Pass);
    tokio::time::sleep(TICK).await;
    assert_eq!(checker.status("w1"), status(true, 0));
    assert_eq!(recovered.get(), ["w1"]);
    assert_eq!(h.gauge(CONSECUTIVE, &[]), Some(0.0));
    assert_eq!(h.gauge(STATUS, &[]), Some(1.0));

    fake.set("w1", Act::Fail);
    tokio::time::sleep(3 * TICK).await;
    assert_eq!(lost.get(), ["w1", "w1"], "a new loss after recovering");
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(8.0));
    assert_eq!(h.counter(CHECKS, &[("result", "pass")]), Some(1.0));
    checker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_times_out_is_a_failure() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("w1", Act::Hang);
    let checker = builder(&h)
        .with_targets([Target::new("w1")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(Duration::from_secs(2) - MS).await;
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(0.0));
    tokio::time::sleep(2 * MS).await;
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(1.0));
    assert_eq!(checker.status("w1"), status(true, 1));
    checker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_probe_cancelled_by_shutdown_is_not_a_failure() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("w1", Act::Hang);
    let lost = Calls::default();
    let checker = builder(&h)
        .with_threshold(1)
        .on_lost(lost.hook())
        .with_targets([Target::new("w1")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(Duration::from_secs(1)).await;
    checker.stop().await;
    tokio::time::sleep(TICK).await;
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(0.0));
    assert!(lost.get().is_empty());
    h.assert_nothing_recorded(STATUS);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_fails_because_of_the_shutdown_is_not_a_failure() {
    let h = Harness::new();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let checker = builder(&h)
        .with_shutdown(shutdown.clone())
        .with_targets([Target::new("w1")])
        .build()
        .start(move |_| {
            let token = token.clone();
            async move {
                token.cancelled().await;
                Err::<(), _>("shutting down")
            }
        })
        .expect("in a runtime");
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.cancel();
    checker.stop().await;
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn a_loss_records_a_lifecycle_transition() {
    crate::label! {
        enum Op = "operation" { Spawn = "spawn", MarkLost = "mark_lost" }
    }
    crate::label! {
        enum State = "state" { Ready = "ready", Lost = "lost" }
    }
    crate::label! {
        enum Image = "image" { Duckdb = "duckdb:1.2", Other = "other" }
    }
    let h = Harness::new();
    let lifecycle = crate::lifecycle::Lifecycle::<Op, State>::builder("worker")
        .with_meter(h.meter())
        .with_namespace("app")
        .with_labels::<Image>()
        .build();
    let fake = Fake::default();
    fake.set("w1", Act::Fail);
    let checker = builder(&h)
        .with_threshold(2)
        .with_label("image")
        .with_lifecycle(lifecycle, Op::MarkLost, |t: &Target| match t.label() {
            "duckdb:1.2" => Image::Duckdb,
            _ => Image::Other,
        })
        .with_targets([Target::new("w1").with_label("duckdb:1.2")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(4 * TICK + MS).await;
    let transition = [
        ("operation", "mark_lost"),
        ("outcome", "failure"),
        ("origin", "health"),
        ("image", "duckdb:1.2"),
    ];
    assert_eq!(
        h.counter("app.worker.lifecycle.transitions", &transition),
        Some(1.0)
    );
    assert_eq!(
        h.counter(CHECKS, &[("result", "fail"), ("image", "duckdb:1.2")]),
        Some(5.0)
    );
    checker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn targets_sharing_a_label_aggregate_to_the_worst() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("a", Act::Fail);
    let checker = builder(&h)
        .with_threshold(1)
        .with_label("image")
        .with_targets([
            Target::new("a").with_label("img"),
            Target::new("b").with_label("img"),
            Target::new("c").with_label("other"),
        ])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(TICK + MS).await;
    assert_eq!(h.gauge(STATUS, &[("image", "img")]), Some(0.0));
    assert_eq!(h.gauge(CONSECUTIVE, &[("image", "img")]), Some(2.0));
    assert_eq!(h.gauge(STATUS, &[("image", "other")]), Some(1.0));
    assert_eq!(
        h.counter(CHECKS, &[("result", "pass"), ("image", "img")]),
        Some(2.0)
    );
    assert_eq!(
        h.counter(CHECKS, &[("result", "fail"), ("image", "img")]),
        Some(2.0)
    );
    assert!(h.series(CHECKS).iter().all(|labels| labels.len() == 2));
    checker.stop().await;
    h.assert_nothing_recorded(STATUS);
}

#[tokio::test(start_paused = true)]
async fn targets_come_and_go_at_run_time() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("a", Act::Fail);
    let checker = builder(&h)
        .with_target_attribute()
        .with_targets([Target::new("a")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(MS).await;
    assert!(checker.add_target(Target::new("b")));
    assert!(!checker.add_target(Target::new("b")), "ids are unique");
    assert_eq!(checker.status("b"), status(true, 0));
    assert_eq!(h.gauge(STATUS, &[("target", "b")]), None, "not probed yet");
    assert_eq!(h.gauge(STATUS, &[("target", "a")]), Some(1.0));
    assert_eq!(h.gauge(CONSECUTIVE, &[("target", "a")]), Some(1.0));
    tokio::time::sleep(TICK).await;
    assert_eq!(h.gauge(STATUS, &[("target", "b")]), Some(1.0));
    assert!(checker.remove_target("a"));
    assert!(!checker.remove_target("a"));
    assert_eq!(checker.status("a"), None);
    assert_eq!(
        h.gauge(STATUS, &[("target", "a")]),
        None,
        "gone with its target, before the next round"
    );
    assert_eq!(h.gauge(STATUS, &[("target", "b")]), Some(1.0));
    tokio::time::sleep(TICK).await;
    assert_eq!(
        h.counter(CHECKS, &[("result", "fail"), ("target", "a")]),
        Some(2.0)
    );
    assert_eq!(
        h.counter(CHECKS, &[("result", "pass"), ("target", "b")]),
        Some(2.0)
    );
    checker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_removed_and_re_added_target_ignores_the_old_probe() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("a", Act::Hang);
    let checker = builder(&h)
        .with_targets([Target::new("a")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(MS).await;
    assert!(checker.remove_target("a"));
    assert!(checker.add_target(Target::new("a")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        checker.status("a"),
        status(true, 0),
        "the timeout was for the old one"
    );
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(0.0));
    checker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn panicking_probes_fail_and_panicking_callbacks_do_not_stop_the_checker() {
    let h = Harness::new();
    let fake = Fake::default();
    fake.set("a", Act::Panic);
    let checker = builder(&h)
        .with_threshold(1)
        .on_lost(|_| panic!("callback bug"))
        .with_targets([Target::new("a")])
        .build()
        .start(fake.probe())
        .expect("in a runtime");
    tokio::time::sleep(2 * TICK + MS).await;
    assert_eq!(h.counter(CHECKS, &[("result", "fail")]), Some(3.0));
    assert_eq!(checker.status("a"), status(false, 3));
    checker.stop().await;
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let h = Harness::new();
    let error = builder(&h)
        .build()
        .start(Fake::default().probe())
        .expect_err("no runtime");
    assert_eq!(
        error.to_string(),
        "the worker health checker must be started inside a tokio runtime"
    );
}

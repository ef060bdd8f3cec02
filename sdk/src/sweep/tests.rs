use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use super::schedule::{Jitter, seed};
use super::*;
use crate::testing::Harness;

crate::label! {
    enum Gc = "outcome" { Acked = "acked", Expired = "expired", Failed = "error" }
}

const RUNS: &str = "app.sweep.runs";
const ITEMS: &str = "app.sweep.items";
const DURATION: &str = "app.sweep.run.duration";
const LAST: &str = "app.sweep.last_success";
const BACKLOG: &str = "app.sweep.backlog";
const CAPPED: &str = "app.sweep.capped";

const MINUTE: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

fn builder(h: &Harness) -> Builder<Gc> {
    Sweeper::builder("gc")
        .with_meter(h.meter())
        .with_namespace("app")
        .with_interval(MINUTE)
}

fn runs(h: &Harness, result: &str) -> Option<f64> {
    h.counter(RUNS, &[("sweeper", "gc"), ("result", result)])
}

/// A job that counts its runs and acks one item per run.
fn counting(
    calls: &Arc<AtomicU64>,
) -> impl FnMut() -> std::future::Ready<Result<Items<Gc>, String>> + Send + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Items::new().with(Gc::Acked, 1)))
    }
}

#[tokio::test(start_paused = true)]
async fn runs_once_at_start_then_every_interval() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let handle = builder(&h)
        .build()
        .start(counting(&calls))
        .expect("in a runtime");
    tokio::time::sleep(MINUTE - MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only the start-up run");
    tokio::time::sleep(2 * MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(2 * MINUTE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(handle.stop().await, Stopped::Finished);
    assert_eq!(runs(&h, "ok"), Some(4.0));
    assert_eq!(
        runs(&h, "error"),
        Some(0.0),
        "every result series exists from the start"
    );
    assert_eq!(runs(&h, "panic"), Some(0.0));
    tokio::time::sleep(10 * MINUTE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "no runs after stop");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_run_is_counted_and_the_loop_goes_on() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let handle = builder(&h)
        .build()
        .start(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("first run explodes");
                }
                Ok::<_, String>(Items::new().with(Gc::Expired, 2))
            }
        })
        .expect("in a runtime");
    tokio::time::sleep(MINUTE + MS).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the run after the panic happened"
    );
    assert_eq!(handle.stop().await, Stopped::Finished);
    assert_eq!(runs(&h, "panic"), Some(1.0));
    assert_eq!(runs(&h, "ok"), Some(1.0));
    let items = |o| h.counter(ITEMS, &[("sweeper", "gc"), ("outcome", o)]);
    assert_eq!(items("expired"), Some(2.0));
}

#[tokio::test(start_paused = true)]
async fn a_job_that_panics_before_returning_its_future_is_caught_too() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let handle = builder(&h)
        .build()
        .start(move || {
            assert!(
                seen.fetch_add(1, Ordering::SeqCst) > 0,
                "first call explodes"
            );
            std::future::ready(Ok::<_, String>(Items::<Gc>::new()))
        })
        .expect("in a runtime");
    tokio::time::sleep(MINUTE + MS).await;
    assert_eq!(handle.stop().await, Stopped::Finished);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(runs(&h, "panic"), Some(1.0));
    assert_eq!(runs(&h, "ok"), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn errors_are_counted_and_leave_last_success_unset() {
    let h = Harness::new();
    let sweeper = builder(&h).build();
    let result = sweeper
        .run_once(async { Err::<Items<Gc>, _>("database down") })
        .await;
    assert_eq!(result, RunResult::Error);
    assert_eq!(runs(&h, "error"), Some(1.0));
    assert_eq!(runs(&h, "ok"), Some(0.0));
    h.assert_nothing_recorded(LAST);
}

#[tokio::test(start_paused = true)]
async fn last_success_is_the_clock_at_the_end_of_the_latest_ok_run() {
    let h = Harness::new();
    let now = Arc::new(Mutex::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
    ));
    let clock = now.clone();
    let sweeper = builder(&h)
        .with_clock(move || *clock.lock().expect("clock"))
        .build();
    sweeper
        .run_once(async { Ok::<_, String>(Items::new()) })
        .await;
    assert_eq!(h.gauge(LAST, &[("sweeper", "gc")]), Some(1_000.0));
    *now.lock().expect("clock") = SystemTime::UNIX_EPOCH + Duration::from_millis(2_000_500);
    sweeper
        .run_once(async { Err::<Items<Gc>, _>("nope") })
        .await;
    assert_eq!(
        h.gauge(LAST, &[("sweeper", "gc")]),
        Some(1_000.0),
        "errors leave it"
    );
    sweeper
        .run_once(async { Ok::<_, String>(Items::new()) })
        .await;
    assert_eq!(h.gauge(LAST, &[("sweeper", "gc")]), Some(2_000.5));
}

#[tokio::test(start_paused = true)]
async fn items_are_counted_by_outcome_and_durations_recorded() {
    let h = Harness::new();
    let sweeper = builder(&h).build();
    sweeper
        .run_once(async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let mut items = Items::new();
            items.add(Gc::Acked, 3);
            items.add(Gc::Expired, 1);
            items.add(Gc::Acked, 2);
            Ok::<_, String>(items)
        })
        .await;
    let items = |o| h.counter(ITEMS, &[("sweeper", "gc"), ("outcome", o)]);
    assert_eq!(items("acked"), Some(5.0));
    assert_eq!(items("expired"), Some(1.0));
    assert_eq!(items("error"), Some(0.0));
    let d = h
        .histogram(DURATION, &[("sweeper", "gc")])
        .expect("recorded");
    assert_eq!((d.count, d.sum), (1, 1.5));
    assert_eq!(d.bounds, crate::views::SECONDS_BOUNDARIES.to_vec());
}

#[tokio::test(start_paused = true)]
async fn stop_waits_for_the_run_in_flight() {
    let h = Harness::new();
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let handle = builder(&h)
        .build()
        .start(move || {
            let released = released.lock().expect("lock").take();
            async move {
                if let Some(rx) = released {
                    let _ = rx.await;
                }
                Ok::<_, String>(Items::new().with(Gc::Acked, 7))
            }
        })
        .expect("in a runtime");
    tokio::time::sleep(MS).await;
    let stopping = tokio::spawn(handle.stop());
    tokio::time::sleep(10 * MINUTE).await;
    assert!(
        !stopping.is_finished(),
        "stop returned with a run in flight"
    );
    assert_eq!(runs(&h, "ok"), Some(0.0));
    release.send(()).expect("run waiting");
    assert_eq!(stopping.await.expect("stop"), Stopped::Finished);
    assert_eq!(
        runs(&h, "ok"),
        Some(1.0),
        "the run finished and was recorded"
    );
    assert_eq!(
        h.counter(ITEMS, &[("sweeper", "gc"), ("outcome", "acked")]),
        Some(7.0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_timeout_drops_a_stuck_run_unrecorded() {
    let h = Harness::new();
    let handle = builder(&h)
        .with_stop_timeout(Duration::from_secs(5))
        .build()
        .start(|| async {
            std::future::pending::<()>().await;
            Ok::<Items<Gc>, String>(Items::new())
        })
        .expect("in a runtime");
    tokio::time::sleep(MS).await;
    let started = tokio::time::Instant::now();
    assert_eq!(handle.stop().await, Stopped::TimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(runs(&h, "ok"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn run_now_runs_at_once_and_restarts_the_interval() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let handle = builder(&h)
        .build()
        .start(counting(&calls))
        .expect("in a runtime");
    tokio::time::sleep(Duration::from_secs(30)).await;
    handle.run_now();
    tokio::time::sleep(MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The next run is an interval after the triggered one (t = 90 s), not at 60 s.
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_loop_and_detach_keeps_it() {
    let h = Harness::new();
    let dropped = Arc::new(AtomicU64::new(0));
    drop(
        builder(&h)
            .build()
            .start(counting(&dropped))
            .expect("in a runtime"),
    );
    let detached = Arc::new(AtomicU64::new(0));
    Sweeper::builder("other")
        .with_meter(h.meter())
        .with_interval(MINUTE)
        .build()
        .start(counting(&detached))
        .expect("in a runtime")
        .detach();
    tokio::time::sleep(3 * MINUTE + MS).await;
    assert!(dropped.load(Ordering::SeqCst) <= 1);
    assert_eq!(detached.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_token_stops_the_loop() {
    let h = Harness::new();
    let shutdown = CancellationToken::new();
    let calls = Arc::new(AtomicU64::new(0));
    let handle = builder(&h)
        .with_shutdown(shutdown.clone())
        .build()
        .start(counting(&calls))
        .expect("in a runtime");
    tokio::time::sleep(MINUTE + MS).await;
    shutdown.cancel();
    tokio::time::sleep(10 * MINUTE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(handle.stop().await, Stopped::Finished);
}

#[tokio::test(start_paused = true)]
async fn jittered_runs_start_between_interval_and_interval_plus_jitter() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let handle = builder(&h)
        .with_jitter(Duration::from_secs(10))
        .build()
        .start(counting(&calls))
        .expect("in a runtime");
    tokio::time::sleep(MINUTE - MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(10) + 2 * MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    handle.stop().await;
}

#[test]
fn jitter_stays_within_bounds_and_spreads() {
    let max = Duration::from_millis(250);
    let mut jitter = Jitter::new(seed("gc"), max);
    let draws: Vec<Duration> = (0..10_000).map(|_| jitter.next()).collect();
    assert!(draws.iter().all(|d| *d <= max));
    assert!(draws.iter().any(|d| *d < max / 10));
    assert!(draws.iter().any(|d| *d > max * 9 / 10));
    let mut none = Jitter::new(0, Duration::ZERO);
    assert_eq!(none.next(), Duration::ZERO);
    let mut huge = Jitter::new(7, Duration::MAX);
    let _ = huge.next();
}

#[test]
fn batch_caps_split_known_and_unknown_backlogs() {
    let cap = BatchCap::new(500);
    assert_eq!(cap.limit(), 500);
    let b = cap.take(1_200);
    assert_eq!(
        (b.take(), b.remaining(), b.has_more()),
        (500, Some(700), true)
    );
    let b = cap.take(500);
    assert_eq!(
        (b.take(), b.remaining(), b.has_more()),
        (500, Some(0), false)
    );
    let b = cap.take(3);
    assert_eq!((b.take(), b.remaining(), b.has_more()), (3, Some(0), false));
    assert!(
        cap.after(500).has_more(),
        "a full LIMIT batch may have more"
    );
    assert!(!cap.after(499).has_more());
    assert_eq!(cap.after(501).take(), 500);
    assert_eq!(BatchCap::new(0).limit(), 1, "a zero cap still drains");
}

#[tokio::test(start_paused = true)]
async fn batches_report_the_backlog_and_capped_runs() {
    let h = Harness::new();
    let sweeper = builder(&h).build();
    let cap = BatchCap::new(100);
    let run = |backlog: u64| async move {
        let batch = cap.take(backlog);
        let mut items = Items::new().with(Gc::Expired, batch.take());
        items.record_batch(batch);
        Ok::<_, String>(items)
    };
    sweeper.run_once(run(250)).await;
    assert_eq!(h.gauge(BACKLOG, &[("sweeper", "gc")]), Some(150.0));
    assert_eq!(h.counter(CAPPED, &[("sweeper", "gc")]), Some(1.0));
    sweeper.run_once(run(150)).await;
    sweeper.run_once(run(50)).await;
    assert_eq!(h.gauge(BACKLOG, &[("sweeper", "gc")]), Some(0.0));
    assert_eq!(h.counter(CAPPED, &[("sweeper", "gc")]), Some(2.0));
    assert_eq!(
        h.counter(ITEMS, &[("sweeper", "gc"), ("outcome", "expired")]),
        Some(250.0)
    );
}

#[test]
fn items_sum_and_saturate() {
    let items = Items::new()
        .with(Gc::Acked, u64::MAX)
        .with(Gc::Acked, 1)
        .with(Gc::Failed, 2);
    assert_eq!(items.get(Gc::Acked), u64::MAX);
    assert_eq!(items.total(), u64::MAX);
    assert_eq!(
        format!("{items:?}"),
        r#"{"acked": 18446744073709551615, "expired": 0, "error": 2}"#
    );
    let mut several = Items::<Gc>::new();
    several.record_batch(BatchCap::new(10).take(15));
    several.record_batch(BatchCap::new(10).after(3));
    assert_eq!((several.backlog(), several.is_capped()), (Some(5), true));
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let h = Harness::new();
    let calls = Arc::new(AtomicU64::new(0));
    let error = builder(&h)
        .build()
        .start(counting(&calls))
        .expect_err("no runtime");
    assert_eq!(
        error.to_string(),
        "sweeper \"gc\" must be started inside a tokio runtime"
    );
}

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::testing::Harness;

const COUNT: &str = "app.runtime.liveness.count";
const FALLBACKS: &str = "app.runtime.liveness.fallbacks";

const THRESHOLD: Duration = Duration::from_secs(30);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn ago(secs: u64) -> Option<SystemTime> {
    Some(now() - Duration::from_secs(secs))
}

/// An in-memory store that fails on demand and counts batch lookups.
#[derive(Default)]
struct Flaky {
    inner: InMemoryStore,
    failing: AtomicBool,
    batches: AtomicUsize,
}

impl Flaky {
    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::new("connection reset"))
        } else {
            Ok(())
        }
    }
}

impl LivenessStore for Flaky {
    async fn last_seen(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        self.check()?;
        self.inner.last_seen(id).await
    }

    async fn heartbeat(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.check()?;
        self.inner.heartbeat(id, at).await
    }

    async fn last_seen_many(&self, ids: &[&str]) -> Result<Vec<Option<SystemTime>>, StoreError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.last_seen_many(ids).await
    }
}

fn liveness<S: LivenessStore>(h: &Harness, store: S) -> Liveness<S> {
    Liveness::builder("runtime", store)
        .with_meter(h.meter())
        .with_namespace("app")
        .with_stale_after(THRESHOLD)
        .build()
}

#[test]
fn the_stale_threshold_is_exclusive() {
    let h = Harness::new();
    let l = liveness(&h, InMemoryStore::new());
    let just_over = now() - THRESHOLD - Duration::from_nanos(1);
    let cases = [
        (None, HeartbeatStatus::Stale),
        (ago(0), HeartbeatStatus::Alive),
        (ago(30), HeartbeatStatus::Alive),
        (Some(just_over), HeartbeatStatus::Stale),
        (ago(3_600), HeartbeatStatus::Stale),
        (Some(now() + Duration::from_secs(5)), HeartbeatStatus::Alive),
    ];
    for (last_seen, want) in cases {
        assert_eq!(l.classify(last_seen, now()), want, "{last_seen:?}");
    }
}

#[tokio::test]
async fn a_store_answer_and_the_durable_time_count_whichever_is_later() {
    let h = Harness::new();
    let l = liveness(&h, InMemoryStore::new());
    l.heartbeat("fresh", now() - Duration::from_secs(5))
        .await
        .expect("memory");
    l.heartbeat("old", now() - Duration::from_secs(300))
        .await
        .expect("memory");
    let cases = [
        ("fresh", None, HeartbeatStatus::Alive),
        ("fresh", ago(600), HeartbeatStatus::Alive),
        ("old", ago(10), HeartbeatStatus::Alive),
        ("old", ago(600), HeartbeatStatus::Stale),
        // A store that lost the key defers to the durable time.
        ("missing", ago(10), HeartbeatStatus::Alive),
        ("missing", None, HeartbeatStatus::Stale),
    ];
    for (id, durable, want) in cases {
        assert_eq!(l.check(id, durable, now()).await, want, "{id} {durable:?}");
    }
    assert_eq!(h.counter(FALLBACKS, &[]), None, "the store never failed");
}

#[tokio::test]
async fn a_failing_store_falls_back_to_the_durable_time() {
    let h = Harness::new();
    let l = liveness(&h, Flaky::default());
    l.heartbeat("rt", now()).await.expect("store up");
    l.store().fail(true);
    assert_eq!(l.check("rt", ago(10), now()).await, HeartbeatStatus::Alive);
    assert_eq!(
        l.check("rt", ago(600), now()).await,
        HeartbeatStatus::Stale,
        "the store's fresh time is out of reach"
    );
    assert_eq!(l.check("rt", None, now()).await, HeartbeatStatus::Stale);
    assert_eq!(h.counter(FALLBACKS, &[]), Some(3.0));
    assert!(
        l.heartbeat("rt", now()).await.is_err(),
        "heartbeat errors are returned"
    );
}

#[tokio::test]
async fn evaluation_splits_the_population_and_sets_the_counts() {
    let h = Harness::new();
    let l = liveness(&h, Flaky::default());
    for (id, secs) in [("a", 1), ("b", 29), ("c", 31)] {
        l.heartbeat(id, now() - Duration::from_secs(secs))
            .await
            .expect("store up");
    }
    let population = vec![
        ("a".to_string(), None),
        ("b".to_string(), ago(900)),
        ("c".to_string(), None),
        ("d".to_string(), ago(2)),
        ("e".to_string(), None),
    ];
    let seen = l.evaluate(population.clone(), now()).await;
    assert_eq!(seen.alive, ["a", "b", "d"]);
    assert_eq!(seen.stale, ["c", "e"]);
    assert_eq!(seen.fallbacks, 0);
    assert_eq!(
        l.store().batches.load(Ordering::SeqCst),
        1,
        "one batch lookup"
    );
    assert_eq!(h.gauge(COUNT, &[("status", "alive")]), Some(3.0));
    assert_eq!(h.gauge(COUNT, &[("status", "stale")]), Some(2.0));

    l.store().fail(true);
    let seen = l.evaluate(population, now()).await;
    assert_eq!(seen.alive, ["d"], "only the durable times count");
    assert_eq!(seen.stale, ["a", "b", "c", "e"]);
    assert_eq!(seen.fallbacks, 5);
    assert_eq!(h.counter(FALLBACKS, &[]), Some(5.0));
    assert_eq!(h.gauge(COUNT, &[("status", "alive")]), Some(1.0));
    assert_eq!(h.gauge(COUNT, &[("status", "stale")]), Some(4.0));
}

#[tokio::test]
async fn an_empty_population_sets_zero_counts_without_asking_the_store() {
    let h = Harness::new();
    let l = liveness(&h, Flaky::default());
    let seen = l.evaluate(Vec::<(&str, _)>::new(), now()).await;
    assert!(seen.alive.is_empty() && seen.stale.is_empty());
    assert_eq!(l.store().batches.load(Ordering::SeqCst), 0);
    assert_eq!(h.gauge(COUNT, &[("status", "alive")]), Some(0.0));
    assert_eq!(h.gauge(COUNT, &[("status", "stale")]), Some(0.0));
}

/// A store whose batch lookup answers for too few ids.
struct Short;

impl LivenessStore for Short {
    async fn last_seen(&self, _: &str) -> Result<Option<SystemTime>, StoreError> {
        Ok(Some(now()))
    }

    async fn heartbeat(&self, _: &str, _: SystemTime) -> Result<(), StoreError> {
        Ok(())
    }

    async fn last_seen_many(&self, _: &[&str]) -> Result<Vec<Option<SystemTime>>, StoreError> {
        Ok(vec![Some(now())])
    }
}

#[tokio::test]
async fn a_batch_answer_of_the_wrong_length_is_a_store_failure() {
    let h = Harness::new();
    let l = liveness(&h, Short);
    let seen = l.evaluate([("a", None), ("b", ago(1))], now()).await;
    assert_eq!(
        (seen.alive, seen.stale, seen.fallbacks),
        (vec!["b"], vec!["a"], 2)
    );
    assert_eq!(h.counter(FALLBACKS, &[]), Some(2.0));
}

#[tokio::test]
async fn the_memory_store_keeps_the_latest_heartbeat_and_can_forget() {
    let store = Arc::new(InMemoryStore::new());
    store.heartbeat("a", now()).await.expect("memory");
    store
        .heartbeat("a", now() - Duration::from_secs(60))
        .await
        .expect("memory");
    assert_eq!(store.last_seen("a").await.expect("memory"), Some(now()));
    assert_eq!(
        store.last_seen_many(&["a", "b"]).await.expect("memory"),
        vec![Some(now()), None]
    );
    store.forget("a");
    assert_eq!(store.last_seen("a").await.expect("memory"), None);
}

#[test]
fn store_errors_keep_their_source() {
    let error = StoreError::new(std::io::Error::other("redis: connection refused"));
    assert_eq!(error.to_string(), "liveness store failed");
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("redis: connection refused"));
}

crate::label! {
    enum Swept = "outcome" { MarkedOffline = "marked_offline" }
}

#[tokio::test(start_paused = true)]
async fn a_sweeper_job_can_evaluate_liveness() {
    use crate::sweep::{Items, Sweeper};
    let h = Harness::new();
    let l = Arc::new(liveness(&h, InMemoryStore::new()));
    l.heartbeat("rt-1", now()).await.expect("memory");
    let job = {
        let l = l.clone();
        move || {
            let l = l.clone();
            async move {
                let seen = l.evaluate([("rt-1", None), ("rt-2", None)], now()).await;
                let offline = seen.stale.len() as u64;
                Ok::<_, StoreError>(Items::new().with(Swept::MarkedOffline, offline))
            }
        }
    };
    let handle = Sweeper::builder("runtime_sweeper")
        .with_meter(h.meter())
        .with_namespace("app")
        .build()
        .start(job)
        .expect("in a runtime");
    tokio::time::sleep(Duration::from_millis(1)).await;
    handle.stop().await;
    assert_eq!(h.gauge(COUNT, &[("status", "stale")]), Some(1.0));
    assert_eq!(
        h.counter(
            "app.sweep.items",
            &[
                ("sweeper", "runtime_sweeper"),
                ("outcome", "marked_offline")
            ]
        ),
        Some(1.0)
    );
}

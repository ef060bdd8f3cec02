//! The checker's state (targets, their counts, the gauges' series) and its
//! loop of probe rounds.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, Counter, ObservableGauge};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Builder, Callback, CheckResult, LABEL_VALUES, MAX_LIMIT, TARGETS, Target, TargetHealth,
};
use crate::labels::{Free, Label};
use crate::views::{self, Spec};

struct Entry {
    target: Target,
    /// Tells a re-added target from the removed one whose probe is in flight.
    generation: u64,
    consecutive: u32,
    lost: bool,
    probed: bool,
    /// Bound `checks` series, by [`CheckResult`] index.
    checks: [BoundCounter<u64>; 2],
    /// Values of the gauges' attributes (`gauge_keys`), in order.
    gauge_values: Box<[Free]>,
}

/// One gauge series: attributes, worst consecutive failures, status.
type Point = (Vec<KeyValue>, i64, i64);

pub(super) struct Shared {
    pub(super) entity: String,
    threshold: u32,
    checks: Counter<u64>,
    label: Option<&'static str>,
    target_attribute: bool,
    gauge_keys: Vec<&'static str>,
    on_lost: Vec<Callback>,
    on_recovered: Option<Callback>,
    targets: Mutex<HashMap<Box<str>, Entry>>,
    next_generation: AtomicU64,
    /// What the observable gauges report, replaced after each round.
    points: Arc<Mutex<Arc<[Point]>>>,
    _gauges: [ObservableGauge<i64>; 2],
}

enum Change {
    Lost(Target),
    Recovered(Target),
}

impl Shared {
    pub(super) fn new(b: &Builder) -> Arc<Self> {
        let meter = b.meter.clone().unwrap_or_else(crate::init::meter);
        let ns = b
            .namespace
            .clone()
            .or_else(|| crate::init::namespace().map(str::to_string));
        let name = |suffix: &str| match &ns {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}.health.{suffix}", b.entity),
            _ => format!("{}.health.{suffix}", b.entity),
        };
        let mut gauge_keys = Vec::new();
        let mut series = 1usize;
        if let Some(key) = b.label {
            gauge_keys.push(key);
            series *= LABEL_VALUES;
        }
        if b.target_attribute {
            gauge_keys.push("target");
            series *= TARGETS;
        }
        // The registry keeps the largest limit asked for by any checker.
        let register = |name: &str, limit: usize| {
            views::register(name, Spec::cardinality(limit.min(MAX_LIMIT)));
        };
        let checks_name = name("checks");
        register(
            &checks_name,
            series.saturating_mul(CheckResult::VALUES.len()),
        );
        let checks = meter
            .u64_counter(checks_name)
            .with_unit("{check}")
            .with_description(format!("Health probes of {}s, by result.", b.entity))
            .build();
        let points: Arc<Mutex<Arc<[Point]>>> = Arc::new(Mutex::new(Arc::from([])));
        let gauge =
            |suffix: &str, unit: &'static str, description: String, pick: fn(&Point) -> i64| {
                let gauge_name = name(suffix);
                register(&gauge_name, series);
                let points = points.clone();
                meter
                    .i64_observable_gauge(gauge_name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |observer| {
                        // Only a pointer copy happens under this lock: the callback never waits long.
                        let current = points
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone();
                        for point in current.iter() {
                            observer.observe(pick(point), &point.0);
                        }
                    })
                    .build()
            };
        let gauges = [
            gauge(
                "consecutive_failures",
                "{failure}",
                format!(
                    "Failed health probes in a row, worst {} of the series.",
                    b.entity
                ),
                |p| p.1,
            ),
            gauge(
                "status",
                "1",
                format!("1 if every {} of the series is healthy, else 0.", b.entity),
                |p| p.2,
            ),
        ];
        Arc::new(Shared {
            entity: b.entity.clone(),
            threshold: b.threshold,
            checks,
            label: b.label,
            target_attribute: b.target_attribute,
            gauge_keys,
            on_lost: b.on_lost.clone(),
            on_recovered: b.on_recovered.clone(),
            targets: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            points,
            _gauges: gauges,
        })
    }

    fn lock_targets(&self) -> MutexGuard<'_, HashMap<Box<str>, Entry>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add(&self, target: Target) -> bool {
        let mut targets = self.lock_targets();
        if targets.contains_key(target.id()) {
            return false;
        }
        let mut gauge_values = Vec::new();
        if self.label.is_some() {
            gauge_values.push(target.label.clone());
        }
        if self.target_attribute {
            gauge_values.push(target.id.clone());
        }
        let bind = |result: CheckResult| {
            let mut attrs = vec![KeyValue::new(CheckResult::KEY, result.as_str())];
            attrs.extend(
                self.gauge_keys
                    .iter()
                    .zip(&gauge_values)
                    .map(|(k, v)| KeyValue::new(*k, v.as_str().to_string())),
            );
            self.checks.bind(&attrs)
        };
        let checks = [bind(CheckResult::Pass), bind(CheckResult::Fail)];
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            target: target.clone(),
            generation,
            consecutive: 0,
            lost: false,
            probed: false,
            checks,
            gauge_values: gauge_values.into(),
        };
        targets.insert(target.id().into(), entry);
        true
    }

    /// Remove a target; its gauge series go at once, not at the end of the round.
    pub(super) fn remove(&self, id: &str) -> bool {
        let removed = self.lock_targets().remove(id).is_some();
        if removed {
            self.publish();
        }
        removed
    }

    pub(super) fn status(&self, id: &str) -> Option<TargetHealth> {
        self.lock_targets().get(id).map(|e| TargetHealth {
            healthy: !e.lost,
            consecutive_failures: e.consecutive,
        })
    }

    /// Count a finished probe and say whether the target was lost or recovered.
    fn apply(&self, id: &str, generation: u64, result: CheckResult) -> Option<Change> {
        let mut targets = self.lock_targets();
        let entry = targets.get_mut(id).filter(|e| e.generation == generation)?;
        entry.probed = true;
        if let Some(c) = entry.checks.get(result.index()) {
            c.add(1);
        }
        match result {
            CheckResult::Pass => {
                entry.consecutive = 0;
                let recovered = std::mem::replace(&mut entry.lost, false);
                recovered.then(|| Change::Recovered(entry.target.clone()))
            }
            CheckResult::Fail => {
                entry.consecutive = entry.consecutive.saturating_add(1);
                let lost = !entry.lost && entry.consecutive >= self.threshold;
                entry.lost |= lost;
                lost.then(|| Change::Lost(entry.target.clone()))
            }
        }
    }

    /// Run callbacks outside the lock (they may add or remove targets); a
    /// panicking callback is logged and does not stop the checker.
    fn notify(&self, change: Change) {
        let (callbacks, target, what) = match &change {
            Change::Lost(t) => (self.on_lost.iter().collect::<Vec<_>>(), t, "lost"),
            Change::Recovered(t) => (self.on_recovered.iter().collect(), t, "recovered"),
        };
        tracing::info!(entity = %self.entity, id = target.id(), "target {what}");
        for callback in callbacks {
            if std::panic::catch_unwind(AssertUnwindSafe(|| callback(target))).is_err() {
                tracing::error!(entity = %self.entity, id = target.id(), "health callback for a {what} target panicked");
            }
        }
    }

    /// Recompute the gauge series from the targets probed so far.
    fn publish(&self) {
        let targets = self.lock_targets();
        let mut series: BTreeMap<Vec<&str>, (i64, i64)> = BTreeMap::new();
        for entry in targets.values().filter(|e| e.probed) {
            let values = entry.gauge_values.iter().map(Free::as_str).collect();
            let point = series.entry(values).or_insert((0, 1));
            point.0 = point.0.max(i64::from(entry.consecutive));
            point.1 = point.1.min(i64::from(!entry.lost));
        }
        let points: Arc<[Point]> = series
            .into_iter()
            .map(|(values, (consecutive, status))| {
                let attrs = self
                    .gauge_keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| KeyValue::new(*k, v.to_string()))
                    .collect();
                (attrs, consecutive, status)
            })
            .collect();
        drop(targets);
        *self.points.lock().unwrap_or_else(PoisonError::into_inner) = points;
    }

    pub(super) async fn run<P, Fut, E>(
        self: Arc<Self>,
        probe: Arc<P>,
        interval: Duration,
        timeout: Duration,
        token: CancellationToken,
    ) where
        P: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        'rounds: while !token.is_cancelled() {
            let started = Instant::now();
            let round: Vec<(Target, u64)> = self
                .lock_targets()
                .values()
                .map(|e| (e.target.clone(), e.generation))
                .collect();
            // Dropping the set (on shutdown) aborts the probes in flight.
            let mut probes = JoinSet::new();
            for (target, generation) in round {
                let probe = probe.clone();
                probes.spawn(async move {
                    let id = target.id.clone();
                    let verdict = probe_once(&*probe, target, timeout).await;
                    (id, generation, verdict)
                });
            }
            loop {
                tokio::select! {
                    // Cancellation first: a probe that failed because the service
                    // is shutting down, and is ready in the same poll, is not counted.
                    biased;
                    () = token.cancelled() => break 'rounds,
                    next = probes.join_next() => match next {
                        None => break,
                        Some(Ok((id, generation, result))) => {
                            if let Some(change) = self.apply(id.as_str(), generation, result) {
                                self.notify(change);
                            }
                        }
                        Some(Err(_)) => {}
                    },
                }
            }
            self.publish();
            tokio::select! {
                biased;
                () = token.cancelled() => break,
                () = tokio::time::sleep_until(started + interval) => {}
            }
        }
        // The series describe a checker that no longer runs.
        *self.points.lock().unwrap_or_else(PoisonError::into_inner) = Arc::from([]);
    }
}

/// One probe under the timeout, with panics caught.
async fn probe_once<P, Fut, E>(probe: &P, target: Target, timeout: Duration) -> CheckResult
where
    P: Fn(Target) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let id = target.id.clone();
    let attempt = tokio::time::timeout(timeout, async { probe(target).await });
    match crate::sweep::catch_unwind(attempt).await {
        Ok(Ok(Ok(()))) => CheckResult::Pass,
        Ok(Ok(Err(error))) => {
            tracing::debug!(id = id.as_str(), %error, "health probe failed");
            CheckResult::Fail
        }
        Ok(Err(_)) => {
            tracing::debug!(id = id.as_str(), ?timeout, "health probe timed out");
            CheckResult::Fail
        }
        Err(panic) => {
            tracing::warn!(id = id.as_str(), %panic, "health probe panicked");
            CheckResult::Fail
        }
    }
}

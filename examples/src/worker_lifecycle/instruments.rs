//! The instruments the pool records into: the lifecycle, typed counters and gauges.

#[allow(unused_imports)]
use super::*;

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
    pub(super) drain_total: BoundHistograms<()>,
    pub(super) spawn_failures: BoundCounters<(SpawnFailure, Image)>,
    pub(super) health_checks: BoundCounters<(CheckResult, Image)>,
    pub(super) stranded: BoundCounters<Reconciled>,
    pub(super) activation_duration: BoundHistograms<Image>,
    pub(super) activation_failures: BoundCounters<Image>,
    pub(super) misses: BoundCounters<(Image, MissReason)>,
    pub(super) effective_target: Gauge<i64>,
    pub(super) headroom: Gauge<i64>,
    pub(super) image_attrs: Vec<[KeyValue; 1]>,
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
    pub(super) fn precreate(&self) {
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

    pub(super) fn image_attrs(&self, image: Image) -> &[KeyValue] {
        self.image_attrs
            .get(image.index())
            .map_or(&[][..], |a| &a[..])
    }
}

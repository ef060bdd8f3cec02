//! Per-instrument cardinality limits, and the histogram boundaries Vigil's
//! instruments use.
//!
//! Histogram boundaries are set on each instrument when it is built
//! (`HistogramBuilder::with_boundaries`), so they belong to that instrument
//! alone: a histogram Vigil did not build (a library's, a third party's)
//! keeps the SDK's defaults or its own, whatever its unit.
//!
//! Cardinality limits are the one setting OpenTelemetry 0.33 takes only
//! through a view, and views are installed when the meter provider is built,
//! before Vigil's instruments exist. So the provider gets one view ([`view`])
//! that looks the instrument's *name* up in a process-wide registry, filled
//! by Vigil's instrument builders ([`register`]) just before they build the
//! OTel instrument. An instrument whose name was never registered gets no
//! view at all (the SDK's defaults). Two registrations of one name (two
//! builders of the same instrument, e.g. two sweepers sharing `sweep.runs`)
//! keep the larger limit, so the order in which they are built does not
//! matter. The registry holds one entry per instrument name Vigil builds, so
//! it is bounded by the program, not by its input.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use opentelemetry_sdk::metrics::{Instrument, Stream};

/// Boundaries for durations in seconds, from 5 ms to 5 min.
pub const SECONDS_BOUNDARIES: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// `http.server.request.duration` boundaries from the HTTP semantic conventions.
pub const HTTP_DURATION_BOUNDARIES: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `gen_ai.client.token.usage` boundaries from the gen-AI semantic conventions.
pub const GEN_AI_TOKEN_BOUNDARIES: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// `gen_ai.client.operation.duration` boundaries from the gen-AI semantic conventions.
pub const GEN_AI_DURATION_BOUNDARIES: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Stream settings for one instrument name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// Most attribute sets kept before overflow (`None`: the SDK's 2000).
    pub cardinality_limit: Option<usize>,
}

impl Spec {
    /// A spec with this cardinality limit.
    pub fn cardinality(limit: usize) -> Self {
        Spec {
            cardinality_limit: Some(limit),
        }
    }
}

fn registry() -> &'static RwLock<HashMap<String, Spec>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, Spec>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Record the settings for the instrument called `name` (call before
/// building it). A second registration keeps the larger limit.
pub fn register(name: &str, spec: Spec) {
    let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
    let entry = map.entry(name.to_string()).or_default();
    entry.cardinality_limit = match (entry.cardinality_limit, spec.cardinality_limit) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

/// The settings registered for `name`.
pub fn lookup(name: &str) -> Option<Spec> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .copied()
}

/// The view to install on the meter provider: the registered cardinality
/// limit of the instrument's name, and nothing for names Vigil never
/// registered.
pub fn view(instrument: &Instrument) -> Option<Stream> {
    let limit = lookup(instrument.name())?.cardinality_limit?;
    Stream::builder().with_cardinality_limit(limit).build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Lifecycle, Outcome};
    use crate::testing::Harness;

    /// The SDK's default histogram boundaries (milliseconds).
    const SDK_DEFAULT: [f64; 15] = [
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];

    #[test]
    fn a_third_party_histogram_in_seconds_is_left_alone_while_ours_get_boundaries() {
        let h = Harness::new();
        let theirs = h
            .meter()
            .f64_histogram("tower.request.duration")
            .with_unit("s")
            .build();
        theirs.record(0.2, &[]);
        let ours: Lifecycle<Outcome, Outcome> = Lifecycle::builder("job")
            .with_meter(h.meter())
            .with_namespace("views")
            .build();
        ours.record_duration(Outcome::Success, 0.2);
        let bounds = |name, labels| h.histogram(name, labels).map(|v| v.bounds);
        assert_eq!(
            bounds("tower.request.duration", &[]),
            Some(SDK_DEFAULT.to_vec())
        );
        assert_eq!(
            bounds(
                "views.job.lifecycle.transition.duration",
                &[("operation", "success")]
            ),
            Some(SECONDS_BOUNDARIES.to_vec())
        );
        assert_eq!(lookup("tower.request.duration"), None);
    }

    #[test]
    fn a_second_registration_keeps_the_larger_limit() {
        register("views.test.twice", Spec::cardinality(50));
        register("views.test.twice", Spec::cardinality(20));
        assert_eq!(lookup("views.test.twice"), Some(Spec::cardinality(50)));
        register("views.test.twice", Spec::cardinality(70));
        assert_eq!(lookup("views.test.twice"), Some(Spec::cardinality(70)));
    }
}

//! Per-instrument stream settings (histogram boundaries, cardinality limits),
//! registered by Vigil's instruments just before they are built.
//!
//! The OpenTelemetry SDK applies views when an instrument is created, and
//! views can only be installed when the provider is built. Vigil's instruments
//! are created after [`mod@crate::init`], so the provider gets one view
//! ([`view`]) that looks the instrument's name up in this registry: an
//! instrument constructor calls [`register`] and then builds the OTel
//! instrument, and the view sees the settings. Instruments Vigil does not
//! know keep the SDK's defaults, except that histograms in seconds (`unit =
//! "s"`) get [`SECONDS_BOUNDARIES`] instead of the SDK's millisecond ones.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use opentelemetry_sdk::metrics::{Aggregation, Instrument, InstrumentKind, Stream};

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

/// Settings for one instrument's stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spec {
    /// Histogram bucket boundaries (`None`: the default rule).
    pub boundaries: Option<Vec<f64>>,
    /// Most attribute sets kept before overflow (`None`: the SDK's 2000).
    pub cardinality_limit: Option<usize>,
}

fn registry() -> &'static RwLock<HashMap<String, Spec>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, Spec>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Record the settings for the instrument called `name` (call before building it).
pub fn register(name: &str, spec: Spec) {
    let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
    map.insert(name.to_string(), spec);
}

/// The settings registered for `name`.
pub fn lookup(name: &str) -> Option<Spec> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}

/// The view to install on the meter provider.
pub fn view(instrument: &Instrument) -> Option<Stream> {
    let spec = lookup(instrument.name());
    let is_histogram = instrument.kind() == InstrumentKind::Histogram;
    let boundaries = match spec.as_ref().and_then(|s| s.boundaries.clone()) {
        Some(b) if is_histogram => Some(b),
        None if is_histogram && instrument.unit() == "s" => Some(SECONDS_BOUNDARIES.to_vec()),
        _ => None,
    };
    let limit = spec.as_ref().and_then(|s| s.cardinality_limit);
    if boundaries.is_none() && limit.is_none() {
        return None;
    }
    let mut stream = Stream::builder();
    if let Some(b) = boundaries {
        stream = stream.with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries: b,
            record_min_max: true,
        });
    }
    if let Some(l) = limit {
        stream = stream.with_cardinality_limit(l);
    }
    stream.build().ok()
}

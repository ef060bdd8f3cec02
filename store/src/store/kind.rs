//! What kind of OTLP metric a point belongs to, with the temporality the store's folding rules
//! depend on.

use crate::translate::OtelKind;

/// The kind of an incoming metric, with its temporality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Sum.
    Sum {
        /// Whether it only goes up.
        monotonic: bool,
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// A Gauge.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram {
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// An exponential histogram.
    ExpHistogram {
        /// Delta (true) or cumulative temporality.
        delta: bool,
    },
    /// A summary.
    Summary,
}

impl Kind {
    /// The kind without temporality, as the translation sees it.
    pub fn otel_kind(self) -> OtelKind {
        match self {
            Kind::Sum { monotonic, .. } => OtelKind::Sum { monotonic },
            Kind::Gauge => OtelKind::Gauge,
            Kind::Histogram { .. } => OtelKind::Histogram,
            Kind::ExpHistogram { .. } => OtelKind::ExponentialHistogram,
            Kind::Summary => OtelKind::Summary,
        }
    }

    pub(super) fn is_delta(self) -> bool {
        matches!(
            self,
            Kind::Sum { delta: true, .. }
                | Kind::Histogram { delta: true }
                | Kind::ExpHistogram { delta: true }
        )
    }

    pub(super) fn tag(self) -> &'static str {
        match self.otel_kind() {
            OtelKind::Sum { monotonic: true } => "sum+",
            OtelKind::Sum { monotonic: false } => "sum",
            OtelKind::Gauge => "gauge",
            OtelKind::Histogram => "histogram",
            OtelKind::ExponentialHistogram => "exphistogram",
            OtelKind::Summary => "summary",
        }
    }
}

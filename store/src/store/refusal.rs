//! Why the store refused a metric or a point: [`Refusal`] for a whole metric, [`PointError`]
//! for one data point, each with the message the sender reads.
//!
//! These are the store's answers, not transport errors: the OTLP receivers count them as
//! rejected points and put the first message into `partial_success`, and no request fails
//! because of them. The checks that produce most of them live in `checks.rs`; this module only
//! names the outcomes and words them.

use std::time::Duration;

use crate::translate::PromType;

/// A metric the store refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The metric has no name.
    EmptyName,
    /// A Sum or Histogram without an aggregation temporality.
    UnspecifiedTemporality {
        /// The metric.
        metric: String,
    },
    /// The Prometheus family already exists with another type.
    TypeConflict {
        /// The Prometheus family name.
        family: String,
        /// The type the family has.
        existing: PromType,
        /// The type this metric would give it.
        incoming: PromType,
    },
    /// A metric without data.
    NoData {
        /// The metric.
        metric: String,
    },
    /// A name with no letter or digit: nothing is left of it on a page.
    UnusableName {
        /// The metric.
        metric: String,
    },
    /// A name that becomes `target_info`, the resources' own series.
    ReservedName {
        /// The metric.
        metric: String,
    },
    /// Another OTel metric already gives the same Prometheus name.
    NameCollision {
        /// The metric refused.
        metric: String,
        /// The Prometheus family name.
        family: String,
        /// The OTel name that holds it.
        holder: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::EmptyName => write!(f, "metric with an empty name"),
            Refusal::UnspecifiedTemporality { metric } => {
                write!(
                    f,
                    "metric {metric:?}: aggregation temporality is unspecified"
                )
            }
            Refusal::TypeConflict {
                family,
                existing,
                incoming,
            } => write!(
                f,
                "metric family {family:?} already has type {}, refusing {} points",
                existing.as_str(),
                incoming.as_str()
            ),
            Refusal::NoData { metric } => write!(f, "metric {metric:?} has no data"),
            Refusal::UnusableName { metric } => write!(
                f,
                "metric {metric:?}: the name has no letter or digit, so no Prometheus name is left"
            ),
            Refusal::NameCollision {
                metric,
                family,
                holder,
            } => write!(
                f,
                "metric {metric:?}: its Prometheus name {family:?} is already given by metric {holder:?}"
            ),
            Refusal::ReservedName { metric } => write!(
                f,
                "metric {metric:?}: target_info is reserved for the resources' own series"
            ),
        }
    }
}

/// Why one data point was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum PointError {
    /// The attribute set repeats a key.
    DuplicateAttribute,
    /// A number point without a value.
    MissingValue,
    /// Histogram bucket counts do not match the bounds.
    BucketMismatch {
        /// Number of bounds.
        bounds: usize,
        /// Number of counts.
        counts: usize,
    },
    /// Histogram bounds not strictly increasing, or not finite.
    BadBounds,
    /// A delta point overlapping the previous one of its series.
    Overlap,
    /// A point of another kind than its metric (cannot happen with OTLP framing).
    KindMismatch,
    /// A point stamped further in the future than the store allows.
    Future {
        /// The allowed skew.
        skew: Duration,
    },
    /// A monotonic sum whose value is negative or NaN.
    NotACount,
    /// A summary quantile outside [0, 1].
    BadQuantile(f64),
    /// An exponential histogram scale outside [-10, 20], the range OTLP defines.
    BadScale(i32),
    /// A histogram whose count is not the sum of its buckets.
    CountMismatch {
        /// The point's count.
        count: u64,
        /// The sum of its bucket counts.
        buckets: u64,
    },
    /// A new series whose Prometheus labels are those of another series of its metric (see
    /// `clash.rs`).
    LabelClash,
    /// A point past a metric's series limit that its overflow series cannot take (see
    /// `overflow.rs`).
    OverflowRefused {
        /// The metric's series limit.
        limit: usize,
        /// Why the overflow series cannot take it.
        cause: &'static str,
    },
    /// A new series past a series limit.
    SeriesLimit {
        /// The limit.
        limit: usize,
        /// Per metric (of one resource and scope), or the whole store's.
        per_metric: bool,
    },
}

impl std::fmt::Display for PointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PointError::DuplicateAttribute => write!(f, "data point attributes repeat a key"),
            PointError::MissingValue => write!(f, "number data point without a value"),
            PointError::BucketMismatch { bounds, counts } => write!(
                f,
                "histogram has {bounds} bounds but {counts} bucket counts (want bounds + 1)"
            ),
            PointError::BadBounds => {
                write!(f, "histogram bounds must be finite and strictly increasing")
            }
            PointError::Overlap => {
                write!(f, "delta point overlaps the previous point of its series")
            }
            PointError::KindMismatch => write!(f, "data point kind differs from its metric"),
            PointError::Future { skew } => {
                write!(f, "data point is stamped more than {skew:?} in the future")
            }
            PointError::NotACount => {
                write!(f, "a monotonic sum's value must be a number at least 0")
            }
            PointError::BadQuantile(q) => write!(f, "summary quantile {q} is outside [0, 1]"),
            PointError::BadScale(s) => {
                write!(f, "exponential histogram scale {s} is outside [-10, 20]")
            }
            PointError::SeriesLimit {
                limit,
                per_metric: true,
            } => write!(
                f,
                "the metric already holds its limit of {limit} series for this resource; new series are refused"
            ),
            PointError::SeriesLimit {
                limit,
                per_metric: false,
            } => write!(
                f,
                "the collector holds its limit of {limit} series; new series are refused"
            ),
            PointError::OverflowRefused { limit, cause } => write!(
                f,
                "the metric already holds its limit of {limit} series for this resource, and {cause}; the point is refused"
            ),
            PointError::CountMismatch { count, buckets } => write!(
                f,
                "histogram count {count} is not the sum of its bucket counts ({buckets})"
            ),
            PointError::LabelClash => write!(
                f,
                "the data point's attributes give the same Prometheus labels as another series of its metric (keys that differ only by characters labels cannot hold, values that print alike, or empty values)"
            ),
        }
    }
}

/// Why points were refused, grouped for the collector's self-telemetry
/// (`vigil_store_refused_points_total{reason}`): few enough values to alert on, each pointing
/// at one kind of fix on the sender's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A series limit (`max_series_per_metric`, `max_series`) was reached.
    SeriesLimit,
    /// The family already exists with another type.
    TypeConflict,
    /// The metric's name is empty, unusable, reserved or taken by another OTel name.
    Name,
    /// The metric as a whole is unusable (no temporality, no data).
    Metric,
    /// A point stamped too far in the future.
    Future,
    /// A delta point overlapping the previous one of its series.
    Overlap,
    /// Anything else wrong with one point (values, buckets, attributes).
    Point,
}

impl Reason {
    /// Every reason, in index order.
    pub const ALL: [Reason; 7] = [
        Reason::SeriesLimit,
        Reason::TypeConflict,
        Reason::Name,
        Reason::Metric,
        Reason::Future,
        Reason::Overlap,
        Reason::Point,
    ];

    /// Its position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SeriesLimit => "series_limit",
            Reason::TypeConflict => "type_conflict",
            Reason::Name => "name",
            Reason::Metric => "metric",
            Reason::Future => "future",
            Reason::Overlap => "overlap",
            Reason::Point => "point",
        }
    }
}

impl Refusal {
    /// The self-telemetry reason.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::TypeConflict { .. } => Reason::TypeConflict,
            Refusal::EmptyName
            | Refusal::UnusableName { .. }
            | Refusal::ReservedName { .. }
            | Refusal::NameCollision { .. } => Reason::Name,
            Refusal::UnspecifiedTemporality { .. } | Refusal::NoData { .. } => Reason::Metric,
        }
    }
}

impl PointError {
    /// The self-telemetry reason.
    pub fn reason(&self) -> Reason {
        match self {
            PointError::SeriesLimit { .. } | PointError::OverflowRefused { .. } => {
                Reason::SeriesLimit
            }
            PointError::Future { .. } => Reason::Future,
            PointError::Overlap => Reason::Overlap,
            PointError::DuplicateAttribute
            | PointError::MissingValue
            | PointError::BucketMismatch { .. }
            | PointError::BadBounds
            | PointError::KindMismatch
            | PointError::NotACount
            | PointError::BadQuantile(_)
            | PointError::BadScale(_)
            | PointError::CountMismatch { .. }
            | PointError::LabelClash => Reason::Point,
        }
    }
}

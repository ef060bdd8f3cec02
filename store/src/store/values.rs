//! The values a series holds and the points that feed them: the store's data model, with no
//! rules attached.
//!
//! Incoming points ([`NumberPoint`], [`HistogramPoint`], …) borrow from the request; stored
//! values ([`Value`] and its [`Histogram`], [`ExpHistogram`], [`Summary`]) are owned and
//! cumulative. Renderers, the snapshot and the remote-write exporter read these types; how a
//! point changes a value is decided in `series.rs` alone.

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, exemplar, summary_data_point::ValueAtQuantile,
};

use super::attrs::OwnedAttrs;

/// A scalar value as sent: integers stay integers so they render exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
}

impl Number {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Double(d) => d,
        }
    }

    /// The sum; integers that would overflow become a float.
    pub(super) fn add(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_add(b) {
                Some(v) => Number::Int(v),
                None => Number::Double(a as f64 + b as f64),
            },
            (a, b) => Number::Double(a.as_f64() + b.as_f64()),
        }
    }

    /// The difference; integers that would overflow become a float.
    pub(super) fn sub(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_sub(b) {
                Some(v) => Number::Int(v),
                None => Number::Double(a as f64 - b as f64),
            },
            (a, b) => Number::Double(a.as_f64() - b.as_f64()),
        }
    }
}

/// A scalar point (Sum or Gauge).
#[derive(Clone, Copy, Debug)]
pub struct NumberPoint {
    /// Start of the aggregation interval, Unix nanoseconds (0 = unknown).
    pub start: u64,
    /// Time of the observation, Unix nanoseconds.
    pub time: u64,
    /// The value.
    pub value: Number,
}

/// An explicit-bucket histogram point, borrowed from the request.
#[derive(Clone, Copy, Debug)]
pub struct HistogramPoint<'a> {
    /// Start of the aggregation interval, Unix nanoseconds.
    pub start: u64,
    /// Time of the observation, Unix nanoseconds.
    pub time: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when known.
    pub sum: Option<f64>,
    /// Smallest observation, when known.
    pub min: Option<f64>,
    /// Largest observation, when known.
    pub max: Option<f64>,
    /// Bucket upper bounds (exclusive of +Inf).
    pub bounds: &'a [f64],
    /// Per-bucket counts: `bounds.len() + 1` entries.
    pub counts: &'a [u64],
}

/// An exponential histogram point, borrowed from the request.
#[derive(Clone, Copy, Debug)]
pub struct ExpHistogramPoint<'a> {
    /// Start of the aggregation interval, Unix nanoseconds.
    pub start: u64,
    /// Time of the observation, Unix nanoseconds.
    pub time: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when known.
    pub sum: Option<f64>,
    /// Smallest observation, when known.
    pub min: Option<f64>,
    /// Largest observation, when known.
    pub max: Option<f64>,
    /// Resolution: base = 2^(2^-scale).
    pub scale: i32,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Positive buckets: index offset and counts.
    pub positive: (i32, &'a [u64]),
    /// Negative buckets: index offset and counts.
    pub negative: (i32, &'a [u64]),
}

/// A summary point, borrowed from the request.
#[derive(Clone, Copy, Debug)]
pub struct SummaryPoint<'a> {
    /// Start of the aggregation interval, Unix nanoseconds.
    pub start: u64,
    /// Time of the observation, Unix nanoseconds.
    pub time: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Quantile values.
    pub quantiles: &'a [ValueAtQuantile],
}

/// What the store knows about a series that never changes: its attributes and
/// its label text, built once when the series is created.
#[derive(Debug)]
pub struct SeriesMeta {
    /// The OTel attributes, sorted by key.
    pub attrs: OwnedAttrs,
    /// Prometheus label text without braces: `job="a",instance="b",k="v",…`.
    pub labels: LabelText,
}

/// A series' label text. Most series' text is the `job`/`instance` labels of their resource,
/// their own attributes' labels, then their scope's labels; the first and last parts are the
/// same for every series of a metric and kept once ([`LabelFrame`]), so a series holds only its
/// own part (about 110 bytes less a series with a service instance and a named scope). A
/// series whose text is not that (a collision merged or renamed labels across the parts) holds
/// it whole. Either way the text is exactly what the translation gives.
#[derive(Debug)]
pub enum LabelText {
    /// The whole text.
    Whole(Box<str>),
    /// The metric's frame around the series' own labels.
    Framed {
        /// Shared by the series of one metric.
        frame: Arc<LabelFrame>,
        /// The series' own labels.
        own: Box<str>,
    },
}

/// The label text around the series' own labels, shared by the series of one metric.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LabelFrame {
    /// `job="…",instance="…"` (either may be absent).
    pub prefix: Box<str>,
    /// `otel_scope_name="…",…`.
    pub suffix: Box<str>,
}

impl LabelText {
    /// Append the text to `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            LabelText::Whole(text) => out.push_str(text),
            LabelText::Framed { frame, own } => {
                let mut first = true;
                for part in [&*frame.prefix, own, &*frame.suffix] {
                    if part.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    out.push_str(part);
                    first = false;
                }
            }
        }
    }

    /// The text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            LabelText::Whole(text) => std::borrow::Cow::Borrowed(text),
            LabelText::Framed { .. } => {
                let mut out = String::with_capacity(self.len());
                self.write_to(&mut out);
                std::borrow::Cow::Owned(out)
            }
        }
    }

    /// Whether the text is `text`, compared part by part (no copy is made).
    pub fn is(&self, text: &str) -> bool {
        match self {
            LabelText::Whole(own) => **own == *text,
            LabelText::Framed { frame, own } => {
                let mut rest = text;
                let mut first = true;
                for part in [&*frame.prefix, own, &*frame.suffix] {
                    if part.is_empty() {
                        continue;
                    }
                    if !first {
                        let Some(r) = rest.strip_prefix(',') else {
                            return false;
                        };
                        rest = r;
                    }
                    let Some(r) = rest.strip_prefix(part) else {
                        return false;
                    };
                    rest = r;
                    first = false;
                }
                rest.is_empty()
            }
        }
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        match self {
            LabelText::Whole(text) => text.len(),
            LabelText::Framed { frame, own } => {
                let parts = [frame.prefix.len(), own.len(), frame.suffix.len()];
                let present = parts.iter().filter(|n| **n > 0).count();
                parts.iter().sum::<usize>() + present.saturating_sub(1)
            }
        }
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for LabelText {
    fn from(text: &str) -> Self {
        LabelText::Whole(text.into())
    }
}

/// An explicit-bucket histogram's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Bucket upper bounds, shared between series with the same layout.
    pub bounds: Arc<[f64]>,
    /// Per-bucket (non-cumulative) counts, `bounds.len() + 1` entries.
    pub counts: Vec<u64>,
    /// Total observations.
    pub count: u64,
    /// Sum of observations (`None` when the source did not send one).
    pub sum: Option<f64>,
    /// Smallest observation.
    pub min: Option<f64>,
    /// Largest observation.
    pub max: Option<f64>,
}

/// One side (positive or negative) of an exponential histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpBuckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` upwards.
    pub counts: Vec<u64>,
}

/// An exponential histogram's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpHistogram {
    /// Resolution.
    pub scale: i32,
    /// Total observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: Option<f64>,
    /// Smallest observation.
    pub min: Option<f64>,
    /// Largest observation.
    pub max: Option<f64>,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Positive buckets.
    pub positive: ExpBuckets,
    /// Negative buckets.
    pub negative: ExpBuckets,
}

/// A summary's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Total observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// `(quantile, value)` pairs, as sent.
    pub quantiles: Vec<(f64, f64)>,
}

/// The value held by a series.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Sum or Gauge.
    Number(Number),
    /// Explicit-bucket histogram.
    Histogram(Box<Histogram>),
    /// Exponential histogram.
    Exp(Box<ExpHistogram>),
    /// Summary.
    Summary(Box<Summary>),
}

/// An exemplar kept for OpenMetrics exposition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredExemplar {
    /// The exemplar's value.
    pub value: f64,
    /// When it was observed, Unix nanoseconds (0 = unknown).
    pub time: u64,
    /// Trace id (all zero when absent).
    pub trace_id: [u8; 16],
    /// Span id (all zero when absent).
    pub span_id: [u8; 8],
}

impl StoredExemplar {
    /// From the wire type; `None` for an exemplar without a value.
    pub fn from_otlp(e: &Exemplar) -> Option<Self> {
        let value = match e.value? {
            exemplar::Value::AsDouble(d) => d,
            exemplar::Value::AsInt(i) => i as f64,
        };
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        if e.trace_id.len() == 16 {
            trace_id.copy_from_slice(&e.trace_id);
        }
        if e.span_id.len() == 8 {
            span_id.copy_from_slice(&e.span_id);
        }
        Some(StoredExemplar {
            value,
            time: e.time_unix_nano,
            trace_id,
            span_id,
        })
    }
}

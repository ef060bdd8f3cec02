//! The values a series holds and the points that feed them: the store's data model, with no
//! rules attached.
//!
//! Incoming points ([`NumberPoint`], [`HistogramPoint`], …) borrow from the request; stored
//! values ([`Value`] and its [`Histogram`], [`ExpHistogram`], [`Summary`]) are owned and
//! cumulative. Renderers, the snapshot and the remote-write exporter read these types; how a
//! point changes a value is decided in `series.rs` alone.

use std::borrow::Cow;
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
    /// Its label text without braces (for Prometheus: `job="a",instance="b",k="v",…`), as
    /// its exposition made it; read it with [`SeriesMeta::write_labels`] and friends.
    pub labels: LabelText,
}

/// A series' label text, in the form that costs it least. Most series' text is their resource's
/// part, their own attributes' labels, then their scope's part; the first and last parts are
/// the same for every series of a metric and kept once ([`LabelFrame`]). The own part is
/// either kept (*framed*) or, when the frame's `write` gives exactly it from the series'
/// attributes, not kept at all (*derived*: about 100 bytes less a series). A series whose text
/// is neither holds it whole. Whichever form, the text is exactly what the exposition made; it
/// checks the form against the text when the series is created. 24 bytes, so that a series'
/// attributes and text fit one 64-byte block with their reference counts.
#[derive(Debug)]
pub struct LabelText {
    /// The metric's frame, unless the text is kept whole.
    frame: Option<Arc<LabelFrame>>,
    /// The whole text (no frame), the own part (framed), or nothing (derived).
    own: Option<Box<str>>,
}

/// The form a [`LabelText`] is kept in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelForm {
    /// The whole text.
    Whole,
    /// The metric's frame around the series' own labels, kept.
    Framed,
    /// The metric's frame around what its `write` makes of the series' attributes.
    Derived,
}

/// The label text around the series' own labels, shared by the series of one metric.
#[derive(Debug, Default)]
pub struct LabelFrame {
    /// `job="…",instance="…"` (either may be absent).
    pub prefix: Box<str>,
    /// `otel_scope_name="…",…`.
    pub suffix: Box<str>,
    /// Writes a derived series' own labels from the frame and its attributes.
    pub write: Option<fn(&LabelFrame, &OwnedAttrs, &mut String)>,
    /// What `write` keeps for the attribute keys of the metric's first series (the exposition's
    /// to fill and read; for Prometheus, each key's label name).
    pub keys: Box<[(Arc<str>, Box<str>)]>,
}

impl LabelText {
    /// A text kept whole.
    pub fn whole(text: Box<str>) -> Self {
        LabelText {
            frame: None,
            own: Some(text),
        }
    }

    /// `frame` around `own`.
    pub fn framed(frame: Arc<LabelFrame>, own: Box<str>) -> Self {
        LabelText {
            frame: Some(frame),
            own: Some(own),
        }
    }

    /// `frame` around what its `write` makes of the series' attributes.
    pub fn derived(frame: Arc<LabelFrame>) -> Self {
        LabelText {
            frame: Some(frame),
            own: None,
        }
    }

    /// The form it is kept in.
    pub fn form(&self) -> LabelForm {
        match (&self.frame, &self.own) {
            (None, _) => LabelForm::Whole,
            (Some(_), Some(_)) => LabelForm::Framed,
            (Some(_), None) => LabelForm::Derived,
        }
    }

    /// Append the text of a series with attributes `attrs` to `out`: the frame's parts and the
    /// own part joined by commas, empty parts left out.
    pub fn write_with(&self, attrs: &OwnedAttrs, out: &mut String) {
        let Some(frame) = &self.frame else {
            out.push_str(self.own.as_deref().unwrap_or(""));
            return;
        };
        let mut wrote = false;
        if !frame.prefix.is_empty() {
            out.push_str(&frame.prefix);
            wrote = true;
        }
        // The own part's length is known only once written: write the comma, take it back if
        // nothing followed.
        let before = out.len();
        if wrote {
            out.push(',');
        }
        let mark = out.len();
        match (&self.own, frame.write) {
            (Some(own), _) => out.push_str(own),
            (None, Some(write)) => write(frame, attrs, out),
            (None, None) => {}
        }
        if out.len() == mark {
            out.truncate(before);
        } else {
            wrote = true;
        }
        if !frame.suffix.is_empty() {
            if wrote {
                out.push(',');
            }
            out.push_str(&frame.suffix);
        }
    }

    /// The text, when it is kept whole.
    pub fn as_whole(&self) -> Option<&str> {
        match (&self.frame, &self.own) {
            (None, Some(text)) => Some(text),
            (None, None) => Some(""),
            _ => None,
        }
    }
}

impl SeriesMeta {
    /// Append the label text to `out`.
    pub fn write_labels(&self, out: &mut String) {
        self.labels.write_with(&self.attrs, out);
    }

    /// The label text.
    pub fn label_text(&self) -> Cow<'_, str> {
        match self.labels.as_whole() {
            Some(text) => Cow::Borrowed(text),
            None => {
                let mut out = String::new();
                self.write_labels(&mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Whether the label text is `text`.
    pub fn labels_are(&self, text: &str) -> bool {
        self.label_text() == text
    }
}

impl From<&str> for LabelText {
    fn from(text: &str) -> Self {
        LabelText::whole(text.into())
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

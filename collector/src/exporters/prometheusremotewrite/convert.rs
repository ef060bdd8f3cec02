//! From a point's cumulative result in the store to remote-write series: names and labels as
//! on `/metrics` (the store's label text, the translate module's names), values as the
//! store folded them.
//!
//! Per point: a counter or gauge is one float sample; an explicit-bucket histogram is its
//! `_bucket{le}` series (cumulative), `_sum` and `_count`; an exponential histogram is a native
//! histogram in 2.0 and classic buckets at its exponential bounds in 1.0 (the same buckets
//! `/metrics` shows); a summary is its `{quantile}` series, `_sum` and `_count`. With
//! `export_created_metric`, counters, histograms and summaries get a `_created` series (the
//! start time in seconds), as OpenMetrics pages do. A resource seen in a batch gets a
//! `target_info` sample at the batch's latest point time when it has attributes beyond `job`
//! and `instance`, as on `/metrics`.
//!
//! Labels: the series' labels, then `external_labels` and (with
//! `resource_to_telemetry_conversion`) the resource's attributes where the series has no label
//! of that name: a series' own label wins, as in Prometheus' external labels. Empty values are
//! left out (in Prometheus an empty label is an absent one).

use std::borrow::Cow;
use std::sync::Arc;

use super::config::{Protocol, Settings};
use super::wire::{MetricType, Native, RequestWriter};
use crate::export::buckets::{self, Bucket};
use crate::store::{Current, ExpHistogram, ResourceInfo, Value};
use crate::translate::{self, PromType};

/// The naming rules of one exporter.
pub(super) struct Naming {
    namespace: Option<String>,
    suffixes: bool,
    created: bool,
    resource_labels: bool,
    external: Vec<(String, String)>,
}

impl Naming {
    /// From the exporter's settings.
    pub(super) fn new(s: &Settings) -> Naming {
        Naming {
            namespace: s.namespace.clone(),
            suffixes: s.add_metric_suffixes,
            created: s.created_series,
            resource_labels: s.resource_labels,
            external: s.external_labels.clone(),
        }
    }
}

/// Reused buffers for one conversion pass.
#[derive(Default)]
pub(super) struct Scratch {
    le: String,
}

/// Nanoseconds to milliseconds.
pub(super) fn millis(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

/// Writes the series of one point into `out`.
pub(super) fn point(
    naming: &Naming,
    c: &Current<'_>,
    labels: &str,
    out: &mut RequestWriter,
    scratch: &mut Scratch,
) {
    let prom = &c.desc.prom;
    let base_name = |suffix_family: &str| -> String {
        let name: Cow<'_, str> = if naming.suffixes {
            Cow::Borrowed(suffix_family)
        } else {
            translate::sanitize_metric_name(&c.desc.name)
        };
        match &naming.namespace {
            Some(ns) => format!("{ns}{name}"),
            None => name.into_owned(),
        }
    };
    // `family` carries `_total` for counters; `om` is the name `_created` extends.
    let family = base_name(&prom.family);
    let om = base_name(&prom.openmetrics_family);
    let kind = match prom.prom_type {
        PromType::Counter => MetricType::Counter,
        PromType::Gauge => MetricType::Gauge,
        PromType::Histogram => MetricType::Histogram,
        PromType::Summary => MetricType::Summary,
        PromType::Info => MetricType::Info,
        PromType::Unknown => MetricType::Unknown,
    };
    let unit = prom.unit.as_deref().unwrap_or("");
    let meta = super::wire::Meta {
        kind,
        family: &family,
        help: &c.desc.description,
        unit,
    };
    let mut base: Vec<(Cow<'_, str>, Cow<'_, str>)> = parse_labels(labels);
    extend(&mut base, naming, c.resource);
    let ts = millis(c.time);
    let created_ms = if c.start > 0 && kind != MetricType::Gauge && kind != MetricType::Unknown {
        millis(c.start)
    } else {
        0
    };
    let emit = |name: &str, extra: Option<(&str, &str)>, value: f64, out: &mut RequestWriter| {
        let labels = sorted(&base, name, extra);
        out.float(&labels, value, ts, created_ms, &meta);
    };
    // Classic buckets: `(upper bound, cumulative count)` below `+Inf`, then `+Inf`, sum, count.
    let classic = |finite: &mut dyn Iterator<Item = Bucket>,
                   inf: u64,
                   sum: Option<f64>,
                   le: &mut String,
                   out: &mut RequestWriter| {
        let bucket = format!("{family}_bucket");
        for b in finite {
            le.clear();
            translate::write_f64(b.le, le);
            emit(&bucket, Some(("le", le)), b.cumulative as f64, out);
        }
        emit(&bucket, Some(("le", "+Inf")), inf as f64, out);
        if let Some(sum) = sum {
            emit(&format!("{family}_sum"), None, sum, out);
        }
        emit(&format!("{family}_count"), None, inf as f64, out);
    };
    match c.value {
        Value::Number(n) => emit(&family, None, n.as_f64(), out),
        Value::Histogram(h) => {
            let mut cum = buckets::explicit(&h.bounds, &h.counts, h.count);
            classic(&mut cum.finite, cum.inf, h.sum, &mut scratch.le, out);
        }
        Value::Exp(e) => match native(e) {
            Some(h) if out_is_v2(out) => {
                let labels = sorted(&base, &family, None);
                out.native(&labels, &h, ts, created_ms, &meta);
            }
            _ => {
                let mut cum = buckets::exponential(e);
                classic(&mut cum.finite, cum.inf, e.sum, &mut scratch.le, out)
            }
        },
        Value::Summary(s) => {
            for (q, v) in &s.quantiles {
                scratch.le.clear();
                translate::write_f64(*q, &mut scratch.le);
                emit(&family, Some(("quantile", &scratch.le)), *v, out);
            }
            emit(&format!("{family}_sum"), None, s.sum, out);
            emit(&format!("{family}_count"), None, s.count as f64, out);
        }
    }
    if naming.created && created_ms != 0 {
        emit(&format!("{om}_created"), None, c.start as f64 / 1e9, out);
    }
}

fn out_is_v2(out: &RequestWriter) -> bool {
    out.protocol() == Protocol::V2
}

/// The `target_info` sample of a resource, when it has attributes beyond `job`/`instance`.
pub(super) fn target_info(naming: &Naming, r: &ResourceInfo, time: u64, out: &mut RequestWriter) {
    let Some(extra) = &r.target_info_labels else {
        return;
    };
    let mut base: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    if let Some(job) = &r.job {
        base.push((Cow::Borrowed("job"), Cow::Borrowed(&**job)));
    }
    if let Some(instance) = &r.instance {
        base.push((Cow::Borrowed("instance"), Cow::Borrowed(&**instance)));
    }
    for (k, v) in parse_labels(extra) {
        if !base.iter().any(|(n, _)| *n == k) {
            base.push((k, v));
        }
    }
    for (k, v) in &naming.external {
        if !base.iter().any(|(n, _)| n == k) {
            base.push((Cow::Borrowed(k), Cow::Borrowed(v)));
        }
    }
    let name = match &naming.namespace {
        Some(ns) => format!("{ns}target_info"),
        None => "target_info".to_owned(),
    };
    let meta = super::wire::Meta {
        kind: MetricType::Gauge,
        family: &name,
        help: "Target metadata",
        unit: "",
    };
    let labels = sorted(&base, &name, None);
    out.float(&labels, 1.0, millis(time), 0, &meta);
}

fn extend<'a>(
    base: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
    naming: &'a Naming,
    r: &'a Arc<ResourceInfo>,
) {
    for (k, v) in &naming.external {
        if !base.iter().any(|(n, _)| n == k) {
            base.push((Cow::Borrowed(k), Cow::Borrowed(v)));
        }
    }
    if naming.resource_labels {
        for (k, v) in r.attrs.label_pairs() {
            let name = translate::label_name(k).into_owned();
            if !base.iter().any(|(n, _)| *n == name) {
                base.push((Cow::Owned(name), Cow::Owned(v.into_owned())));
            }
        }
    }
}

/// The labels of one sample, sorted by name, empty values left out.
fn sorted<'a>(
    base: &'a [(Cow<'a, str>, Cow<'a, str>)],
    name: &'a str,
    extra: Option<(&'a str, &'a str)>,
) -> Vec<(&'a str, &'a str)> {
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(base.len() + 2);
    labels.push(("__name__", name));
    labels.extend(extra);
    labels.extend(
        base.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (&**k, &**v))
            .filter(|(k, _)| Some(*k) != extra.map(|e| e.0)),
    );
    labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
    labels
}

/// Reads the store's label text (`k="v",k2="v2"`, values escaped with `\\`, `\"`, `\n`).
pub(super) fn parse_labels(text: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',');
        let value_start = eq + 2;
        let bytes = rest.as_bytes();
        let mut i = value_start;
        let mut escaped = false;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                escaped = true;
                i += 1;
            }
            i += 1;
        }
        let raw = &rest[value_start..i.min(rest.len())];
        let value = if escaped {
            let mut v = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(ch) = chars.next() {
                if ch == '\\' {
                    match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(other) => v.push(other),
                        None => {}
                    }
                } else {
                    v.push(ch);
                }
            }
            Cow::Owned(v)
        } else {
            Cow::Borrowed(raw)
        };
        out.push((Cow::Borrowed(name), value));
        rest = rest.get(i + 1..).unwrap_or("");
    }
    out
}

/// Native histograms' schemas.
const MAX_SCHEMA: i32 = 8;
const MIN_SCHEMA: i32 = -4;

/// An exponential histogram as a native histogram: OTLP bucket `i` covers `(base^i, base^(i+1)]`,
/// Prometheus bucket `i+1` the same range. Scales above 8 are merged down to 8; below -4 there
/// is no native schema, and `None` sends classic buckets instead.
pub(super) fn native(e: &ExpHistogram) -> Option<Native> {
    if e.scale < MIN_SCHEMA {
        return None;
    }
    let shift = (e.scale - MAX_SCHEMA).max(0) as u32;
    let side = |offset: i32, counts: &[u64]| -> (i32, Vec<u64>) {
        if counts.is_empty() {
            return (0, Vec::new());
        }
        // Downscale: index i at scale s is index i >> shift at scale s - shift (floor).
        let first = i64::from(offset) >> shift;
        let mut merged: Vec<u64> = Vec::new();
        for (k, c) in counts.iter().enumerate() {
            let idx = ((i64::from(offset) + k as i64) >> shift) - first;
            let idx = idx as usize;
            if merged.len() <= idx {
                merged.resize(idx + 1, 0);
            }
            merged[idx] = merged[idx].saturating_add(*c);
        }
        ((first + 1) as i32, merged)
    };
    Some(Native {
        count: e.count,
        sum: e.sum.unwrap_or(0.0),
        schema: e.scale.min(MAX_SCHEMA),
        zero_threshold: if e.zero_threshold.is_finite() {
            e.zero_threshold
        } else {
            0.0
        },
        zero_count: e.zero_count,
        positive: side(e.positive.offset, &e.positive.counts),
        negative: side(e.negative.offset, &e.negative.counts),
    })
}

//! Prometheus text exposition 0.0.4 and OpenMetrics 1.0, from a store snapshot.
//!
//! Formats: <https://prometheus.io/docs/instrumenting/exposition_formats/> and
//! <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md>;
//! naming per the OpenTelemetry "Prometheus and OpenMetrics Compatibility"
//! specification (see [`crate::translate`]).
//!
//! Families are sorted by name; series keep the store's order. One `# HELP`
//! (when the first metric of the family has a description) and one `# TYPE`
//! per family; OpenMetrics adds `# UNIT`, `_created` samples for counters,
//! histograms and summaries, exemplars (`trace_id`, `span_id`) on counter and
//! bucket lines, and the final `# EOF`. Every resource with attributes beyond
//! those that make `job`/`instance` gets one `target_info` sample.
//!
//! Exponential histograms have no representation in these text formats, so
//! they are exposed as classic histograms whose bucket bounds are the
//! exponential bucket boundaries: negative buckets (upper bound `-base^i`),
//! the zero bucket (upper bound `zero_threshold`), positive buckets (upper
//! bound `base^(i+1)`), then `+Inf`. Empty buckets are left out: cumulative
//! counts stay exact at every bound that is printed. The JSON snapshot keeps
//! the exponential form. Classic buckets of both kinds come from
//! [`buckets`], as in every other output.

use std::sync::Arc;

use super::buckets;
use super::lines::{
    bucket_sample, created, push_u64, sample, suffixed, write_bound, write_exemplar, write_number,
};
use crate::prefetch::{PREFETCH_AHEAD, prefetch};
use crate::store::{MetricSnap, SeriesSnap, SnapValue, Snapshot};
use crate::translate::{self, PromType};

pub use super::format::Format;

/// Render the whole snapshot.
pub fn render(snap: &Snapshot, format: Format) -> String {
    let om = format == Format::OpenMetrics;
    let mut page = String::with_capacity(estimate_len(snap, om));
    render_chunked(snap, format, usize::MAX, &mut |piece| {
        page.push_str(&piece);
        true
    });
    page
}

/// Render the snapshot in pieces: whenever the text written reaches `chunk` bytes after a
/// series, it is handed to `emit` and a new piece begins (a piece runs past `chunk` by at most
/// one series' lines). `emit` returns `false` to stop.
pub fn render_chunked(
    snap: &Snapshot,
    format: Format,
    chunk: usize,
    emit: &mut dyn FnMut(String) -> bool,
) {
    let om = format == Format::OpenMetrics;
    let capacity = if chunk == usize::MAX {
        0
    } else {
        chunk.saturating_add(chunk / 4)
    };
    let mut out = String::with_capacity(capacity);
    // Hands the piece over when it is full; false when the reader stopped.
    let mut flush = |out: &mut String| -> bool {
        if out.len() < chunk {
            return true;
        }
        emit(std::mem::replace(out, String::with_capacity(capacity)))
    };
    // Group metrics by family; families sorted by name.
    let mut order: Vec<(&str, usize)> = snap
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (m.desc.prom.openmetrics_family.as_str(), i))
        .collect();
    order.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
    let mut target_done = false;
    let mut i = 0;
    while i < order.len() {
        let family = order[i].0;
        let mut j = i;
        while j < order.len() && order[j].0 == family {
            j += 1;
        }
        if !target_done && family > "target_info" {
            render_target_info(snap, om, &mut out);
            target_done = true;
        }
        if family == "target_info" {
            // A metric named like the reserved family would clash with it.
            i = j;
            continue;
        }
        let metrics: Vec<&MetricSnap> =
            order[i..j].iter().map(|(_, k)| &snap.metrics[*k]).collect();
        if !render_family(snap, &metrics, om, &mut out, &mut flush) {
            return;
        }
        i = j;
    }
    if !target_done {
        render_target_info(snap, om, &mut out);
    }
    if om {
        out.push_str("# EOF\n");
    }
    if !out.is_empty() {
        emit(out);
    }
}

fn render_target_info(snap: &Snapshot, om: bool, out: &mut String) {
    let mut any = false;
    for r in &snap.resources {
        let Some(labels) = &r.target_info_labels else {
            continue;
        };
        if !any {
            // OpenMetrics names an info family without its `_info` suffix.
            out.push_str(if om {
                "# HELP target Target metadata\n# TYPE target info\n"
            } else {
                "# HELP target_info Target metadata\n# TYPE target_info gauge\n"
            });
            any = true;
        }
        out.push_str("target_info{");
        out.push_str(labels);
        out.push_str("} 1\n");
    }
}

/// Writes one family; `flush` is called after each series and returns `false` to stop (then so
/// does this, with `false`).
fn render_family(
    snap: &Snapshot,
    metrics: &[&MetricSnap],
    om: bool,
    out: &mut String,
    flush: &mut dyn FnMut(&mut String) -> bool,
) -> bool {
    let Some(first) = metrics.first() else {
        return true;
    };
    let prom = &first.desc.prom;
    let meta_name = if om {
        prom.openmetrics_family.as_str()
    } else {
        prom.family.as_str()
    };
    if let Some(help) = metrics
        .iter()
        .map(|m| &*m.desc.description)
        .find(|d| !d.is_empty())
    {
        out.push_str("# HELP ");
        out.push_str(meta_name);
        out.push(' ');
        translate::escape_help(help, om, out);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(meta_name);
    out.push(' ');
    out.push_str(if om {
        prom.prom_type.as_str()
    } else {
        prom.prom_type.as_text_str()
    });
    out.push('\n');
    if om && let Some(unit) = &prom.unit {
        out.push_str("# UNIT ");
        out.push_str(meta_name);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
    let mut scratch = Scratch::default();
    for m in metrics {
        scratch.bucket_name.clear();
        scratch.bucket_name.push_str(&m.desc.prom.family);
        scratch.bucket_name.push_str("_bucket");
        let series = snap.series_of(m);
        for (i, s) in series.iter().enumerate() {
            // Each series' meta, and the attributes of one whose meta came in already.
            if let Some(next) = series.get(i + PREFETCH_AHEAD) {
                prefetch(Arc::as_ptr(&next.meta));
            }
            if let Some(next) = series.get(i + PREFETCH_AHEAD / 2) {
                prefetch(next.meta.attrs.0.as_ptr());
            }
            render_series(snap, m, s, om, &mut scratch, out);
            if !flush(out) {
                return false;
            }
        }
    }
    true
}

/// What a family's series share, built once per family instead of once per series.
#[derive(Default)]
struct Scratch {
    /// `<family>_bucket`.
    bucket_name: String,
    /// `le` label values of the last bucket layout seen.
    le: LeValues,
    /// The label text of the series being written, when it is kept in parts.
    labels: String,
}

/// The formatted `le` values of one explicit bucket layout. Series of a metric
/// share their layout, so the bounds are formatted once, not on every scrape
/// line (formatting floats was a tenth of rendering a histogram-heavy store).
#[derive(Default)]
struct LeValues {
    bounds: Option<Arc<[f64]>>,
    text: String,
    ends: Vec<usize>,
}

impl LeValues {
    fn update(&mut self, bounds: &Arc<[f64]>, om: bool) {
        let same = self.bounds.as_ref().is_some_and(|b| {
            Arc::ptr_eq(b, bounds)
                || (b.len() == bounds.len()
                    && b.iter()
                        .zip(bounds.iter())
                        .all(|(x, y)| x.to_bits() == y.to_bits()))
        });
        if same {
            return;
        }
        self.text.clear();
        self.ends.clear();
        for b in bounds.iter() {
            write_bound(*b, om, &mut self.text);
            self.ends.push(self.text.len());
        }
        self.bounds = Some(bounds.clone());
    }

    /// The value for bound `i` (as given to the last `update`).
    fn get(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends.get(i - 1).copied().unwrap_or(self.text.len()),
        };
        let end = self.ends.get(i).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }
}

/// A generous guess at the output size (from each metric's first series), so
/// the buffer for a large store is allocated once instead of regrown several
/// times. An overestimate costs address space, not memory: untouched pages
/// are never faulted in.
fn estimate_len(snap: &Snapshot, om: bool) -> usize {
    let mut total = 1024 + snap.resources.len() * 256;
    for m in &snap.metrics {
        let series = snap.series_of(m);
        let Some(first) = series.first() else {
            continue;
        };
        let lines = match &first.value {
            SnapValue::Number(_) => 1 + usize::from(om),
            SnapValue::Histogram { counts, .. } => counts.len() + 3 + usize::from(om),
            SnapValue::Exp(e) => e.positive.counts.len() + e.negative.counts.len() + 5,
            SnapValue::Summary { quantiles, .. } => quantiles.len() + 3,
        };
        let line = m.desc.prom.family.len() + first.meta.label_text().len() + 48;
        total += 256 + series.len() * lines * line;
    }
    total + total / 8
}

fn render_series(
    snap: &Snapshot,
    m: &MetricSnap,
    s: &SeriesSnap,
    om: bool,
    scratch: &mut Scratch,
    out: &mut String,
) {
    let prom = &m.desc.prom;
    let labels: &str = match s.meta.labels.as_whole() {
        Some(text) => text,
        None => {
            scratch.labels.clear();
            s.meta.write_labels(&mut scratch.labels);
            &scratch.labels
        }
    };
    let exemplars = snap.exemplars.get(s.exemplars.clone()).unwrap_or(&[]);
    match &s.value {
        SnapValue::Number(n) => {
            sample(out, &prom.family, labels, None);
            write_number(n, out);
            if om
                && prom.prom_type == PromType::Counter
                && let Some((_, e)) = exemplars.last()
            {
                write_exemplar(e, out);
            }
            out.push('\n');
            if om && prom.prom_type == PromType::Counter {
                created(out, &prom.openmetrics_family, labels, s.start);
            }
        }
        SnapValue::Histogram {
            bounds,
            counts,
            count,
            sum,
            ..
        } => {
            let counts = snap.counts.get(counts.clone()).unwrap_or(&[]);
            let base = &prom.family;
            let bucket_name = &scratch.bucket_name;
            scratch.le.update(bounds, om);
            let classic = buckets::explicit(bounds, counts, *count);
            for b in classic.finite {
                bucket_sample(out, bucket_name, labels, scratch.le.get(b.index));
                push_u64(b.cumulative, out);
                if om && let Some((_, e)) = exemplars.iter().find(|(i, _)| *i == b.index) {
                    write_exemplar(e, out);
                }
                out.push('\n');
            }
            sample(out, bucket_name, labels, Some(("le", f64::INFINITY, om)));
            push_u64(classic.inf, out);
            if om && let Some((_, e)) = exemplars.iter().find(|(b, _)| *b == bounds.len()) {
                write_exemplar(e, out);
            }
            out.push('\n');
            histogram_tail(out, base, labels, *sum, classic.inf, om, s.start);
        }
        SnapValue::Exp(e) => {
            let base = &prom.family;
            let bucket_name = &scratch.bucket_name;
            let classic = buckets::exponential(e);
            for b in classic.finite {
                sample(out, bucket_name, labels, Some(("le", b.le, om)));
                push_u64(b.cumulative, out);
                out.push('\n');
            }
            sample(out, bucket_name, labels, Some(("le", f64::INFINITY, om)));
            push_u64(classic.inf, out);
            out.push('\n');
            histogram_tail(out, base, labels, e.sum, classic.inf, om, s.start);
        }
        SnapValue::Summary {
            count,
            sum,
            quantiles,
        } => {
            let base = &prom.family;
            for (q, v) in snap.quantiles.get(quantiles.clone()).unwrap_or(&[]) {
                sample(out, base, labels, Some(("quantile", *q, om)));
                translate::write_f64(*v, out);
                out.push('\n');
            }
            suffixed(out, base, "_sum", labels);
            translate::write_f64(*sum, out);
            out.push('\n');
            suffixed(out, base, "_count", labels);
            push_u64(*count, out);
            out.push('\n');
            if om {
                created(out, base, labels, s.start);
            }
        }
    }
}

fn histogram_tail(
    out: &mut String,
    base: &str,
    labels: &str,
    sum: Option<f64>,
    count: u64,
    om: bool,
    start: u64,
) {
    // The text formats need a `_sum`; a histogram sent without one (allowed
    // in OTLP when observations can be negative) gets none, which both formats accept.
    if let Some(sum) = sum {
        suffixed(out, base, "_sum", labels);
        translate::write_f64(sum, out);
        out.push('\n');
    }
    suffixed(out, base, "_count", labels);
    push_u64(count, out);
    out.push('\n');
    if om {
        created(out, base, labels, start);
    }
}

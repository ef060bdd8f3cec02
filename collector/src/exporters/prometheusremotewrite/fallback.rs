//! Rewriting a queued 2.0 request as 1.0, for a receiver that turned out not to take 2.0.
//!
//! Requests are written in the configured version when they are queued; the first 415 (or a
//! 2.0 answer without the `X-Prometheus-Remote-Write-*-Written` headers that 2.0 receivers
//! send) switches the exporter to 1.0, and what is still queued as 2.0 is rewritten here on its
//! way out: labels from the symbol table, float samples as they are, native histograms as
//! classic buckets at their exponential bounds (the same buckets 1.0 gets for them directly),
//! created timestamps dropped (1.0 has no field for them).

use prost::Message;
use vigil_proto::remote_write::v2;

use super::config::Protocol;
use super::wire::{self, Frame, Meta, MetricType, RequestWriter};
use crate::export::buckets;
use crate::store::{ExpBuckets, ExpHistogram};
use crate::translate;

/// A 2.0 frame as 1.0 (a 1.0 frame is returned as it is).
pub(super) fn to_v1(frame: &Frame, send_metadata: bool) -> Result<Frame, String> {
    if frame.protocol == Protocol::V1 {
        return Ok(frame.clone());
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&frame.body)
        .map_err(|e| format!("snappy: {e}"))?;
    let request = v2::Request::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    let symbol = |i: u32| -> Result<&str, String> {
        request
            .symbols
            .get(i as usize)
            .map(String::as_str)
            .ok_or_else(|| format!("symbol {i} is not in the table"))
    };
    let mut out = RequestWriter::new(Protocol::V1, send_metadata);
    let mut le = String::new();
    for series in &request.timeseries {
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(series.labels_refs.len() / 2);
        for pair in series.labels_refs.chunks(2) {
            if let [n, v] = pair {
                labels.push((symbol(*n)?, symbol(*v)?));
            }
        }
        let name = labels
            .iter()
            .find(|(n, _)| *n == "__name__")
            .map(|(_, v)| *v)
            .unwrap_or("");
        let (kind, help, unit) = match &series.metadata {
            Some(m) => (
                metric_type(m.r#type),
                symbol(m.help_ref)?,
                symbol(m.unit_ref)?,
            ),
            None => (MetricType::Unknown, "", ""),
        };
        let meta = Meta {
            kind,
            family: name,
            help,
            unit,
        };
        for s in &series.samples {
            out.float(&labels, s.value, s.timestamp, 0, &meta);
        }
        for h in &series.histograms {
            let e = exp_histogram(h)?;
            let with_name = |suffix: &str,
                             extra: Option<(&'static str, &str)>|
             -> (String, Vec<(String, String)>) {
                let full = format!("{name}{suffix}");
                let mut ls: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(n, _)| *n != "__name__")
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect();
                ls.push(("__name__".to_owned(), full.clone()));
                if let Some((n, v)) = extra {
                    ls.push((n.to_owned(), v.to_owned()));
                }
                ls.sort();
                (full, ls)
            };
            let mut write = |suffix: &str, extra: Option<(&'static str, &str)>, value: f64| {
                let (_, ls) = with_name(suffix, extra);
                let view: Vec<(&str, &str)> =
                    ls.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                out.float(&view, value, h.timestamp, 0, &meta);
            };
            let classic = buckets::exponential(&e);
            for b in classic.finite {
                le.clear();
                translate::write_f64(b.le, &mut le);
                write("_bucket", Some(("le", &le)), b.cumulative as f64);
            }
            write("_bucket", Some(("le", "+Inf")), classic.inf as f64);
            write("_sum", None, h.sum);
            write("_count", None, classic.inf as f64);
        }
    }
    let samples = out.samples;
    wire::frame(Protocol::V1, samples, &out.finish())
}

fn metric_type(t: i32) -> MetricType {
    match t {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 | 4 => MetricType::Histogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        _ => MetricType::Unknown,
    }
}

/// A native histogram as the store's exponential histogram (OTLP numbering: one below).
fn exp_histogram(h: &v2::Histogram) -> Result<ExpHistogram, String> {
    Ok(ExpHistogram {
        scale: h.schema,
        count: h.count_int,
        sum: Some(h.sum),
        min: None,
        max: None,
        zero_count: h.zero_count_int,
        zero_threshold: h.zero_threshold,
        positive: dense(&h.positive_spans, &h.positive_deltas)?,
        negative: dense(&h.negative_spans, &h.negative_deltas)?,
    })
}

/// The most buckets one side may span once made dense (schema 8 covers 2^±1024 in ~530,000;
/// anything near that is a damaged request, not a histogram this exporter wrote).
const MAX_DENSE: i64 = 1 << 16;

/// Spans and deltas as a dense run of counts from the first bucket (OTLP offset).
fn dense(spans: &[v2::BucketSpan], deltas: &[i64]) -> Result<ExpBuckets, String> {
    let mut counts = Vec::new();
    let mut first: Option<i64> = None;
    let mut index = 0i64;
    let mut previous = 0i64;
    let mut d = deltas.iter();
    for span in spans {
        index += i64::from(span.offset);
        let start = *first.get_or_insert(index);
        if index - start + i64::from(span.length) > MAX_DENSE {
            return Err(format!(
                "a native histogram spans more than {MAX_DENSE} buckets"
            ));
        }
        // Gaps between spans (bounded by the buckets that follow them) are empty buckets.
        while (counts.len() as i64) < index - start {
            counts.push(0);
        }
        for _ in 0..span.length {
            previous += d.next().copied().unwrap_or(0);
            counts.push(previous.max(0) as u64);
            index += 1;
        }
    }
    Ok(ExpBuckets {
        offset: first.map_or(0, |f| (f - 1) as i32),
        counts,
    })
}

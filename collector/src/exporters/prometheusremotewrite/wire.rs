//! Remote-write requests written straight into bytes, and the frames a queued batch holds.
//!
//! Building prost structs per sample would allocate every label twice; a request is instead
//! written as it is produced: 1.0 series one after the other, 2.0 series with a symbol table
//! that grows as labels arrive. A batch in a shard's queue is a list of frames, each one
//! request, snappy-compressed, tagged with its message version and sample count, so the sender
//! can post them one by one and rewrite a 2.0 frame as 1.0 if the receiver refuses 2.0.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{encode_varint, encoded_len_varint};

use super::config::Protocol;

/// Metric types as both versions number them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MetricType {
    /// Unknown / unspecified.
    Unknown = 0,
    /// Counter.
    Counter = 1,
    /// Gauge.
    Gauge = 2,
    /// Histogram (classic or native).
    Histogram = 3,
    /// Summary.
    Summary = 5,
    /// Info.
    Info = 6,
}

/// What a series is, for metadata.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta<'a> {
    /// Its type.
    pub kind: MetricType,
    /// The family name (the `# TYPE` line's).
    pub family: &'a str,
    /// Help text.
    pub help: &'a str,
    /// Unit (the Prometheus word, e.g. `seconds`).
    pub unit: &'a str,
}

/// A native histogram with integer counts, buckets as Prometheus numbers them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Native {
    /// Observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Schema, -4..=8.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Index of the first positive bucket, and the counts from there (zeros allowed).
    pub positive: (i32, Vec<u64>),
    /// Index of the first negative bucket, and the counts from there.
    pub negative: (i32, Vec<u64>),
}

/// One request being written.
pub(super) struct RequestWriter {
    protocol: Protocol,
    send_metadata: bool,
    /// Encoded `timeseries` fields (1.0: field 1; 2.0: field 5).
    series: Vec<u8>,
    /// 2.0: symbol → index; `""` is 0.
    symbols: HashMap<Box<str>, u32>,
    /// 2.0: the encoded `symbols` fields, in index order.
    symbol_bytes: Vec<u8>,
    /// 1.0 with `send_metadata`: family → (type, help, unit).
    metadata: BTreeMap<Box<str>, (MetricType, Box<str>, Box<str>)>,
    /// Float and histogram samples written.
    pub samples: u64,
    scratch: Vec<u8>,
    refs: Vec<u32>,
}

impl RequestWriter {
    /// An empty request of `protocol`.
    pub(super) fn new(protocol: Protocol, send_metadata: bool) -> RequestWriter {
        let mut w = RequestWriter {
            protocol,
            send_metadata,
            series: Vec::new(),
            symbols: HashMap::new(),
            symbol_bytes: Vec::new(),
            metadata: BTreeMap::new(),
            samples: 0,
            scratch: Vec::new(),
            refs: Vec::new(),
        };
        if protocol == Protocol::V2 {
            w.symbol("");
        }
        w
    }

    /// The message being written.
    pub(super) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Bytes written so far, about the request's size before compression.
    pub(super) fn len(&self) -> usize {
        self.series.len() + self.symbol_bytes.len() + self.metadata.len() * 64
    }

    /// Nothing written yet.
    pub(super) fn is_empty(&self) -> bool {
        self.samples == 0
    }

    fn symbol(&mut self, s: &str) -> u32 {
        if let Some(i) = self.symbols.get(s) {
            return *i;
        }
        let i = self.symbols.len() as u32;
        self.symbols.insert(s.into(), i);
        bytes_field(4, s.as_bytes(), &mut self.symbol_bytes);
        i
    }

    /// One float sample of the series `labels` (sorted by name, `__name__` included).
    /// `created_ms` is the series' start (0 = unknown), sent in 2.0 only.
    pub(super) fn float(
        &mut self,
        labels: &[(&str, &str)],
        value: f64,
        timestamp_ms: i64,
        created_ms: i64,
        meta: &Meta<'_>,
    ) {
        let mut sample = std::mem::take(&mut self.scratch);
        sample.clear();
        double_field(1, value, &mut sample);
        int_field(2, timestamp_ms, &mut sample);
        self.write_series(labels, 2, &sample, created_ms, meta);
        self.scratch = sample;
    }

    /// One native histogram sample (2.0 only; 1.0 writes classic buckets instead).
    pub(super) fn native(
        &mut self,
        labels: &[(&str, &str)],
        h: &Native,
        timestamp_ms: i64,
        created_ms: i64,
        meta: &Meta<'_>,
    ) {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        encode_native(h, timestamp_ms, &mut body);
        self.write_series(labels, 3, &body, created_ms, meta);
        self.scratch = body;
    }

    /// A series holding one sample (`sample_field` 2: float, 3: histogram).
    fn write_series(
        &mut self,
        labels: &[(&str, &str)],
        sample_field: u32,
        sample: &[u8],
        created_ms: i64,
        meta: &Meta<'_>,
    ) {
        self.samples += 1;
        match self.protocol {
            Protocol::V1 => {
                let labels_len: usize = labels
                    .iter()
                    .map(|(n, v)| {
                        let l = bytes_len(1, n.len()) + bytes_len(2, v.len());
                        1 + encoded_len_varint(l as u64) + l
                    })
                    .sum();
                let len = labels_len + 1 + encoded_len_varint(sample.len() as u64) + sample.len();
                key(1, 2, &mut self.series);
                encode_varint(len as u64, &mut self.series);
                for (n, v) in labels {
                    let l = bytes_len(1, n.len()) + bytes_len(2, v.len());
                    key(1, 2, &mut self.series);
                    encode_varint(l as u64, &mut self.series);
                    bytes_field(1, n.as_bytes(), &mut self.series);
                    bytes_field(2, v.as_bytes(), &mut self.series);
                }
                bytes_field(2, sample, &mut self.series);
                if self.send_metadata && !self.metadata.contains_key(meta.family) {
                    self.metadata.insert(
                        meta.family.into(),
                        (meta.kind, meta.help.into(), meta.unit.into()),
                    );
                }
            }
            Protocol::V2 => {
                let mut refs = std::mem::take(&mut self.refs);
                refs.clear();
                for (n, v) in labels {
                    refs.push(self.symbol(n));
                    refs.push(self.symbol(v));
                }
                let help = self.symbol(meta.help);
                let unit = self.symbol(meta.unit);
                let mut metadata = [0u8; 32];
                let mut m = &mut metadata[..];
                int_field(1, meta.kind as i64, &mut m);
                int_field(3, i64::from(help), &mut m);
                int_field(4, i64::from(unit), &mut m);
                let m_len = 32 - m.len();
                let refs_len: usize = refs.iter().map(|r| encoded_len_varint(u64::from(*r))).sum();
                let mut len = 0;
                if !refs.is_empty() {
                    len += 1 + encoded_len_varint(refs_len as u64) + refs_len;
                }
                len += 1 + encoded_len_varint(sample.len() as u64) + sample.len();
                len += 1 + encoded_len_varint(m_len as u64) + m_len;
                if created_ms != 0 {
                    len += 1 + encoded_len_varint(created_ms as u64);
                }
                key(5, 2, &mut self.series);
                encode_varint(len as u64, &mut self.series);
                if !refs.is_empty() {
                    key(1, 2, &mut self.series);
                    encode_varint(refs_len as u64, &mut self.series);
                    for r in &refs {
                        encode_varint(u64::from(*r), &mut self.series);
                    }
                }
                bytes_field(sample_field, sample, &mut self.series);
                bytes_field(5, &metadata[..m_len], &mut self.series);
                int_field(6, created_ms, &mut self.series);
                self.refs = refs;
            }
        }
    }

    /// The encoded request, uncompressed.
    pub(super) fn finish(self) -> Vec<u8> {
        match self.protocol {
            Protocol::V1 => {
                let mut out = self.series;
                for (family, (kind, help, unit)) in &self.metadata {
                    let mut m = Vec::with_capacity(family.len() + help.len() + unit.len() + 12);
                    int_field(1, *kind as i64, &mut m);
                    bytes_field(2, family.as_bytes(), &mut m);
                    bytes_field(4, help.as_bytes(), &mut m);
                    bytes_field(5, unit.as_bytes(), &mut m);
                    bytes_field(3, &m, &mut out);
                }
                out
            }
            Protocol::V2 => {
                let mut out = self.symbol_bytes;
                out.extend_from_slice(&self.series);
                out
            }
        }
    }
}

fn encode_native(h: &Native, timestamp_ms: i64, out: &mut Vec<u8>) {
    if h.count != 0 {
        key(1, 0, out);
        encode_varint(h.count, out);
    }
    double_field(3, h.sum, out);
    if h.schema != 0 {
        key(4, 0, out);
        encode_varint(zigzag(i64::from(h.schema)), out);
    }
    double_field(5, h.zero_threshold, out);
    if h.zero_count != 0 {
        key(6, 0, out);
        encode_varint(h.zero_count, out);
    }
    buckets(&h.negative, 8, 9, out);
    buckets(&h.positive, 11, 12, out);
    int_field(15, timestamp_ms, out);
}

/// One side's spans and deltas: runs of non-empty buckets, split where two or more empty
/// buckets lie between them (a single empty bucket costs less inside a span).
fn buckets(
    (first, counts): &(i32, Vec<u64>),
    spans_field: u32,
    deltas_field: u32,
    out: &mut Vec<u8>,
) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas: Vec<u8> = Vec::new();
    let mut previous = 0i64;
    let mut end: Option<i64> = None; // index after the last bucket of the current span
    let mut i = 0usize;
    while i < counts.len() {
        if counts[i] == 0 {
            i += 1;
            continue;
        }
        let index = i64::from(*first) + i as i64;
        let gap_zeros = end.map(|e| index - e);
        match (gap_zeros, spans.last_mut()) {
            (Some(zeros), Some(span)) if zeros <= 1 => {
                // Carry the zero inside the span.
                for _ in 0..zeros {
                    encode_varint(zigzag(-previous), &mut deltas);
                    previous = 0;
                    span.1 += 1;
                }
            }
            _ => {
                let offset = match end {
                    None => index,
                    Some(e) => index - e,
                };
                spans.push((offset as i32, 0));
            }
        }
        if let Some(span) = spans.last_mut() {
            span.1 += 1;
        }
        let c = counts[i] as i64;
        encode_varint(zigzag(c - previous), &mut deltas);
        previous = c;
        end = Some(index + 1);
        i += 1;
    }
    for (offset, length) in spans {
        let mut span = [0u8; 20];
        let mut s = &mut span[..];
        if offset != 0 {
            key(1, 0, &mut s);
            encode_varint(zigzag(i64::from(offset)), &mut s);
        }
        key(2, 0, &mut s);
        encode_varint(u64::from(length), &mut s);
        let n = 20 - s.len();
        bytes_field(spans_field, &span[..n], out);
    }
    if !deltas.is_empty() {
        bytes_field(deltas_field, &deltas, out);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn key(field: u32, wire_type: u32, out: &mut impl BufMut) {
    encode_varint(u64::from(field << 3 | wire_type), out);
}

fn bytes_len(_field: u32, len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn bytes_field(field: u32, bytes: &[u8], out: &mut impl BufMut) {
    key(field, 2, out);
    encode_varint(bytes.len() as u64, out);
    out.put_slice(bytes);
}

fn double_field(field: u32, v: f64, out: &mut impl BufMut) {
    if v.to_bits() != 0 {
        key(field, 1, out);
        out.put_f64_le(v);
    }
}

fn int_field(field: u32, v: i64, out: &mut impl BufMut) {
    if v != 0 {
        key(field, 0, out);
        encode_varint(v as u64, out);
    }
}

// === Frames ===

/// One request in a queued batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Frame {
    /// Its message.
    pub protocol: Protocol,
    /// Samples in it (floats and histograms).
    pub samples: u64,
    /// The request, snappy-compressed.
    pub body: Bytes,
}

const TAG_V1: u8 = 1;
const TAG_V2: u8 = 2;
/// A tenant's name, first in the body of a tenant's batch (see [`join`]).
const TAG_TENANT: u8 = 3;
const FRAME_HEADER: usize = 1 + 8 + 4;

/// Compresses `request` into a frame.
pub(super) fn frame(protocol: Protocol, samples: u64, request: &[u8]) -> Result<Frame, String> {
    let body = snap::raw::Encoder::new()
        .compress_vec(request)
        .map_err(|e| format!("snappy: {e}"))?;
    Ok(Frame {
        protocol,
        samples,
        body: Bytes::from(body),
    })
}

/// Frames as one batch body, led by a frame naming `tenant` when the batch has one: the
/// tenant travels with the batch through the queue (and its WAL) to the sender, which sends it
/// in `tenant_header`. A body without it (all bodies written before tenants) is the implicit
/// tenant's.
pub(super) fn join(tenant: Option<&str>, frames: &[Frame]) -> Bytes {
    let lead = tenant.map_or(0, |t| FRAME_HEADER + t.len());
    let len = lead
        + frames
            .iter()
            .map(|f| FRAME_HEADER + f.body.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(tenant) = tenant {
        out.put_u8(TAG_TENANT);
        out.put_u64_le(0);
        out.put_u32_le(tenant.len() as u32);
        out.extend_from_slice(tenant.as_bytes());
    }
    for f in frames {
        out.put_u8(match f.protocol {
            Protocol::V1 => TAG_V1,
            Protocol::V2 => TAG_V2,
        });
        out.put_u64_le(f.samples);
        out.put_u32_le(f.body.len() as u32);
        out.extend_from_slice(&f.body);
    }
    Bytes::from(out)
}

/// A batch body as its tenant and its frames; an error for bytes this exporter did not write
/// (a damaged queue).
pub(super) fn split(body: &Bytes) -> Result<(Option<String>, Vec<Frame>), String> {
    let mut rest = body.clone();
    let mut frames = Vec::new();
    let mut tenant = None;
    while rest.has_remaining() {
        if rest.remaining() < FRAME_HEADER {
            return Err("a frame header is cut short".to_owned());
        }
        let tag = rest.get_u8();
        let samples = rest.get_u64_le();
        let len = rest.get_u32_le() as usize;
        if rest.remaining() < len {
            return Err(format!("a frame of {len} bytes is cut short"));
        }
        let protocol = match tag {
            TAG_V1 => Protocol::V1,
            TAG_V2 => Protocol::V2,
            TAG_TENANT if frames.is_empty() && tenant.is_none() => {
                let name = rest.split_to(len);
                let name = String::from_utf8(name.to_vec())
                    .map_err(|_| "a tenant name is not UTF-8".to_owned())?;
                tenant = Some(name);
                continue;
            }
            other => return Err(format!("unknown frame tag {other}")),
        };
        frames.push(Frame {
            protocol,
            samples,
            body: rest.split_to(len),
        });
    }
    Ok((tenant, frames))
}

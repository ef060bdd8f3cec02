//! Cuts a flushed group of encoded batches into requests of at most `send_batch_max_size` items.
//!
//! A group within the limit is sent as the concatenation of its bodies: no decoding, and no
//! copy at all for a group of one batch. A larger group is cut between its top-level entries
//! (one `Resource{Metrics,Spans,Logs}` each), found by [`scan`], so most pieces are slices of
//! the bodies as received. Only an entry holding more than the limit by itself is decoded with
//! prost and split: by scope first, then by metric, then by item; each piece keeps a copy of
//! the resource, scope and metric around its items, and is encoded again.
//!
//! The pieces keep the order of the items, and every item lands in exactly one piece. An entry
//! that does not fit in the room left in a piece but fits in an empty one starts the next
//! piece rather than being cut, so pieces may hold fewer items than the limit. Unknown
//! top-level fields are not items and are dropped when a group is cut (prost would skip them).
//! A body that does not scan counts as one entry of its declared items; if that is over the
//! limit it cannot be cut (it does not decode either) and is sent whole in a piece of its own.
//! The receiver scanned every body, so this does not happen unless a caller hands over a
//! [`Batch`] nobody checked, and the upstream then judges it.

use std::ops::Range;

use crate::store::otlp::point_count;

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    metric::Data,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::pipeline::scan::scan;
use crate::pipeline::{Batch, Signal};

/// One request to send downstream.
#[derive(Debug)]
pub(crate) struct Piece {
    /// The encoded request.
    pub(crate) body: Bytes,
    /// Items in it.
    pub(crate) items: u64,
    /// The indexes (in the group) of the batches whose items it holds.
    pub(crate) slots: Range<usize>,
}

/// Cuts `batches` (all of `signal`) into pieces of at most `max` items; with no `max`, or if
/// they hold no more, into one piece that concatenates them.
pub(crate) fn pieces(signal: Signal, batches: &[Batch], max: Option<u64>) -> Vec<Piece> {
    let total = batches
        .iter()
        .fold(0u64, |sum, b| sum.saturating_add(b.items));
    let max = match max {
        Some(max) if total > max => max.max(1),
        _ => {
            let bodies: Vec<Bytes> = batches.iter().map(|b| b.body.clone()).collect();
            return vec![Piece {
                body: concat(&bodies),
                items: total,
                slots: 0..batches.len(),
            }];
        }
    };
    let mut parts = Vec::new();
    for (slot, batch) in batches.iter().enumerate() {
        match scan(signal, &batch.body) {
            Ok(found) => parts.extend(found.resources.into_iter().map(|entry| Part {
                slot,
                items: entry.items,
                bytes: Source::Range(entry.range),
            })),
            Err(error) => {
                tracing::warn!(%signal, %error, "batch: sending a batch that does not scan unsplit");
                let bytes = Source::Range(0..batch.body.len());
                parts.push(Part {
                    slot,
                    items: batch.items,
                    bytes,
                });
            }
        }
    }
    let split = |part: Part, room, max| split_part(signal, batches, part, room, max);
    pack(parts, max, max, |part| part.items, split)
        .into_iter()
        .map(|(parts, items)| assemble(batches, parts, items))
        .collect()
}

// === Top-level entries ===

/// A run of top-level entries of one batch's body, or a piece of one cut up and encoded again.
struct Part {
    slot: usize,
    items: u64,
    bytes: Source,
}

enum Source {
    /// These bytes of the body of batch `slot`.
    Range(Range<usize>),
    /// Encoded here.
    Owned(Bytes),
}

impl Part {
    fn bytes(&self, batches: &[Batch]) -> Bytes {
        match &self.bytes {
            Source::Range(range) => slice(batches, self.slot, range.clone()),
            Source::Owned(bytes) => bytes.clone(),
        }
    }
}

/// `batches[slot].body[range]`, without copying (and empty rather than a panic if out of
/// bounds, which the ranges from `scan` never are).
fn slice(batches: &[Batch], slot: usize, range: Range<usize>) -> Bytes {
    match batches.get(slot) {
        Some(batch) if range.start <= range.end && range.end <= batch.body.len() => {
            batch.body.slice(range)
        }
        _ => Bytes::new(),
    }
}

/// Decodes a top-level entry (or a body that did not scan) and cuts it, or, if it does not
/// decode, keeps it whole.
fn split_part(
    signal: Signal,
    batches: &[Batch],
    part: Part,
    room: u64,
    max: u64,
) -> Vec<(Part, u64)> {
    let bytes = part.bytes(batches);
    let cut = match signal {
        Signal::Metrics => decode_and_split::<ExportMetricsServiceRequest>(&bytes, room, max),
        Signal::Traces => decode_and_split::<ExportTraceServiceRequest>(&bytes, room, max),
        Signal::Logs => decode_and_split::<ExportLogsServiceRequest>(&bytes, room, max),
    };
    match cut {
        Ok(pieces) => pieces
            .into_iter()
            .map(|(bytes, items)| {
                (
                    Part {
                        slot: part.slot,
                        items,
                        bytes: Source::Owned(bytes),
                    },
                    items,
                )
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%signal, %error, "batch: sending an entry that does not decode unsplit");
            let items = part.items;
            vec![(part, items)]
        }
    }
}

fn decode_and_split<R>(
    bytes: &[u8],
    room: u64,
    max: u64,
) -> Result<Vec<(Bytes, u64)>, prost::DecodeError>
where
    R: Message + Default + Items,
{
    let request = R::decode(bytes)?;
    let pieces = request.split(room, max);
    Ok(pieces
        .into_iter()
        .map(|(r, items)| (Bytes::from(r.encode_to_vec()), items))
        .collect())
}

/// One request made of `parts`: a slice of one body when they are contiguous in it, else a
/// copy of them all.
fn assemble(batches: &[Batch], parts: Vec<Part>, items: u64) -> Piece {
    let first = parts.first().map_or(0, |p| p.slot);
    let last = parts.last().map_or(0, |p| p.slot + 1);
    let mut bodies = Vec::with_capacity(parts.len());
    let mut run: Option<(usize, Range<usize>)> = None;
    for part in parts {
        match part.bytes {
            Source::Range(range) => match &mut run {
                Some((slot, open)) if *slot == part.slot && open.end == range.start => {
                    open.end = range.end;
                }
                _ => {
                    if let Some((slot, open)) = run.replace((part.slot, range)) {
                        bodies.push(slice(batches, slot, open));
                    }
                }
            },
            Source::Owned(bytes) => {
                if let Some((slot, open)) = run.take() {
                    bodies.push(slice(batches, slot, open));
                }
                bodies.push(bytes);
            }
        }
    }
    if let Some((slot, open)) = run {
        bodies.push(slice(batches, slot, open));
    }
    Piece {
        body: concat(&bodies),
        items,
        slots: first..last,
    }
}

/// The concatenation of `bodies`; no copy for one.
fn concat(bodies: &[Bytes]) -> Bytes {
    match bodies {
        [] => Bytes::new(),
        [one] => one.clone(),
        _ => {
            let mut out = BytesMut::with_capacity(bodies.iter().map(Bytes::len).sum());
            for body in bodies {
                out.extend_from_slice(body);
            }
            out.freeze()
        }
    }
}

// === Packing ===

/// Packs `children` into chunks of at most `max` items, in order: the first chunk holds at most
/// `first` (the room left in the caller's chunk), the others at most `max`. A child joins the
/// current chunk if it fits; else, if it fits in an empty chunk, it starts the next one; else
/// it is split, its first part filling the room left. A child that `split` cannot cut below
/// `max` (it returns it whole) gets a chunk of its own.
fn pack<C>(
    children: Vec<C>,
    first: u64,
    max: u64,
    items: impl Fn(&C) -> u64,
    mut split: impl FnMut(C, u64, u64) -> Vec<(C, u64)>,
) -> Vec<(Vec<C>, u64)> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut held = 0u64;
    let mut room = first.min(max);
    let mut close = |chunk: &mut Vec<C>, held: &mut u64| {
        if !chunk.is_empty() {
            chunks.push((std::mem::take(chunk), std::mem::take(held)));
        }
    };
    for child in children {
        let n = items(&child);
        if held.saturating_add(n) <= room {
            chunk.push(child);
            held += n;
        } else if n <= max {
            close(&mut chunk, &mut held);
            room = max;
            chunk.push(child);
            held = n;
        } else {
            for (part, n) in split(child, room.saturating_sub(held), max) {
                if held.saturating_add(n) > room {
                    close(&mut chunk, &mut held);
                    room = max;
                }
                chunk.push(part);
                held = held.saturating_add(n);
            }
        }
    }
    close(&mut chunk, &mut held);
    chunks
}

/// A decoded message whose items can be dealt into copies of it.
trait Items: Sized {
    /// Items (data points, spans, log records) in it.
    fn items(&self) -> u64;
    /// Copies of it holding its items in order, at most `max` each, the first at most `room`.
    fn split(self, room: u64, max: u64) -> Vec<(Self, u64)>;
}

/// Items that are not split.
macro_rules! leaf {
    ($($ty:ty),*) => {$(
        impl Items for $ty {
            fn items(&self) -> u64 {
                1
            }
            fn split(self, _: u64, _: u64) -> Vec<(Self, u64)> {
                vec![(self, 1)]
            }
        }
    )*};
}

/// Messages whose `$field` holds their children; each copy gets a clone of the other fields
/// (requests have none, hence the `allow`).
macro_rules! node {
    ($($ty:ty => $field:ident),*) => {$(
        #[allow(clippy::needless_update)]
        impl Items for $ty {
            fn items(&self) -> u64 {
                self.$field.iter().map(Items::items).sum()
            }
            fn split(mut self, room: u64, max: u64) -> Vec<(Self, u64)> {
                let children = std::mem::take(&mut self.$field);
                pack(children, room, max, Items::items, Items::split)
                    .into_iter()
                    .map(|(children, n)| (Self { $field: children, ..self.clone() }, n))
                    .collect()
            }
        }
    )*};
}

leaf!(
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint,
    Span,
    LogRecord
);

node!(
    ExportMetricsServiceRequest => resource_metrics,
    ResourceMetrics => scope_metrics,
    ScopeMetrics => metrics,
    ExportTraceServiceRequest => resource_spans,
    ResourceSpans => scope_spans,
    ScopeSpans => spans,
    ExportLogsServiceRequest => resource_logs,
    ResourceLogs => scope_logs,
    ScopeLogs => log_records
);

impl Items for Metric {
    fn items(&self) -> u64 {
        self.data.as_ref().map_or(0, point_count)
    }

    fn split(mut self, room: u64, max: u64) -> Vec<(Self, u64)> {
        let data = match self.data.take() {
            None => return vec![(self, 0)],
            Some(Data::Gauge(g)) => deal(g.data_points, room, max, |data_points| {
                Data::Gauge(Gauge { data_points })
            }),
            Some(Data::Sum(mut s)) => deal(
                std::mem::take(&mut s.data_points),
                room,
                max,
                |data_points| {
                    Data::Sum(Sum {
                        data_points,
                        ..s.clone()
                    })
                },
            ),
            Some(Data::Histogram(mut h)) => deal(
                std::mem::take(&mut h.data_points),
                room,
                max,
                |data_points| {
                    Data::Histogram(Histogram {
                        data_points,
                        ..h.clone()
                    })
                },
            ),
            Some(Data::ExponentialHistogram(mut e)) => deal(
                std::mem::take(&mut e.data_points),
                room,
                max,
                |data_points| {
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points,
                        ..e.clone()
                    })
                },
            ),
            Some(Data::Summary(s)) => deal(s.data_points, room, max, |data_points| {
                Data::Summary(Summary { data_points })
            }),
        };
        data.into_iter()
            .map(|(data, n)| {
                (
                    Metric {
                        data: Some(data),
                        ..self.clone()
                    },
                    n,
                )
            })
            .collect()
    }
}

/// Deals data points into chunks as [`pack`] does, each wrapped back into its metric's data.
fn deal<P: Items>(
    points: Vec<P>,
    room: u64,
    max: u64,
    wrap: impl Fn(Vec<P>) -> Data,
) -> Vec<(Data, u64)> {
    pack(points, room, max, Items::items, Items::split)
        .into_iter()
        .map(|(points, n)| (wrap(points), n))
        .collect()
}

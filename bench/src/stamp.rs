//! Advances a pre-encoded OTLP metrics request to round `k` by rewriting its
//! fixed-width fields in place: timestamps, counter values, histogram counts.
//!
//! Why: encoding requests while measuring would spend the generator's CPU
//! (shared with the target on a small machine) on work the target does not
//! see, and replaying identical bytes would send cumulative counters that
//! never move and timestamps that fall behind. Every field that must advance
//! is fixed-width in the OTLP schema (`fixed64` times and counts, `sfixed64`
//! integers, `double` values), so a request is encoded once and each send
//! copies the bytes and rewrites those fields. Lengths never change.
//!
//! The plan is derived from the encoded bytes by walking the protobuf wire
//! format (<https://protobuf.dev/programming-guides/encoding/>) along the
//! OTLP metrics schema
//! (<https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/metrics/v1/metrics.proto>),
//! so it cannot drift from what the generator built. Round 0 is the template
//! itself; round `k` multiplies cumulative values by `k + 1` (always
//! increasing, since every base value is positive) and moves gauges by
//! `k % 16`. Delta points keep their values and get a start time equal to the
//! previous send's time.

use std::fmt;

/// What to write at one offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `time_unix_nano`: the send time.
    Time,
    /// `start_time_unix_nano` of a delta point: the previous send time.
    StartTime,
    /// A cumulative 64-bit integer (sfixed64 value, fixed64 count or bucket): base × (k+1).
    ScaleInt,
    /// A cumulative double (value or histogram sum): base × (k+1).
    ScaleDouble,
    /// A gauge integer: base + k % 16.
    BumpInt,
    /// A gauge double: base + k % 16.
    BumpDouble,
}

/// One fixed64-sized field to rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Byte offset of the 8-byte little-endian field in the encoded request.
    pub offset: u32,
    /// How its new value is computed.
    pub op: Op,
}

/// Where a send stands: which round, and the times to write.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// 0 for the first send of a request, then 1, 2, ...
    pub k: u64,
    /// Nanoseconds since the Unix epoch: this send.
    pub now_ns: u64,
    /// Nanoseconds since the Unix epoch: the previous send of the same request.
    pub prev_ns: u64,
}

/// The request is not the wire format the walker expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset where reading failed.
    pub offset: usize,
    /// What was wrong there.
    pub what: &'static str,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed protobuf at byte {}: {}",
            self.offset, self.what
        )
    }
}

impl std::error::Error for WireError {}

/// A request's rewrite plan and its point count.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Fields to rewrite on every send, in offset order.
    pub patches: Vec<Patch>,
    /// Data points in the request.
    pub points: usize,
}

impl Plan {
    /// Walks an encoded `ExportMetricsServiceRequest` and finds every field to advance.
    pub fn of(request: &[u8]) -> Result<Plan, WireError> {
        let mut plan = Plan::default();
        // ExportMetricsServiceRequest.resource_metrics (1) -> ResourceMetrics.scope_metrics (2).
        for rm in fields(request, 0) {
            let rm = rm?;
            let (1, Wire::Len(s, e)) = (rm.number, rm.wire) else {
                continue;
            };
            for sm in fields(&request[s..e], s) {
                let sm = sm?;
                let (2, Wire::Len(s, e)) = (sm.number, sm.wire) else {
                    continue;
                };
                plan.scope(request, s, e)?;
            }
        }
        Ok(plan)
    }

    /// ScopeMetrics.metrics (2) -> Metric.data.
    fn scope(&mut self, buf: &[u8], s: usize, e: usize) -> Result<(), WireError> {
        for metric in fields(&buf[s..e], s) {
            let metric = metric?;
            if let (2, Wire::Len(s, e)) = (metric.number, metric.wire) {
                for data in fields(&buf[s..e], s) {
                    let data = data?;
                    let Wire::Len(ds, de) = data.wire else {
                        continue;
                    };
                    // Metric.data: 5 gauge, 7 sum, 9 histogram. Others are never generated.
                    let shape = match data.number {
                        5 => PointShape::Gauge,
                        7 => PointShape::Sum,
                        9 => PointShape::Histogram,
                        _ => continue,
                    };
                    self.data(buf, ds, de, shape)?;
                }
            }
        }
        Ok(())
    }

    /// A Gauge, Sum or Histogram message: field 1 data points, field 2 temporality.
    fn data(&mut self, buf: &[u8], s: usize, e: usize, shape: PointShape) -> Result<(), WireError> {
        let mut delta = false;
        for f in fields(&buf[s..e], s) {
            let f = f?;
            if let (2, Wire::Varint(t)) = (f.number, f.wire) {
                delta = t == 1; // AGGREGATION_TEMPORALITY_DELTA
            }
        }
        for f in fields(&buf[s..e], s) {
            let f = f?;
            if let (1, Wire::Len(ps, pe)) = (f.number, f.wire) {
                self.points += 1;
                self.point(buf, ps, pe, shape, delta)?;
            }
        }
        Ok(())
    }

    fn point(
        &mut self,
        buf: &[u8],
        s: usize,
        e: usize,
        shape: PointShape,
        delta: bool,
    ) -> Result<(), WireError> {
        for f in fields(&buf[s..e], s) {
            let f = f?;
            let op = match (shape, f.number, f.wire) {
                (_, 3, Wire::Fixed64(_)) => Some(Op::Time),
                (PointShape::Gauge, 2, _) => None,
                (_, 2, Wire::Fixed64(_)) if delta => Some(Op::StartTime),
                (_, _, Wire::Fixed64(_)) if delta && shape != PointShape::Gauge => None,
                // NumberDataPoint: 4 as_double, 6 as_int.
                (PointShape::Gauge, 4, Wire::Fixed64(_)) => Some(Op::BumpDouble),
                (PointShape::Gauge, 6, Wire::Fixed64(_)) => Some(Op::BumpInt),
                (PointShape::Sum, 4, Wire::Fixed64(_)) => Some(Op::ScaleDouble),
                (PointShape::Sum, 6, Wire::Fixed64(_)) => Some(Op::ScaleInt),
                // HistogramDataPoint: 4 count, 5 sum.
                (PointShape::Histogram, 4, Wire::Fixed64(_)) => Some(Op::ScaleInt),
                (PointShape::Histogram, 5, Wire::Fixed64(_)) => Some(Op::ScaleDouble),
                // 6 bucket_counts: packed fixed64 (as prost writes it), or one field per count.
                (PointShape::Histogram, 6, Wire::Fixed64(_)) if !delta => Some(Op::ScaleInt),
                (PointShape::Histogram, 6, Wire::Len(bs, be)) if !delta => {
                    if (be - bs) % 8 != 0 {
                        return Err(WireError {
                            offset: bs,
                            what: "packed bucket counts are not a multiple of 8 bytes",
                        });
                    }
                    for at in (bs..be).step_by(8) {
                        self.push(at, Op::ScaleInt);
                    }
                    None
                }
                _ => None,
            };
            if let (Some(op), Wire::Fixed64(at)) = (op, f.wire) {
                self.push(at, op);
            }
        }
        Ok(())
    }

    fn push(&mut self, offset: usize, op: Op) {
        self.patches.push(Patch {
            offset: u32::try_from(offset).expect("requests are far below 4 GiB"),
            op,
        });
    }

    /// Writes round `at` into `out`, a copy of `template` (same length).
    pub fn apply(&self, template: &[u8], out: &mut [u8], at: Round) {
        debug_assert_eq!(template.len(), out.len());
        let scale = at.k.wrapping_add(1);
        let bump = at.k % 16;
        for p in &self.patches {
            let o = p.offset as usize;
            let base = u64::from_le_bytes(read8(template, o));
            let value = match p.op {
                Op::Time => at.now_ns,
                Op::StartTime => at.prev_ns,
                // Two's complement: also right for a negative sfixed64 base.
                Op::ScaleInt => base.wrapping_mul(scale),
                Op::ScaleDouble => (f64::from_bits(base) * scale as f64).to_bits(),
                Op::BumpInt => base.wrapping_add(bump),
                Op::BumpDouble => (f64::from_bits(base) + bump as f64).to_bits(),
            };
            out[o..o + 8].copy_from_slice(&value.to_le_bytes());
        }
    }
}

fn read8(buf: &[u8], at: usize) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PointShape {
    Gauge,
    Sum,
    Histogram,
}

// === wire format ===

/// A field's payload, with absolute offsets into the whole request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Varint(u64),
    /// Offset of the 8 payload bytes.
    Fixed64(usize),
    /// Start and end of a length-delimited payload.
    Len(usize, usize),
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    number: u32,
    wire: Wire,
}

/// Iterates the fields of one message; `base` is the message's offset in the request.
fn fields(buf: &[u8], base: usize) -> impl Iterator<Item = Result<Field, WireError>> + '_ {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= buf.len() {
            return None;
        }
        let r = next_field(buf, &mut pos, base);
        failed = r.is_err();
        Some(r)
    })
}

fn next_field(buf: &[u8], pos: &mut usize, base: usize) -> Result<Field, WireError> {
    let err = |at: usize, what| WireError {
        offset: base + at,
        what,
    };
    let key = varint(buf, pos).ok_or_else(|| err(*pos, "truncated field key"))?;
    let number = u32::try_from(key >> 3).map_err(|_| err(*pos, "field number out of range"))?;
    let wire = match key & 7 {
        0 => Wire::Varint(varint(buf, pos).ok_or_else(|| err(*pos, "truncated varint"))?),
        1 => {
            let at = *pos;
            *pos = at
                .checked_add(8)
                .filter(|&e| e <= buf.len())
                .ok_or_else(|| err(at, "truncated fixed64"))?;
            Wire::Fixed64(base + at)
        }
        2 => {
            let len = varint(buf, pos).ok_or_else(|| err(*pos, "truncated length"))?;
            let start = *pos;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= buf.len())
                .ok_or_else(|| err(start, "length past the end of the message"))?;
            *pos = end;
            Wire::Len(base + start, base + end)
        }
        5 => {
            let at = *pos;
            *pos = at
                .checked_add(4)
                .filter(|&e| e <= buf.len())
                .ok_or_else(|| err(at, "truncated fixed32"))?;
            Wire::Other
        }
        _ => return Err(err(*pos, "unsupported wire type (groups are not OTLP)")),
    };
    Ok(Field { number, wire })
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
#[path = "stamp_tests.rs"]
mod tests;

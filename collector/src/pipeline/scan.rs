//! Validates and counts an encoded OTLP export request without decoding it.
//!
//! Every request that passes through the collector needs two answers: is it a request prost
//! would decode, and how many items (data points, spans, log records) does it hold? The batch
//! processor needs a third: where does each top-level `resource_*` entry start and end, so that
//! a large group can be cut between entries. Decoding with prost answers all three but builds
//! every message, string and attribute only to drop them again when the bytes are forwarded as
//! they came. [`scan`] walks the [protobuf wire format] instead, guided by tables of the
//! [OTLP messages] (field numbers and types as in `opentelemetry-proto` 0.33), allocating only
//! the small list of entries it returns.
//!
//! # What it accepts
//!
//! Exactly what `prost::Message::decode` accepts for `Export{Metrics,Trace,Logs}ServiceRequest`,
//! and it counts what prost would decode; the property tests (`scan/tests.rs`) hold it to that
//! on random requests with every field set and on tens of thousands of mutations of them. That means, as prost does, in every message down to the leaves (attributes,
//! `AnyValue`s, exemplars, buckets, events, links):
//!
//! * every key and varint is well formed (at most 10 bytes, no overflow past `u64`), keys fit in
//!   `u32`, field numbers are not 0 and wire types are 0 to 5;
//! * every length stays within the message that holds it;
//! * a known field has its type's wire type (a repeated scalar may also be packed; packed
//!   fixed-width data is a whole number of values and packed varints end where the field does);
//! * `string` fields are UTF-8 (ASCII strings, nearly all of them, are checked with the cheap
//!   `is_ascii`; others with `std::str::from_utf8`);
//! * unknown fields are skipped by wire type, groups included (their end tag must match);
//! * messages and groups nest at most 100 deep (prost's `RECURSION_LIMIT`, counted the same
//!   way), so the walk's recursion is bounded;
//! * in a `Metric`, only the last of `gauge`/`sum`/`histogram`/`exponential_histogram`/
//!   `summary` counts, and repeats of the same one add up: prost merges a repeated oneof field
//!   into the value already there when the variant matches and replaces it otherwise.
//!
//! What it deliberately does not check is what prost does not check either: enum values, the
//! lengths of trace and span ids, semantic rules of the OTLP specification. Being exact costs
//! the UTF-8 checks and the walk through attributes; in exchange a receiver can trust a
//! scanned request as much as a decoded one, and one malformed request merged by the batch
//! processor cannot make an upstream refuse a whole group of other clients' data.
//!
//! [protobuf wire format]: https://protobuf.dev/programming-guides/encoding/
//! [OTLP messages]: https://github.com/open-telemetry/opentelemetry-proto/tree/v1.7.0/opentelemetry/proto

use std::ops::Range;

use super::Signal;
use otlp::{Role, Schema, Wire};

mod otlp;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod random;
#[cfg(test)]
mod tests;

/// How deep prost lets messages and groups nest (`prost::RECURSION_LIMIT`): the fields of the
/// request itself are read with this budget, and every message or group level spends one.
const RECURSION_LIMIT: u32 = 100;

/// What [`scan`] found in a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Items in the whole request: data points, spans or log records.
    pub items: u64,
    /// Each top-level `resource_metrics` / `resource_spans` / `resource_logs` field, in order.
    /// Unknown top-level fields are skipped and not listed.
    pub resources: Vec<Entry>,
}

/// One top-level field of a request: a `Resource{Metrics,Spans,Logs}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes in the request, key and length prefix included, so that the concatenation of
    /// any entries (of one signal) is a valid request holding exactly them.
    pub range: Range<usize>,
    /// Items in it.
    pub items: u64,
}

/// Why a request is not one prost would decode, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message} at byte {offset}: {kind}")]
pub struct ScanError {
    /// Offset in the request of the field (or varint) that is wrong.
    pub offset: usize,
    /// The protobuf message being read there (`Metric`, `Span`, `KeyValue`, ...).
    pub message: &'static str,
    /// What is wrong.
    pub kind: ScanErrorKind,
}

/// What is wrong with a request; see [`ScanError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanErrorKind {
    /// A varint runs past the end of its message, is longer than 10 bytes or overflows `u64`.
    #[error("truncated or overlong varint")]
    InvalidVarint,
    /// A field key larger than `u32::MAX`.
    #[error("field key {key} is out of range")]
    InvalidKey {
        /// The key as decoded.
        key: u64,
    },
    /// Wire type 6 or 7, which do not exist.
    #[error("field {field} has invalid wire type {wire_type}")]
    InvalidWireType {
        /// The field number.
        field: u32,
        /// The wire type.
        wire_type: u8,
    },
    /// Field number 0.
    #[error("field number 0")]
    ZeroFieldNumber,
    /// A known field written with a wire type its type does not have.
    #[error("field {field} is encoded as {found}, expected {expected}")]
    WrongWireType {
        /// The field number.
        field: u32,
        /// The wire type found.
        found: &'static str,
        /// The wire type its type has.
        expected: &'static str,
    },
    /// A value runs past the end of the message holding it.
    #[error("field {field} needs {needed} bytes, only {available} are left")]
    Truncated {
        /// The field number.
        field: u32,
        /// Bytes the value says it has.
        needed: u64,
        /// Bytes left in the message.
        available: usize,
    },
    /// Packed fixed-width values whose length is not a multiple of the width.
    #[error("packed field {field} has {len} bytes, not a whole number of {width}-byte values")]
    PackedLength {
        /// The field number.
        field: u32,
        /// Its length in bytes.
        len: usize,
        /// The width of one value.
        width: usize,
    },
    /// A `string` field that is not UTF-8.
    #[error("field {field} is a string but not UTF-8")]
    InvalidUtf8 {
        /// The field number.
        field: u32,
    },
    /// An end-group tag that closes no open group (or another field's).
    #[error("end-group tag of field {field} without a matching start")]
    UnexpectedEndGroup {
        /// The field number of the end tag.
        field: u32,
    },
    /// A group still open when its message ends.
    #[error("group of field {field} is not closed")]
    UnterminatedGroup {
        /// The field number of the group.
        field: u32,
    },
    /// Messages and groups nested deeper than prost's recursion limit (100).
    #[error("nested deeper than the recursion limit of {RECURSION_LIMIT}")]
    RecursionLimit,
}

/// Checks that `body` is an encoded export request of `signal` that prost would decode, and
/// counts its items, in total and per top-level entry. Never panics, whatever the bytes.
pub fn scan(signal: Signal, body: &[u8]) -> Result<Scan, ScanError> {
    let request = match signal {
        Signal::Metrics => &otlp::METRICS_REQUEST,
        Signal::Traces => &otlp::TRACES_REQUEST,
        Signal::Logs => &otlp::LOGS_REQUEST,
    };
    let mut found = Scan::default();
    walk(
        body,
        0..body.len(),
        request,
        RECURSION_LIMIT,
        |_, at, payload, resource, budget| {
            let end = payload.end;
            let items = count(body, payload, resource, budget)?;
            // No overflow: every item takes at least two bytes of `body`.
            found.items += items;
            found.resources.push(Entry {
                range: at..end,
                items,
            });
            Ok(())
        },
    )?;
    Ok(found)
}

// === The walk ===

/// Items in one message on the path from a request to its items.
fn count(
    body: &[u8],
    range: Range<usize>,
    schema: &'static Schema,
    budget: u32,
) -> Result<u64, ScanError> {
    let mut items = 0;
    match schema.role {
        Role::Item => {
            validate(body, range, schema, budget)?;
            items = 1;
        }
        Role::Container => {
            walk(
                body,
                range,
                schema,
                budget,
                |_, _, payload, child, budget| {
                    items += count(body, payload, child, budget)?;
                    Ok(())
                },
            )?;
        }
        Role::Metric => {
            // The `data` oneof: a repeat of the variant already set merges into it (its points
            // add up); another variant replaces it.
            let mut variant = 0;
            walk(
                body,
                range,
                schema,
                budget,
                |field, _, payload, child, budget| {
                    let points = count(body, payload, child, budget)?;
                    if field == variant {
                        items += points;
                    } else {
                        variant = field;
                        items = points;
                    }
                    Ok(())
                },
            )?;
        }
    }
    Ok(items)
}

/// Checks one message and everything in it, counting nothing.
fn validate(
    body: &[u8],
    range: Range<usize>,
    schema: &'static Schema,
    budget: u32,
) -> Result<(), ScanError> {
    walk(
        body,
        range,
        schema,
        budget,
        |_, _, payload, child, budget| validate(body, payload, child, budget),
    )
}

/// Walks the fields of one message of type `schema` in `body[range]`, whose fields prost would
/// read with recursion budget `budget`. Sub-messages typed [`Wire::Msg`] are validated here;
/// for those typed [`Wire::Path`], `on_path(field, key offset, payload, type, budget)` is
/// called instead, and decides how to descend.
#[inline]
fn walk<F>(
    body: &[u8],
    range: Range<usize>,
    schema: &'static Schema,
    budget: u32,
    mut on_path: F,
) -> Result<(), ScanError>
where
    F: FnMut(u32, usize, Range<usize>, &'static Schema, u32) -> Result<(), ScanError>,
{
    let mut cur = Cursor::new(body, range, schema.name);
    while cur.has_more() {
        let at = cur.pos;
        let (field, wire) = cur.key()?;
        let expected = schema.wire(field);
        match (expected, wire) {
            (Wire::Unknown, _) => cur.skip(field, wire, at, budget)?,
            (Wire::Varint | Wire::PackedVarint, wire::VARINT) => {
                cur.varint()?;
            }
            (Wire::I64 | Wire::PackedI64, wire::I64) => cur.fixed(8, field, at)?,
            (Wire::I32, wire::I32) => cur.fixed(4, field, at)?,
            (Wire::Bytes, wire::LEN) => {
                cur.len_delimited(field, at)?;
            }
            (Wire::Str, wire::LEN) => {
                let payload = cur.len_delimited(field, at)?;
                let text = body.get(payload).unwrap_or_default();
                // Most strings are ASCII, checked much faster than by `from_utf8`'s setup.
                if !text.is_ascii() && std::str::from_utf8(text).is_err() {
                    return Err(cur.error(at, ScanErrorKind::InvalidUtf8 { field }));
                }
            }
            (Wire::PackedI64, wire::LEN) => {
                let payload = cur.len_delimited(field, at)?;
                if payload.len() % 8 != 0 {
                    let kind = ScanErrorKind::PackedLength {
                        field,
                        len: payload.len(),
                        width: 8,
                    };
                    return Err(cur.error(at, kind));
                }
            }
            (Wire::PackedVarint, wire::LEN) => {
                let payload = cur.len_delimited(field, at)?;
                let mut packed = Cursor::new(body, payload, schema.name);
                while packed.has_more() {
                    packed.varint()?;
                }
            }
            (Wire::Msg(child), wire::LEN) => {
                let budget = cur.enter(budget, at)?;
                let payload = cur.len_delimited(field, at)?;
                validate(body, payload, child, budget)?;
            }
            (Wire::Path(child), wire::LEN) => {
                let budget = cur.enter(budget, at)?;
                let payload = cur.len_delimited(field, at)?;
                on_path(field, at, payload, child, budget)?;
            }
            _ => {
                let kind = ScanErrorKind::WrongWireType {
                    field,
                    found: wire::name(wire),
                    expected: expected.name(),
                };
                return Err(cur.error(at, kind));
            }
        }
    }
    Ok(())
}

/// Reads the fields of one message, `body[range]`: `buf` is the body up to the message's end,
/// so offsets are the request's and every read is bounded by the message.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(body: &'a [u8], range: Range<usize>, message: &'static str) -> Self {
        let buf = body.get(..range.end).unwrap_or(body);
        Cursor {
            buf,
            pos: range.start.min(buf.len()),
            message,
        }
    }

    fn has_more(&self) -> bool {
        self.pos < self.buf.len()
    }

    fn error(&self, offset: usize, kind: ScanErrorKind) -> ScanError {
        ScanError {
            offset,
            message: self.message,
            kind,
        }
    }

    /// One varint, as prost reads it.
    #[inline]
    fn varint(&mut self) -> Result<u64, ScanError> {
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.varint_long()
    }

    fn varint_long(&mut self) -> Result<u64, ScanError> {
        let start = self.pos;
        let bytes = self.buf.get(start..).unwrap_or_default();
        let mut value = 0u64;
        for (i, &byte) in bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                // The tenth byte holds bit 63 only; more would overflow (prost refuses it).
                if i == 9 && byte > 1 {
                    break;
                }
                self.pos = start + i + 1;
                return Ok(value);
            }
        }
        Err(self.error(start, ScanErrorKind::InvalidVarint))
    }

    /// A field key: its number and wire type, checked as prost's `decode_key` does.
    #[inline]
    fn key(&mut self) -> Result<(u32, u8), ScanError> {
        let at = self.pos;
        let key = self.varint()?;
        let Ok(key) = u32::try_from(key) else {
            return Err(self.error(at, ScanErrorKind::InvalidKey { key }));
        };
        let wire_type = (key & 7) as u8;
        let field = key >> 3;
        if wire_type > wire::I32 {
            return Err(self.error(at, ScanErrorKind::InvalidWireType { field, wire_type }));
        }
        if field == 0 {
            return Err(self.error(at, ScanErrorKind::ZeroFieldNumber));
        }
        Ok((field, wire_type))
    }

    /// Steps over `len` bytes of the value of `field` (whose key is at `at`).
    #[inline]
    fn fixed(&mut self, len: u64, field: u32, at: usize) -> Result<(), ScanError> {
        let available = self.buf.len().saturating_sub(self.pos);
        if len > available as u64 {
            let kind = ScanErrorKind::Truncated {
                field,
                needed: len,
                available,
            };
            return Err(self.error(at, kind));
        }
        // `len <= available`, so this stays within `end`.
        self.pos += len as usize;
        Ok(())
    }

    /// A length prefix and the bytes it covers, stepped over; returns where they are.
    #[inline]
    fn len_delimited(&mut self, field: u32, at: usize) -> Result<Range<usize>, ScanError> {
        let len = self.varint()?;
        let start = self.pos;
        self.fixed(len, field, at)?;
        Ok(start..self.pos)
    }

    /// The budget for the fields of a sub-message at this level, as prost's `limit_reached`
    /// and `enter_recursion` compute it.
    #[inline]
    fn enter(&self, budget: u32, at: usize) -> Result<u32, ScanError> {
        match budget.checked_sub(1) {
            Some(inner) => Ok(inner),
            None => Err(self.error(at, ScanErrorKind::RecursionLimit)),
        }
    }

    /// Steps over the value of an unknown field, as prost's `skip_field` does: groups are
    /// skipped up to their matching end tag, each level spending one unit of `budget`.
    fn skip(&mut self, field: u32, wire_type: u8, at: usize, budget: u32) -> Result<(), ScanError> {
        if budget == 0 {
            return Err(self.error(at, ScanErrorKind::RecursionLimit));
        }
        match wire_type {
            wire::VARINT => {
                self.varint()?;
            }
            wire::I64 => self.fixed(8, field, at)?,
            wire::I32 => self.fixed(4, field, at)?,
            wire::LEN => {
                self.len_delimited(field, at)?;
            }
            wire::START_GROUP => loop {
                if !self.has_more() {
                    return Err(self.error(at, ScanErrorKind::UnterminatedGroup { field }));
                }
                let inner_at = self.pos;
                let (inner, inner_wire) = self.key()?;
                if inner_wire == wire::END_GROUP {
                    if inner != field {
                        let kind = ScanErrorKind::UnexpectedEndGroup { field: inner };
                        return Err(self.error(inner_at, kind));
                    }
                    break;
                }
                self.skip(inner, inner_wire, inner_at, budget - 1)?;
            },
            _ => return Err(self.error(at, ScanErrorKind::UnexpectedEndGroup { field })),
        }
        Ok(())
    }
}

/// Protobuf wire types.
mod wire {
    pub(super) const VARINT: u8 = 0;
    pub(super) const I64: u8 = 1;
    pub(super) const LEN: u8 = 2;
    pub(super) const START_GROUP: u8 = 3;
    pub(super) const END_GROUP: u8 = 4;
    pub(super) const I32: u8 = 5;

    /// The name the protobuf documentation gives a wire type.
    pub(super) fn name(wire_type: u8) -> &'static str {
        match wire_type {
            VARINT => "VARINT",
            I64 => "I64",
            LEN => "LEN",
            START_GROUP => "SGROUP",
            END_GROUP => "EGROUP",
            _ => "I32",
        }
    }
}

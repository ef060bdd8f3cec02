//! Attribute lists read straight from the wire, as the store's [`Attributes`].
//!
//! A `KeyValue` whose value is a scalar (string, bool, int, double, bytes, or none) becomes a
//! `(&str, AttrValue)` pair borrowing the request: no `KeyValue`, no `String`. The rest (an
//! array or key-value list, rare in metrics) is decoded with prost into the request's scratch,
//! so that its [`AttrValue::Complex`] is the very `AnyValue` the prost path would see, and the
//! store hashes and compares it the same way: one series, whichever path found it.
//!
//! Merging follows protobuf: repeated `attributes` fields add up, a repeated `key` replaces the
//! earlier one, and repeated `value` messages merge (the last scalar set wins).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use super::wire::{Malformed, Msg, Value};
use crate::store::{AttrValue, Attributes};

/// One attribute of a list being read.
#[derive(Clone, Copy, Debug)]
pub(super) enum Attr<'a> {
    /// Borrowed from the request.
    Plain(&'a str, AttrValue<'a>),
    /// The prost-decoded `KeyValue` at this index of the scratch.
    Decoded(usize),
}

/// Reusable storage for the attribute lists of one request.
#[derive(Default)]
pub(super) struct AttrScratch<'a> {
    list: Vec<Attr<'a>>,
    decoded: Vec<KeyValue>,
}

impl<'a> AttrScratch<'a> {
    /// Starts a new list.
    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.decoded.clear();
    }

    /// Adds one encoded `KeyValue`.
    pub(super) fn push(&mut self, kv: Msg<'a>) -> Result<(), Malformed> {
        match plain(kv)? {
            Some((key, value)) => self.list.push(Attr::Plain(key, value)),
            None => {
                let decoded = KeyValue::decode(kv.bytes).map_err(|_| Malformed {
                    offset: kv.base,
                    message: "KeyValue",
                    problem: "prost refuses it",
                })?;
                self.list.push(Attr::Decoded(self.decoded.len()));
                self.decoded.push(decoded);
            }
        }
        Ok(())
    }

    /// The list read since the last [`AttrScratch::clear`].
    pub(super) fn view(&self) -> WireAttrs<'_, 'a> {
        WireAttrs {
            list: &self.list,
            decoded: &self.decoded,
        }
    }
}

/// A `KeyValue` as a borrowed pair, or `None` when its value needs prost (an array or a
/// key-value list, whose merge rules are prost's to apply).
pub(super) fn plain(kv: Msg<'_>) -> Result<Option<(&str, AttrValue<'_>)>, Malformed> {
    const KV: &str = "KeyValue";
    let mut key = "";
    let mut value = AttrValue::Empty;
    let mut fields = kv.fields(KV);
    while let Some((field, v, at)) = fields.next()? {
        match (field, v) {
            (1, Value::Len(s)) => key = s.str(KV)?,
            (2, Value::Len(any)) => {
                const ANY: &str = "AnyValue";
                let mut inner = any.fields(ANY);
                while let Some((field, v, at)) = inner.next()? {
                    value = match (field, v) {
                        (1, Value::Len(s)) => AttrValue::Str(s.str(ANY)?),
                        (2, Value::Varint(b)) => AttrValue::Bool(b != 0),
                        (3, Value::Varint(i)) => AttrValue::Int(i as i64),
                        (4, Value::I64(d)) => AttrValue::Double(f64::from_bits(d)),
                        (5 | 6, Value::Len(_)) => return Ok(None),
                        (7, Value::Len(b)) => AttrValue::Bytes(b.bytes),
                        // `string_value_strindex`: a dictionary index, which the store reads
                        // as no value (as `AttrValue::from_any` does).
                        (8, Value::Varint(_)) => AttrValue::Empty,
                        (1..=8, _) => return Err(inner.wrong_type(at)),
                        _ => value,
                    };
                }
            }
            (3, Value::Varint(_)) => {}
            (1..=3, _) => return Err(fields.wrong_type(at)),
            _ => {}
        }
    }
    Ok(Some((key, value)))
}

/// An attribute list read from the wire.
pub(super) struct WireAttrs<'s, 'a> {
    list: &'s [Attr<'a>],
    decoded: &'s [KeyValue],
}

impl Attributes for WireAttrs<'_, '_> {
    #[inline]
    fn len(&self) -> usize {
        self.list.len()
    }

    #[inline]
    fn get(&self, i: usize) -> (&str, AttrValue<'_>) {
        match self.list.get(i) {
            Some(Attr::Plain(key, value)) => (key, *value),
            Some(Attr::Decoded(j)) => match self.decoded.get(*j) {
                Some(kv) => (&kv.key, AttrValue::from_any(kv.value.as_ref())),
                None => ("", AttrValue::Empty),
            },
            None => ("", AttrValue::Empty),
        }
    }
}

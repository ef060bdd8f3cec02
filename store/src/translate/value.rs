//! Attribute values as label values: OTel `AnyValue`s in, the strings the common specification
//! prescribes for non-OTLP protocols out.
//!
//! The rules are "AnyValue representation for non-OTLP protocols" (specification/common/README.md),
//! which the compatibility spec points to for "non-string Attribute values": strings as they are
//! (no quotes), booleans and numbers as JSON literals, NaN and infinities as `NaN`, `Infinity`,
//! `-Infinity`, bytes as standard Base64, the empty value as the empty string, arrays and maps as
//! JSON in which nested bytes are Base64 JSON strings, nested empty values `null`, and nested NaN
//! and infinities JSON strings. Numbers use the shortest text that reads back to the same value.
//!
//! This is the one place an attribute value becomes text: labels, the store's hash of an
//! array or map value, and the JSON snapshot (which reads this text back for arrays and maps,
//! see `export/json.rs`) all use [`attr_value_string`], so a value reads the same everywhere.
//!
//! Bytes are written as text in one way only, by [`bytes_text`]: standard Base64, in labels (at
//! the top level and nested), and in Vigil's JSON snapshot too (attribute values and values
//! nested in arrays and maps). The snapshot used to spell them in hex, so one attribute read
//! differently on `/metrics` and in the snapshot; Base64 is what the compatibility specification
//! prescribes for labels, and one spelling lets a reader match the two (issue 9).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};

/// One OTel attribute value, borrowed from wherever it was decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValueRef<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An array or a key-value list (`array_value`, `kvlist_value`), as decoded.
    Complex(&'a AnyValue),
    Empty,
}

impl<'a> AttrValueRef<'a> {
    /// The view of a decoded value (a string index, which only profiles use, reads as empty).
    pub fn of(any: &'a AnyValue) -> Self {
        match &any.value {
            Some(any_value::Value::StringValue(s)) => AttrValueRef::Str(s),
            Some(any_value::Value::BoolValue(b)) => AttrValueRef::Bool(*b),
            Some(any_value::Value::IntValue(i)) => AttrValueRef::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AttrValueRef::Double(*d),
            Some(any_value::Value::BytesValue(b)) => AttrValueRef::Bytes(b),
            Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
                AttrValueRef::Complex(any)
            }
            Some(any_value::Value::StringValueStrindex(_)) | None => AttrValueRef::Empty,
        }
    }
}

/// The label value for one attribute value. Borrows for strings and booleans.
pub fn attr_value_string<'a>(v: &AttrValueRef<'a>) -> Cow<'a, str> {
    match *v {
        AttrValueRef::Str(s) => Cow::Borrowed(s),
        AttrValueRef::Bool(true) => Cow::Borrowed("true"),
        AttrValueRef::Bool(false) => Cow::Borrowed("false"),
        AttrValueRef::Int(i) => Cow::Owned(itoa::Buffer::new().format(i).to_owned()),
        AttrValueRef::Double(d) => match non_finite(d) {
            Some(word) => Cow::Borrowed(word),
            None => Cow::Owned(ryu::Buffer::new().format_finite(d).to_owned()),
        },
        AttrValueRef::Bytes(bytes) => Cow::Owned(bytes_text(bytes)),
        AttrValueRef::Empty => Cow::Borrowed(""),
        AttrValueRef::Complex(_) => {
            let mut out = String::new();
            push_json(v, &mut out);
            Cow::Owned(out)
        }
    }
}

/// Appends the label value of `v` ([`attr_value_string`]) escaped for a label
/// ([`escape_label_value`](super::escape_label_value)), allocating nothing for strings,
/// booleans and integers (a page writes labels this way for every series it does not keep the
/// text of).
pub fn push_label_value(v: &AttrValueRef<'_>, out: &mut String) {
    match *v {
        // The same text `attr_value_string` gives, without its `String` (digits need no escape).
        AttrValueRef::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
        _ => super::escape_label_value(&attr_value_string(v), out),
    }
}

/// A bytes value as text: standard Base64 (RFC 4648 §4) with padding. Every place Vigil writes
/// bytes as text (labels, the JSON snapshot) goes through here.
pub fn bytes_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    push_base64(bytes, &mut out);
    out
}

fn non_finite(d: f64) -> Option<&'static str> {
    if d.is_nan() {
        Some("NaN")
    } else if d == f64::INFINITY {
        Some("Infinity")
    } else if d == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

fn push_json(v: &AttrValueRef<'_>, out: &mut String) {
    match *v {
        AttrValueRef::Str(s) => push_json_string(s, out),
        AttrValueRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        AttrValueRef::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
        AttrValueRef::Double(d) => match non_finite(d) {
            Some(word) => push_json_string(word, out),
            None => out.push_str(ryu::Buffer::new().format_finite(d)),
        },
        AttrValueRef::Bytes(bytes) => {
            out.push('"');
            push_base64(bytes, out);
            out.push('"');
        }
        AttrValueRef::Empty => out.push_str("null"),
        AttrValueRef::Complex(any) => match &any.value {
            Some(any_value::Value::ArrayValue(array)) => {
                out.push('[');
                for (i, item) in array.values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json(&AttrValueRef::of(item), out);
                }
                out.push(']');
            }
            Some(any_value::Value::KvlistValue(list)) => {
                out.push('{');
                for (i, kv) in list.values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(&kv.key, out);
                    out.push(':');
                    match &kv.value {
                        Some(value) => push_json(&AttrValueRef::of(value), out),
                        None => out.push_str("null"),
                    }
                }
                out.push('}');
            }
            _ => push_json(&AttrValueRef::of(any), out),
        },
    }
}

/// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
fn push_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Standard Base64 (RFC 4648 §4) with padding.
fn push_base64(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        out.extend([sextet(n, 18), sextet(n, 12), sextet(n, 6), sextet(n, 0)]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend([sextet(n, 18), sextet(n, 12), '=', '=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend([sextet(n, 18), sextet(n, 12), sextet(n, 6), '=']);
        }
        _ => {}
    }
}

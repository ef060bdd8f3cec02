//! The text-format primitives the renderers share: escaped label values and HELP text, and sample
//! values and thresholds written the way both Prometheus text 0.0.4 and OpenMetrics 1.0 parse.
//!
//! Escaping follows the formats, not the OTel spec: 0.0.4 escapes `\`, `"` and line feed in label
//! values and `\` and line feed in HELP; OpenMetrics escapes all three in both. Each function
//! appends to a caller's buffer and copies the input in one piece when nothing needs escaping.

/// Append a label value escaped for the text formats (`\` → `\\`, `"` → `\"`, line feed → `\n`).
pub fn escape_label_value(value: &str, out: &mut String) {
    escape(value, out, true);
}

/// Append HELP text escaped: `\` → `\\` and line feed → `\n`; with `openmetrics`, also `"` → `\"`.
pub fn escape_help(text: &str, openmetrics: bool, out: &mut String) {
    escape(text, out, openmetrics);
}

fn escape(text: &str, out: &mut String, quote: bool) {
    let needs = |b: u8| b == b'\\' || b == b'\n' || (quote && b == b'"');
    if !text.bytes().any(needs) {
        out.push_str(text);
        return;
    }
    out.reserve(text.len() + 8);
    let mut start = 0;
    // The escaped bytes are ASCII, so every slice boundary is a char boundary.
    for (i, b) in text.bytes().enumerate() {
        if !needs(b) {
            continue;
        }
        out.push_str(&text[start..i]);
        out.push_str(match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// 2^53: below it every integral `f64` is exactly an `i64` and prints exactly as one.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Append a sample value: `NaN`, `+Inf`, `-Inf`; integral values with |v| < 2^53 as integers
/// (`42`, `-3`, `0`, and `-0` to keep the sign); anything else as the shortest text that reads
/// back to the same bits (`0.1`, `1e300`, `9007199254740992.0`).
///
/// Integers without a decimal point are what OpenMetrics requires for histogram counts and
/// bucket values ("Integer numbers MUST NOT have a decimal point").
pub fn write_f64(v: f64, out: &mut String) {
    if let Some(word) = non_finite(v) {
        out.push_str(word);
    } else if v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT {
        if v == 0.0 && v.is_sign_negative() {
            out.push_str("-0");
        } else {
            // Exact: integral and within ±2^53.
            out.push_str(itoa::Buffer::new().format(v as i64));
        }
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// Append a bucket threshold or quantile for an `le` or `quantile` label value: `+Inf`, `-Inf`,
/// `NaN`, otherwise always with a decimal point or an exponent (`1.0`, `0.25`, `1e300`).
///
/// OpenMetrics wants these as floats ("Floating point numbers MUST be represented with a decimal
/// point or scientific notation"; `le` values "MUST follow Canonical Numbers"), and 0.0.4 parses
/// the same text, so one form serves both formats and a bucket keeps one label value.
pub fn write_threshold(v: f64, out: &mut String) {
    match non_finite(v) {
        Some(word) => out.push_str(word),
        None => out.push_str(ryu::Buffer::new().format_finite(v)),
    }
}

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

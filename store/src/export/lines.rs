//! How one sample line of the Prometheus text formats is spelled: name, labels (with an
//! extra `le` or `quantile`), value, `_created` timestamps and exemplars. `prometheus.rs`
//! decides which lines a series gets; this module only writes them.

use crate::store::StoredExemplar;
use crate::translate;

/// `name{labels,le="<le>"} `, with `le` already formatted.
pub(super) fn bucket_sample(out: &mut String, name: &str, labels: &str, le: &str) {
    out.push_str(name);
    out.push('{');
    if !labels.is_empty() {
        out.push_str(labels);
        out.push(',');
    }
    out.push_str("le=\"");
    out.push_str(le);
    out.push_str("\"} ");
}

pub(super) fn sample(out: &mut String, name: &str, labels: &str, extra: Option<(&str, f64, bool)>) {
    out.push_str(name);
    match extra {
        None if labels.is_empty() => {}
        None => {
            out.push('{');
            out.push_str(labels);
            out.push('}');
        }
        Some((k, v, om)) => {
            out.push('{');
            if !labels.is_empty() {
                out.push_str(labels);
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            write_bound(v, om, out);
            out.push_str("\"}");
        }
    }
    out.push(' ');
}

/// `le`/`quantile` values. OpenMetrics wants canonical floats (`1.0`, not `1`).
pub(super) fn write_bound(v: f64, om: bool, out: &mut String) {
    if om {
        translate::write_threshold(v, out);
    } else {
        translate::write_f64(v, out);
    }
}

pub(super) fn suffixed(out: &mut String, base: &str, suffix: &str, labels: &str) {
    out.push_str(base);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
}

pub(super) fn created(out: &mut String, base: &str, labels: &str, start: u64) {
    if start == 0 {
        return;
    }
    suffixed(out, base, "_created", labels);
    write_seconds(start, out);
    out.push('\n');
}

pub(super) fn write_seconds(nanos: u64, out: &mut String) {
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    push_u64(secs, out);
    if frac != 0 {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(frac);
        out.push('.');
        for _ in digits.len()..9 {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
}

pub(super) fn write_number(n: &crate::store::Number, out: &mut String) {
    match n {
        crate::store::Number::Int(i) => {
            let mut buf = itoa::Buffer::new();
            out.push_str(buf.format(*i));
        }
        crate::store::Number::Double(d) => translate::write_f64(*d, out),
    }
}

pub(super) fn push_u64(v: u64, out: &mut String) {
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(v));
}

pub(super) fn write_exemplar(e: &StoredExemplar, out: &mut String) {
    out.push_str(" # {");
    let mut first = true;
    if e.trace_id != [0; 16] {
        out.push_str("trace_id=\"");
        hex(&e.trace_id, out);
        out.push('"');
        first = false;
    }
    if e.span_id != [0; 8] {
        if !first {
            out.push(',');
        }
        out.push_str("span_id=\"");
        hex(&e.span_id, out);
        out.push('"');
    }
    out.push_str("} ");
    translate::write_f64(e.value, out);
    if e.time != 0 {
        out.push(' ');
        write_seconds(e.time, out);
    }
}

fn hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

//! Metric family names, unit words and exposed types: an OTel metric's name, unit and kind in,
//! its Prometheus and OpenMetrics naming out.
//!
//! Everything here follows "OTLP Metric points to Prometheus" › "Metric Metadata" and "Sums" of the
//! compatibility specification; the module docs (`translate/mod.rs`) list each point where we had
//! to choose and why. Nothing here allocates when the OTel name is already a valid Prometheus
//! name, except the one `String` per field of [`MetricName`].

use std::borrow::Cow;

// === Types ===

/// Prometheus metric type as exposed.
///
/// [`PromType::as_str`] is the OpenMetrics `# TYPE` word; [`PromType::as_text_str`] is the word
/// for the Prometheus text format 0.0.4, which has no `info` and calls `unknown` `untyped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PromType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// Only from a `prometheus.type=info` metadata hint (see [`metric_name_with_type_hint`]).
    Info,
    /// Only from a `prometheus.type=unknown` metadata hint.
    Unknown,
}

impl PromType {
    /// The OpenMetrics `# TYPE` word: `counter`, `gauge`, `histogram`, `summary`, `info`,
    /// `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromType::Counter => "counter",
            PromType::Gauge => "gauge",
            PromType::Histogram => "histogram",
            PromType::Summary => "summary",
            PromType::Info => "info",
            PromType::Unknown => "unknown",
        }
    }

    /// The `# TYPE` word for text format 0.0.4. That format has no info type: the spec says "a
    /// Prometheus Gauge with an additional `_info` name suffix MUST be produced if Info-typed
    /// metrics are not supported" (the suffix is already in [`MetricName::family`]). Unknown is
    /// spelled `untyped` there.
    pub fn as_text_str(self) -> &'static str {
        match self {
            PromType::Info => "gauge",
            PromType::Unknown => "untyped",
            other => other.as_str(),
        }
    }
}

/// The OTLP data kind of a metric, as the translation needs it.
///
/// Temporality is not here: delta sums and histograms are the store's business (accumulate to
/// cumulative, or drop), the names do not depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtelKind {
    Sum { monotonic: bool },
    Gauge,
    Histogram,
    ExponentialHistogram,
    Summary,
}

/// The Prometheus naming of one OTel metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricName {
    /// Family name as used in text format 0.0.4 `# TYPE`/`# HELP` lines and as the sample-name
    /// base: for counters this includes `_total` (`http_requests_total`), for info metrics `_info`;
    /// histograms and summaries are the base (`..._seconds`) that `_bucket`/`_sum`/`_count` extend.
    pub family: String,
    /// Family name for OpenMetrics `# TYPE`/`# HELP`/`# UNIT` lines: counters without `_total`,
    /// info metrics without `_info`; the same as `family` for every other type.
    pub openmetrics_family: String,
    /// The OpenMetrics `# UNIT` value (`seconds`), only when `openmetrics_family` ends with `_` and
    /// the unit, as OpenMetrics requires; `None` otherwise.
    pub unit: Option<String>,
    pub prom_type: PromType,
}

// === Names ===

/// The Prometheus naming of one OTel metric: name sanitized, unit word and type suffix appended.
///
/// Same as [`metric_name_with_type_hint`] without a `prometheus.type` hint.
pub fn metric_name(name: &str, unit: &str, kind: OtelKind) -> MetricName {
    metric_name_with_type_hint(name, unit, kind, None)
}

/// The Prometheus naming of one OTel metric whose `metric.metadata` may carry a `prometheus.type`
/// entry (set by Prometheus receivers; pass its value, or `None`).
///
/// The spec's "Gauges" section maps the hint for gauges, and "Sums" sends cumulative
/// non-monotonic sums through the same rules: absent or `gauge` → Gauge, `unknown` → Unknown,
/// `info` → Info ("SHOULD"), `stateset` → StateSet ("SHOULD"). [`PromType`] has no StateSet, and
/// an OTLP point does not carry the per-state label layout OpenMetrics requires, so `stateset`
/// stays a Gauge, the spec's own fallback for formats without StateSet. Any other hint value, and
/// any hint on counters, histograms and summaries, is ignored.
pub fn metric_name_with_type_hint(
    name: &str,
    unit: &str,
    kind: OtelKind,
    prometheus_type: Option<&str>,
) -> MetricName {
    let prom_type = match kind {
        OtelKind::Sum { monotonic: true } => PromType::Counter,
        OtelKind::Histogram | OtelKind::ExponentialHistogram => PromType::Histogram,
        OtelKind::Summary => PromType::Summary,
        OtelKind::Gauge | OtelKind::Sum { monotonic: false } => match prometheus_type {
            Some("unknown") => PromType::Unknown,
            Some("info") => PromType::Info,
            _ => PromType::Gauge,
        },
    };

    let base = sanitize_metric_name(name);
    // The type-specific suffix comes last ("The unit suffix comes before any type-specific
    // suffixes"), so an OTel name that already carries it is split first: `foo_total` with unit
    // `s` becomes `foo_seconds_total`. A name that is nothing but the suffix keeps it as its stem.
    let (stem, type_suffix) = match prom_type {
        PromType::Counter => (strip_word(&base, "total"), Some("total")),
        PromType::Info => (strip_word(&base, "info"), Some("info")),
        _ => (&*base, None),
    };
    // OpenMetrics: "MetricFamilies of type Info MUST have an empty Unit string", so an info
    // metric gets neither a unit suffix nor UNIT metadata.
    let unit_word = if prom_type == PromType::Info {
        Cow::Borrowed("")
    } else {
        prometheus_unit(unit)
    };

    let mut openmetrics_family = String::with_capacity(stem.len() + unit_word.len() + 8);
    openmetrics_family.push_str(stem);
    if !unit_word.is_empty() && !ends_with_word(stem.trim_end_matches('_'), &unit_word) {
        push_word(&mut openmetrics_family, &unit_word);
    }
    let unit = (!unit_word.is_empty()
        && ends_with_underscore_word(&openmetrics_family, &unit_word))
    .then(|| unit_word.into_owned());
    let family = match type_suffix {
        Some(suffix) => {
            let mut family = openmetrics_family.clone();
            push_word(&mut family, suffix);
            family
        }
        None => openmetrics_family.clone(),
    };

    MetricName {
        family,
        openmetrics_family,
        unit,
        prom_type,
    }
}

/// Sanitize an OTel metric name into a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
///
/// Every other character (each Unicode scalar, not each byte) becomes `_`, runs of `_` collapse
/// into one (so no result starts with the reserved `__`), and a leading digit gets a `_` in front
/// (`2xx` → `_2xx`, the digit is kept). The empty name becomes `_`. Borrows when `name` is
/// already valid.
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    if is_valid_metric_name(name) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if name.as_bytes().first().is_none_or(u8::is_ascii_digit) {
        out.push('_');
    }
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn is_valid_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        None => return false,
        Some(first) if first.is_ascii_digit() => return false,
        Some(_) => {}
    }
    let mut previous_underscore = false;
    for &b in bytes {
        let underscore = b == b'_';
        if (underscore && previous_underscore)
            || !(b.is_ascii_alphanumeric() || underscore || b == b':')
        {
            return false;
        }
        previous_underscore = underscore;
    }
    true
}

/// `name` without a trailing `_word`, unless nothing (or only underscores) would be left.
fn strip_word<'n>(name: &'n str, word: &str) -> &'n str {
    match name.strip_suffix(word) {
        Some(rest) if rest.ends_with('_') && !rest.trim_matches('_').is_empty() => {
            &rest[..rest.len() - 1]
        }
        _ => name,
    }
}

/// Whether `name` is `word` or ends with `_word`: the spec's "the metric name already ends with
/// the unit", read on `_`-separated words so `xseconds` does not count as ending with `seconds`.
fn ends_with_word(name: &str, word: &str) -> bool {
    name == word || ends_with_underscore_word(name, word)
}

/// Whether `name` ends with `_word` (OpenMetrics: "An underscore and the unit MUST be the suffix
/// of the MetricFamily name").
fn ends_with_underscore_word(name: &str, word: &str) -> bool {
    name.len() > word.len()
        && name.ends_with(word)
        && name.as_bytes()[name.len() - word.len() - 1] == b'_'
}

/// Append `_word`, without doubling an `_` the name already ends with.
fn push_word(name: &mut String, word: &str) {
    if !name.is_empty() && !name.ends_with('_') {
        name.push('_');
    }
    name.push_str(word);
}

// === Units ===

/// The spec's table ("Metric Metadata", Prometheus → OTLP, used in reverse by "The Unit of an
/// OTLP metric point MUST be converted from the UCUM unit to the equivalent unit word in
/// Prometheus if it is included in the table"): UCUM code, plural word for a unit, singular word
/// for the denominator of a rate (`m/s` → `meters_per_second`).
const UNITS: &[(&str, &str, &str)] = &[
    ("d", "days", "day"),
    ("h", "hours", "hour"),
    ("min", "minutes", "minute"),
    ("s", "seconds", "second"),
    ("ms", "milliseconds", "millisecond"),
    ("us", "microseconds", "microsecond"),
    ("ns", "nanoseconds", "nanosecond"),
    ("By", "bytes", "byte"),
    ("KiBy", "kibibytes", "kibibyte"),
    ("MiBy", "mebibytes", "mebibyte"),
    ("GiBy", "gibibytes", "gibibyte"),
    ("TiBy", "tebibytes", "tebibyte"),
    ("kBy", "kilobytes", "kilobyte"),
    ("MBy", "megabytes", "megabyte"),
    ("GBy", "gigabytes", "gigabyte"),
    ("TBy", "terabytes", "terabyte"),
    ("m", "meters", "meter"),
    ("V", "volts", "volt"),
    ("A", "amperes", "ampere"),
    ("J", "joules", "joule"),
    ("W", "watts", "watt"),
    ("g", "grams", "gram"),
    ("Cel", "celsius", "celsius"),
    ("Hz", "hertz", "hertz"),
    ("%", "percent", "percent"),
];

/// UCUM time units the table lacks, accepted only as the denominator of a rate: the spec says
/// "Units defined as rates over time (e.g. "m/s") MUST be converted to words", so every UCUM time
/// unit needs a word there. UCUM spells week `wk`, month `mo` and year `a`.
const RATE_TIME_UNITS: &[(&str, &str)] = &[("wk", "week"), ("mo", "month"), ("a", "year")];

/// The Prometheus unit word for an OTel (UCUM) unit; empty when the metric is unitless.
///
/// Steps: drop every `{...}` annotation ("Portions of the Unit within brackets (e.g. {packet})
/// MUST be dropped"; an unclosed `{` drops the rest), trim whitespace, split at the first `/`,
/// then map each side with the spec's table (plural for the unit, singular for a denominator).
/// `1` means "no unit" (a pure count or ratio: the current spec no longer maps it to `ratio`).
/// A code outside the table is kept, sanitized to `[a-zA-Z0-9_]` with `_` trimmed at both ends
/// (`kW.h` → `kW_h`). Examples: `ms` → `milliseconds`, `{packet}` → ``, `By/s` →
/// `bytes_per_second`, `1/s` and `{packet}/s` → `per_second`, `%` → `percent`.
pub fn prometheus_unit(unit: &str) -> Cow<'_, str> {
    match strip_annotations(unit) {
        Cow::Borrowed(unit) => unit_word(unit),
        Cow::Owned(unit) => Cow::Owned(unit_word(&unit).into_owned()),
    }
}

fn unit_word(unit: &str) -> Cow<'_, str> {
    let unit = unit.trim();
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main.trim(), per_word(per.trim())),
        None => (unit, Cow::Borrowed("")),
    };
    let main = main_word(main);
    match (main.is_empty(), per.is_empty()) {
        (_, true) => main,
        (true, false) => Cow::Owned(format!("per_{per}")),
        (false, false) => Cow::Owned(format!("{main}_per_{per}")),
    }
}

fn main_word(code: &str) -> Cow<'_, str> {
    if code.is_empty() || code == "1" {
        return Cow::Borrowed("");
    }
    match UNITS.iter().find(|(ucum, _, _)| *ucum == code) {
        Some((_, plural, _)) => Cow::Borrowed(plural),
        None => sanitize_unit_code(code),
    }
}

fn per_word(code: &str) -> Cow<'_, str> {
    if code.is_empty() || code == "1" {
        return Cow::Borrowed("");
    }
    if let Some((_, _, singular)) = UNITS.iter().find(|(ucum, _, _)| *ucum == code) {
        return Cow::Borrowed(singular);
    }
    match RATE_TIME_UNITS.iter().find(|(ucum, _)| *ucum == code) {
        Some((_, word)) => Cow::Borrowed(word),
        None => sanitize_unit_code(code),
    }
}

/// A unit code outside the table, as a name suffix: `[a-zA-Z0-9_]`, runs of `_` collapsed, no `_`
/// at either end (the suffix is joined with its own `_`).
fn sanitize_unit_code(code: &str) -> Cow<'_, str> {
    let bytes = code.as_bytes();
    let valid = bytes.first() != Some(&b'_')
        && bytes.last() != Some(&b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && !code.contains("__");
    if valid {
        return Cow::Borrowed(code);
    }
    let mut out = String::with_capacity(code.len());
    for c in code.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    Cow::Owned(out)
}

/// `unit` without its `{...}` annotations.
fn strip_annotations(unit: &str) -> Cow<'_, str> {
    if !unit.contains('{') {
        return Cow::Borrowed(unit);
    }
    let mut out = String::with_capacity(unit.len());
    let mut rest = unit;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

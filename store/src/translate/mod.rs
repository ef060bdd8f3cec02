//! Translation of OpenTelemetry metric names, units, types, attributes, scopes and resources into
//! Prometheus and OpenMetrics names and labels.
//!
//! The store calls this once per new series to build its keys, and the renderers call the escape
//! and number writers. Keeping every naming rule in one pure module means the 0.0.4 text, the
//! OpenMetrics text and the JSON snapshot can never name a series differently. The module
//! implements the OTLP → Prometheus half of the OpenTelemetry specification
//! [Prometheus and OpenMetrics Compatibility][spec] (revision of mid-2026, after
//! opentelemetry-specification #4505, #4533, #4599, #4954, #4966 and #5052, in which "Metric
//! Metadata", "Instrumentation Scope", "Sums", "Gauges" and "Metric Attributes" are Stable), with
//! the [OpenMetrics 1.0][om] and [text 0.0.4][text] formats as the targets.
//!
//! It deliberately does not read OTLP protobuf messages (callers pass `&str`s and
//! [`AttrValueRef`]s; only an array or map attribute value is read as decoded, `AnyValue`),
//! aggregate or drop points (delta → cumulative, delta exponential histograms, NaN sums are the
//! store's business), decide whether to expose `target_info`, or negotiate formats. It produces
//! exactly one naming, the spec's default one: names and labels escaped to the legacy character
//! set with unit and type suffixes (Prometheus' "underscores" escaping scheme, which the SDK
//! exporter spec makes the default when a scraper asks for none; otlptranslator calls it
//! `UnderscoreEscapingWithSuffixes`). UTF-8 names, the other escaping schemes and the
//! without-suffix options are not implemented. Units are renamed, never converted (`ms` stays
//! milliseconds).
//!
//! # Decisions
//!
//! Where the spec is silent, or where the spec and the implementations (opentelemetry-go's
//! exporter, collector-contrib `pkg/translator/prometheus`, `prometheus/otlptranslator`) disagree,
//! this module follows the spec and records the choice here.
//!
//! 1. **Unit `1` adds no suffix, for any type.** The spec used to say "Special case: Converting
//!    "1" to "ratio""; #4966 removed it ("`1` just means a count of something") and the current
//!    text lists only the UCUM table. So `requests` with unit `1` is `requests_total` and a gauge
//!    `cpu.utilization` is `cpu_utilization`. otlptranslator (and so opentelemetry-go) still
//!    appends `_ratio` to gauges with unit `1`.
//! 2. **"Ends with", not "contains".** The spec: "A suffix to the metric name SHOULD be added
//!    unless the metric name already ends with the unit (before type-specific suffixes)". We test
//!    whole `_`-separated words at the end: `seconds_elapsed` with unit `s` becomes
//!    `seconds_elapsed_seconds`; otlptranslator skips the unit when the word appears anywhere.
//! 3. **Unit before `_total`.** "The unit suffix comes before any type-specific suffixes" and the
//!    "(before type-specific suffixes)" above mean a counter named `foo_total` with unit `s` is
//!    `foo_seconds_total`; "otherwise the name MUST remain unchanged" in "Sums" is read as "do not
//!    add a second `_total`". Only a trailing `_total` moves (otlptranslator moves any `total`
//!    word): `foo_total_bytes` stays `foo_total_bytes_total`.
//! 4. **Name characters.** "Discouraged characters in the metric name SHOULD be replaced with the
//!    `_` character ... Multiple consecutive `_` characters SHOULD be replaced with a single `_`."
//!    Each Unicode scalar counts as one character. The spec says nothing of a leading digit; we
//!    put `_` in front (`2xx` → `_2xx`) rather than replace the digit, as the OpenMetrics guideline
//!    the spec replaced did ("MAY be prepended with an underscore"). Leading and trailing `_` are
//!    kept; collapsing means no name starts with the reserved `__`.
//! 5. **Units outside the table.** The spec's table (days … percent) is applied both ways; other
//!    codes are kept and sanitized (`widgets`, `kW.h` → `kW_h`). collector-contrib has a larger
//!    private table (`Ohm`, `mo`, `y`, ...); we use only the spec's. For the denominator of a rate
//!    ("Units defined as rates over time (e.g. "m/s") MUST be converted to words (e.g.
//!    "meters_per_second")") we use the singular of the table's word and add UCUM `wk`, `mo`, `a`
//!    (week, month, year), so every rate over time gets a word. Annotations go first, so
//!    `{packet}/s` is `per_second`.
//! 6. **Label names never start with `_` or a digit.** The spec's label regex allows a leading `_`,
//!    but OpenMetrics says "Label names beginning with underscores are RESERVED and MUST NOT be
//!    used". Such names get `key` in front (`_foo` → `key_foo`, `2xx` → `key_2xx`), the same
//!    convention as Prometheus' OTLP endpoint (`label_name_underscore_sanitization`).
//! 7. **Collisions.** "This conversion, or other labels (e.g. `otel_scope_name`) added by this
//!    specification, may cause different OpenTelemetry keys to map to the same Prometheus key. In
//!    such cases, the values MUST be concatenated together, separated by `;`, and ordered by the
//!    lexicographical order of the original keys." The original key of an attribute or a scope
//!    attribute is its OTel key, as is (not `otel_scope_`-prefixed); a label the spec adds has no
//!    OTel key, so we use its label name, and it goes first on a tie. So an attribute `job` on a
//!    series of job `shop/cart` gives `job="shop/cart;<value>"`; a scope attribute `lib` meeting a
//!    metric attribute `otel_scope_lib` gives `"<scope value>;<attribute value>"` (`lib` <
//!    `otel_scope_lib`), while scope attribute `team` and attribute `otel_scope_team` give
//!    `"<attribute value>;<scope value>"`. Equal keys keep their input order.
//! 8. **Scope labels.** `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` and
//!    `otel_scope_<attribute>` on every series, as "Instrumentation Scope" now requires (the old
//!    `otel_scope_info` metric is gone from the spec). Scope attributes that "would conflict with
//!    `otel_scope_name`, `otel_scope_version`, or `otel_scope_schema_url` MUST be dropped".
//! 9. **`le` and `quantile`.** These are labels the spec adds too, but a joined value would not
//!    parse, OpenMetrics forbids a histogram `le` label, and client libraries reject both. An
//!    attribute named `le` or `quantile` is renamed `exported_le` / `exported_quantile` (the
//!    prefix Prometheus gives target labels it must not overwrite), on every series: the label
//!    builder does not know the type, and one attribute keeps one label name across a metric's
//!    instruments.
//! 10. **Empty values are left out.** Prometheus treats a label with an empty value as absent, so
//!     `otel_scope_version=""` or the spec's empty `instance` only cost bytes. Joined values keep
//!     their empty parts (`;x`), since the spec concatenates values.
//! 11. **`job` needs `service.name`.** Without it there is no `job` (as in Prometheus' OTLP
//!     endpoint) rather than `<namespace>/`. `target_info` leaves out exactly the resource
//!     attributes that went into `job`/`instance`.
//! 12. **Info and Unknown** come only from a `prometheus.type` metadata hint
//!     ([`metric_name_with_type_hint`]). Info gets the `_info` suffix in the 0.0.4 family and no
//!     unit (OpenMetrics: "MetricFamilies of type Info MUST have an empty Unit string").
//!     `stateset` stays a Gauge, the spec's fallback for formats without StateSet.
//! 13. **Attribute values** follow the common spec's "AnyValue representation for non-OTLP
//!     protocols", which the compatibility spec links: doubles as shortest round-trip JSON numbers
//!     (`1.0`, `0.1`), `NaN`/`Infinity`/`-Infinity`, bytes as padded standard Base64, arrays and
//!     maps as JSON.
//!
//! [spec]: https://github.com/open-telemetry/opentelemetry-specification/blob/main/specification/compatibility/prometheus_and_openmetrics.md
//! [om]: https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md
//! [text]: https://prometheus.io/docs/instrumenting/exposition_formats/

mod labels;
mod name;
mod text;
mod value;

#[cfg(test)]
mod tests;

pub use labels::{
    INSTANCE_LABEL, JOB_LABEL, SCOPE_ATTRIBUTE_PREFIX, SCOPE_NAME_LABEL, SCOPE_SCHEMA_URL_LABEL,
    SCOPE_VERSION_LABEL, Scope, job_instance, label_name, push_label_name, scope_attribute_label,
    series_labels, target_info_labels,
};
pub use name::{
    MetricName, OtelKind, PromType, metric_name, metric_name_with_type_hint, prometheus_unit,
    sanitize_metric_name,
};
pub use text::{escape_help, escape_label_value, write_f64, write_threshold};
pub use value::{AttrValueRef, attr_value_string, bytes_text, push_label_value};

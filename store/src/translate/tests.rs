//! Table tests for the translation. Section names in comments refer to the compatibility spec
//! ("OTLP Metric points to Prometheus" unless said otherwise); "Decision n" to the module docs.

use std::borrow::Cow;

use super::*;

const C: OtelKind = OtelKind::Sum { monotonic: true };
const U: OtelKind = OtelKind::Sum { monotonic: false };
const G: OtelKind = OtelKind::Gauge;
const H: OtelKind = OtelKind::Histogram;
const E: OtelKind = OtelKind::ExponentialHistogram;
const S: OtelKind = OtelKind::Summary;

/// (OTel name, OTel unit, kind, `prometheus.type` hint) ->
/// (family, openmetrics_family, UNIT, type).
type NameCase = (
    &'static str,
    &'static str,
    OtelKind,
    Option<&'static str>,
    &'static str,
    &'static str,
    Option<&'static str>,
    PromType,
);

use PromType::{
    Counter as Ctr, Gauge as Gau, Histogram as Hist, Info as Inf, Summary as Sum, Unknown as Unk,
};

#[rustfmt::skip]
const NAME_CASES: &[NameCase] = &[
    // --- Metric Metadata: "ms" to "milliseconds" and the spec's unit table, one row each.
    ("http.server.request.duration", "s", H, None, "http_server_request_duration_seconds", "http_server_request_duration_seconds", Some("seconds"), Hist),
    ("http.server.request.duration", "ms", H, None, "http_server_request_duration_milliseconds", "http_server_request_duration_milliseconds", Some("milliseconds"), Hist),
    ("latency", "us", H, None, "latency_microseconds", "latency_microseconds", Some("microseconds"), Hist),
    ("latency", "ns", H, None, "latency_nanoseconds", "latency_nanoseconds", Some("nanoseconds"), Hist),
    ("uptime", "d", G, None, "uptime_days", "uptime_days", Some("days"), Gau),
    ("uptime", "h", G, None, "uptime_hours", "uptime_hours", Some("hours"), Gau),
    ("uptime", "min", G, None, "uptime_minutes", "uptime_minutes", Some("minutes"), Gau),
    ("http.client.request.body.size", "By", H, None, "http_client_request_body_size_bytes", "http_client_request_body_size_bytes", Some("bytes"), Hist),
    ("memory", "KiBy", G, None, "memory_kibibytes", "memory_kibibytes", Some("kibibytes"), Gau),
    ("memory", "MiBy", G, None, "memory_mebibytes", "memory_mebibytes", Some("mebibytes"), Gau),
    ("memory", "GiBy", G, None, "memory_gibibytes", "memory_gibibytes", Some("gibibytes"), Gau),
    ("memory", "TiBy", G, None, "memory_tebibytes", "memory_tebibytes", Some("tebibytes"), Gau),
    ("memory", "kBy", G, None, "memory_kilobytes", "memory_kilobytes", Some("kilobytes"), Gau),
    ("memory", "MBy", G, None, "memory_megabytes", "memory_megabytes", Some("megabytes"), Gau),
    ("memory", "GBy", G, None, "memory_gigabytes", "memory_gigabytes", Some("gigabytes"), Gau),
    ("memory", "TBy", G, None, "memory_terabytes", "memory_terabytes", Some("terabytes"), Gau),
    ("distance", "m", G, None, "distance_meters", "distance_meters", Some("meters"), Gau),
    ("voltage", "V", G, None, "voltage_volts", "voltage_volts", Some("volts"), Gau),
    ("current", "A", G, None, "current_amperes", "current_amperes", Some("amperes"), Gau),
    ("energy", "J", C, None, "energy_joules_total", "energy_joules", Some("joules"), Ctr),
    ("power", "W", G, None, "power_watts", "power_watts", Some("watts"), Gau),
    ("mass", "g", G, None, "mass_grams", "mass_grams", Some("grams"), Gau),
    ("temperature", "Cel", G, None, "temperature_celsius", "temperature_celsius", Some("celsius"), Gau),
    ("frequency", "Hz", G, None, "frequency_hertz", "frequency_hertz", Some("hertz"), Gau),
    ("disk.usage", "%", G, None, "disk_usage_percent", "disk_usage_percent", Some("percent"), Gau),
    ("errors", "%", C, None, "errors_percent_total", "errors_percent", Some("percent"), Ctr),
    // --- Metric Metadata: "Portions of the Unit within brackets (e.g. {packet}) MUST be dropped."
    ("system.network.packets", "{packet}", C, None, "system_network_packets_total", "system_network_packets", None, Ctr),
    ("http.server.active_requests", "{request}", U, None, "http_server_active_requests", "http_server_active_requests", None, Gau),
    ("payload", "By{compressed}", G, None, "payload_bytes", "payload_bytes", Some("bytes"), Gau),
    ("payload", "By{unclosed", G, None, "payload_bytes", "payload_bytes", Some("bytes"), Gau),
    ("links", "{req}/{conn}", G, None, "links", "links", None, Gau),
    // --- Metric Metadata: rates over time, "m/s" to "meters_per_second" (Decision 5).
    ("speed", "m/s", G, None, "speed_meters_per_second", "speed_meters_per_second", Some("meters_per_second"), Gau),
    ("throughput", "By/s", G, None, "throughput_bytes_per_second", "throughput_bytes_per_second", Some("bytes_per_second"), Gau),
    ("throughput", "By/min", G, None, "throughput_bytes_per_minute", "throughput_bytes_per_minute", Some("bytes_per_minute"), Gau),
    ("drift", "m/h", G, None, "drift_meters_per_hour", "drift_meters_per_hour", Some("meters_per_hour"), Gau),
    ("growth", "By/wk", G, None, "growth_bytes_per_week", "growth_bytes_per_week", Some("bytes_per_week"), Gau),
    ("density", "By/m", G, None, "density_bytes_per_meter", "density_bytes_per_meter", Some("bytes_per_meter"), Gau),
    ("packets.rate", "{packet}/s", G, None, "packets_rate_per_second", "packets_rate_per_second", Some("per_second"), Gau),
    ("errors.rate", "1/s", G, None, "errors_rate_per_second", "errors_rate_per_second", Some("per_second"), Gau),
    ("restarts", "1/d", C, None, "restarts_per_day_total", "restarts_per_day", Some("per_day"), Ctr),
    ("hits", "/s", G, None, "hits_per_second", "hits_per_second", Some("per_second"), Gau),
    // --- Unit `1` is unitless now: no `_ratio` for any type (Decision 1).
    ("requests", "1", C, None, "requests_total", "requests", None, Ctr),
    ("cpu.utilization", "1", G, None, "cpu_utilization", "cpu_utilization", None, Gau),
    ("queue.fill", "1", U, None, "queue_fill", "queue_fill", None, Gau),
    ("batch.size", "1", H, None, "batch_size", "batch_size", None, Hist),
    // --- Units outside the table are kept, sanitized (Decision 5).
    ("stock", "widgets", G, None, "stock_widgets", "stock_widgets", Some("widgets"), Gau),
    ("energy.used", "kW.h", C, None, "energy_used_kW_h_total", "energy_used_kW_h", Some("kW_h"), Ctr),
    ("wait", " s ", G, None, "wait_seconds", "wait_seconds", Some("seconds"), Gau),
    ("temp", "°C", G, None, "temp_C", "temp_C", Some("C"), Gau),
    // --- Sums: `_total` for monotonic sums, non-monotonic sums are gauges.
    ("process.cpu.time", "s", C, None, "process_cpu_time_seconds_total", "process_cpu_time_seconds", Some("seconds"), Ctr),
    ("foo", "", C, None, "foo_total", "foo", None, Ctr),
    ("foo_total", "", C, None, "foo_total", "foo", None, Ctr),
    ("foo", "s", U, None, "foo_seconds", "foo_seconds", Some("seconds"), Gau),
    ("foo", "", U, None, "foo", "foo", None, Gau),
    ("total", "", C, None, "total_total", "total", None, Ctr),
    ("foo", "ms", C, None, "foo_milliseconds_total", "foo_milliseconds", Some("milliseconds"), Ctr),
    // --- "unless the metric name already ends with the unit (before type-specific suffixes)"
    //     and "The unit suffix comes before any type-specific suffixes" (Decisions 2 and 3).
    ("foo_seconds", "s", G, None, "foo_seconds", "foo_seconds", Some("seconds"), Gau),
    ("foo_seconds_total", "s", C, None, "foo_seconds_total", "foo_seconds", Some("seconds"), Ctr),
    ("foo_milliseconds_total", "ms", C, None, "foo_milliseconds_total", "foo_milliseconds", Some("milliseconds"), Ctr),
    ("foo_total", "s", C, None, "foo_seconds_total", "foo_seconds", Some("seconds"), Ctr),
    ("foo_total", "", G, None, "foo_total", "foo_total", None, Gau),
    ("foo_total", "s", G, None, "foo_total_seconds", "foo_total_seconds", Some("seconds"), Gau),
    ("foo_total_bytes", "By", C, None, "foo_total_bytes_total", "foo_total_bytes", Some("bytes"), Ctr),
    ("seconds_elapsed", "s", G, None, "seconds_elapsed_seconds", "seconds_elapsed_seconds", Some("seconds"), Gau),
    ("xseconds", "s", G, None, "xseconds_seconds", "xseconds_seconds", Some("seconds"), Gau),
    ("seconds", "s", G, None, "seconds", "seconds", None, Gau),
    ("foo.", "s", G, None, "foo_seconds", "foo_seconds", Some("seconds"), Gau),
    // --- Histograms (and exponential histograms, converted to fixed buckets) and Summaries.
    ("foo", "s", E, None, "foo_seconds", "foo_seconds", Some("seconds"), Hist),
    ("rpc.duration", "ms", S, None, "rpc_duration_milliseconds", "rpc_duration_milliseconds", Some("milliseconds"), Sum),
    ("rpc.duration", "", S, None, "rpc_duration", "rpc_duration", None, Sum),
    // --- Name characters: "Discouraged characters ... replaced with the `_` character. Multiple
    //     consecutive `_` characters SHOULD be replaced with a single `_`" (Decision 4).
    ("foo-bar/baz", "", G, None, "foo_bar_baz", "foo_bar_baz", None, Gau),
    ("foo..bar", "", G, None, "foo_bar", "foo_bar", None, Gau),
    ("foo__bar", "", G, None, "foo_bar", "foo_bar", None, Gau),
    ("__foo", "", G, None, "_foo", "_foo", None, Gau),
    ("2xx.responses", "", C, None, "_2xx_responses_total", "_2xx_responses", None, Ctr),
    ("job:requests:rate5m", "", G, None, "job:requests:rate5m", "job:requests:rate5m", None, Gau),
    ("température", "Cel", G, None, "temp_rature_celsius", "temp_rature_celsius", Some("celsius"), Gau),
    ("", "", G, None, "_", "_", None, Gau),
    // --- Gauges: the `prometheus.type` metadata hint (Decision 12).
    ("foo", "", G, Some("gauge"), "foo", "foo", None, Gau),
    ("foo", "", G, Some("unknown"), "foo", "foo", None, Unk),
    ("foo", "s", U, Some("unknown"), "foo_seconds", "foo_seconds", Some("seconds"), Unk),
    ("build", "", G, Some("info"), "build_info", "build", None, Inf),
    ("build_info", "s", U, Some("info"), "build_info", "build", None, Inf),
    ("state", "", G, Some("stateset"), "state", "state", None, Gau),
    ("foo", "", C, Some("unknown"), "foo_total", "foo", None, Ctr),
    ("foo", "", H, Some("info"), "foo", "foo", None, Hist),
];

#[test]
fn metric_names_follow_the_table() {
    assert!(NAME_CASES.len() >= 60, "{} cases", NAME_CASES.len());
    let mut failures = Vec::new();
    for &(name, unit, kind, hint, family, om_family, om_unit, prom_type) in NAME_CASES {
        let got = metric_name_with_type_hint(name, unit, kind, hint);
        let want = MetricName {
            family: family.to_owned(),
            openmetrics_family: om_family.to_owned(),
            unit: om_unit.map(str::to_owned),
            prom_type,
        };
        if got != want {
            failures.push(format!(
                "{name:?} {unit:?} {kind:?} {hint:?}\n  got  {got:?}\n  want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn metric_name_is_metric_name_with_type_hint_without_a_hint() {
    assert_eq!(
        metric_name("http.server.request.duration", "s", H),
        metric_name_with_type_hint("http.server.request.duration", "s", H, None)
    );
}

#[test]
fn every_family_is_a_valid_metric_name_and_unit_is_its_suffix() {
    for &(name, unit, kind, hint, ..) in NAME_CASES {
        let got = metric_name_with_type_hint(name, unit, kind, hint);
        for family in [&got.family, &got.openmetrics_family] {
            assert!(
                matches!(sanitize_metric_name(family), Cow::Borrowed(_)),
                "{family:?}"
            );
        }
        if let Some(unit) = &got.unit {
            assert!(
                got.openmetrics_family.ends_with(&format!("_{unit}")),
                "{got:?}"
            );
        }
    }
}

#[test]
fn types_have_their_type_line_words() {
    let cases = [
        (PromType::Counter, "counter", "counter"),
        (PromType::Gauge, "gauge", "gauge"),
        (PromType::Histogram, "histogram", "histogram"),
        (PromType::Summary, "summary", "summary"),
        (PromType::Info, "info", "gauge"),
        (PromType::Unknown, "unknown", "untyped"),
    ];
    for (prom_type, openmetrics, text) in cases {
        assert_eq!(prom_type.as_str(), openmetrics);
        assert_eq!(prom_type.as_text_str(), text);
    }
}

#[test]
fn valid_metric_names_are_borrowed() {
    for name in ["http_requests_total", "a", "job:rate5m", "_x", "A_b_C"] {
        assert!(
            matches!(sanitize_metric_name(name), Cow::Borrowed(n) if n == name),
            "{name}"
        );
    }
}

#[test]
fn units_translate_to_words() {
    let cases = [
        ("", ""),
        ("1", ""),
        ("{packet}", ""),
        ("s", "seconds"),
        ("%", "percent"),
        ("m/s", "meters_per_second"),
        ("1/s", "per_second"),
        ("By/", "bytes"),
        ("{packet}/{s}", ""),
        ("KiBy/s", "kibibytes_per_second"),
        ("s/a", "seconds_per_year"),
        ("By/mo", "bytes_per_month"),
        ("a/b/c", "a_per_b_c"),
        ("_weird_", "weird"),
        ("}", ""),
    ];
    for (unit, want) in cases {
        assert_eq!(prometheus_unit(unit), want, "{unit:?}");
    }
    assert!(matches!(
        prometheus_unit("widgets"),
        Cow::Borrowed("widgets")
    ));
}

// === Label names ===

#[test]
fn attribute_keys_become_label_names() {
    // Metric Attributes: `[a-zA-Z_]([a-zA-Z0-9_])*`, discouraged characters to `_`, runs of `_`
    // collapsed; a leading `_` or digit gets `key` (Decision 6).
    let cases = [
        ("http.request.method", "http_request_method"),
        ("http.response.status_code", "http_response_status_code"),
        ("service_name", "service_name"),
        ("k8s.pod.name", "k8s_pod_name"),
        ("foo-bar", "foo_bar"),
        ("foo..bar", "foo_bar"),
        ("foo__bar", "foo_bar"),
        ("foo:bar", "foo_bar"),
        ("_foo", "key_foo"),
        ("__name__", "key_name_"),
        ("2xx", "key_2xx"),
        (".", "key_"),
        ("Ünïcode", "key_n_code"),
        ("a", "a"),
        ("A1", "A1"),
        ("le", "le"),
        ("otel.scope.name", "otel_scope_name"),
        ("", ""),
    ];
    for (key, want) in cases {
        assert_eq!(label_name(key), want, "{key:?}");
    }
    // Past 128 bytes an ASCII key takes the general path; the result is the same rule.
    let long = format!("_{}..x", "a.".repeat(70));
    let want = format!("key_{}x", "a_".repeat(70));
    assert_eq!(label_name(&long), want);
    let mut out = String::from(">");
    crate::translate::push_label_name(&long[..128], &mut out);
    assert_eq!(out, format!(">{}", &want[..4 + 127]));
}

#[test]
fn valid_label_names_are_borrowed() {
    for key in ["service_name", "a", "A1", "le", "x_y_z"] {
        assert!(
            matches!(label_name(key), Cow::Borrowed(k) if k == key),
            "{key}"
        );
    }
}

#[test]
fn scope_attribute_labels_are_prefixed_then_sanitized() {
    assert_eq!(
        scope_attribute_label("library.mascot"),
        "otel_scope_library_mascot"
    );
    assert_eq!(scope_attribute_label("_x"), "otel_scope_x");
    assert_eq!(scope_attribute_label("9lives"), "otel_scope_9lives");
    assert_eq!(scope_attribute_label("schema.url"), "otel_scope_schema_url");
}

// === Label sets ===

fn attrs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, Cow<'a, str>)> {
    pairs.iter().map(|&(k, v)| (k, Cow::Borrowed(v))).collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

struct SeriesCase {
    what: &'static str,
    job: Option<&'static str>,
    instance: Option<&'static str>,
    scope: (&'static str, &'static str, &'static str),
    scope_attributes: &'static [(&'static str, &'static str)],
    attributes: &'static [(&'static str, &'static str)],
    want: &'static [(&'static str, &'static str)],
}

const SERIES_CASES: &[SeriesCase] = &[
    SeriesCase {
        what: "job, instance, sorted attributes, then the scope labels",
        job: Some("shop/cart"),
        instance: Some("i-1"),
        scope: (
            "io.vigil.http",
            "1.2.0",
            "https://opentelemetry.io/schemas/1.26.0",
        ),
        scope_attributes: &[],
        attributes: &[
            ("http.response.status_code", "200"),
            ("http.request.method", "GET"),
        ],
        want: &[
            ("job", "shop/cart"),
            ("instance", "i-1"),
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("otel_scope_name", "io.vigil.http"),
            ("otel_scope_version", "1.2.0"),
            (
                "otel_scope_schema_url",
                "https://opentelemetry.io/schemas/1.26.0",
            ),
        ],
    },
    SeriesCase {
        // Instrumentation Scope (Prometheus → OTLP example, read backwards).
        what: "the spec's scope example",
        job: None,
        instance: None,
        scope: (
            "go.opentelemetry.io.contrib.instrumentation.net.http.otelhttp",
            "v0.24.0",
            "https://opentelemetry.io/schemas/1.31.0",
        ),
        scope_attributes: &[("library_mascot", "gopher")],
        attributes: &[],
        want: &[
            (
                "otel_scope_name",
                "go.opentelemetry.io.contrib.instrumentation.net.http.otelhttp",
            ),
            ("otel_scope_version", "v0.24.0"),
            (
                "otel_scope_schema_url",
                "https://opentelemetry.io/schemas/1.31.0",
            ),
            ("otel_scope_library_mascot", "gopher"),
        ],
    },
    SeriesCase {
        // Metric Attributes: "ordered by the lexicographical order of the original keys".
        what: "colliding keys join their values in original-key order",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("a.b", "1"), ("a_b", "2"), ("a-b", "3")],
        want: &[("a_b", "3;1;2")],
    },
    SeriesCase {
        // Instrumentation Scope: conflicting scope attributes "MUST be dropped".
        what: "scope attributes that would be the scope's own labels are dropped",
        job: None,
        instance: None,
        scope: ("lib", "1.0", ""),
        scope_attributes: &[
            ("name", "x"),
            ("version", "y"),
            ("schema_url", "z"),
            ("schema.url", "w"),
            ("team", "core"),
        ],
        attributes: &[],
        want: &[
            ("otel_scope_name", "lib"),
            ("otel_scope_version", "1.0"),
            ("otel_scope_team", "core"),
        ],
    },
    SeriesCase {
        what: "scope attributes are sorted and merged among themselves",
        job: None,
        instance: None,
        scope: ("lib", "", ""),
        scope_attributes: &[("z", "last"), ("x_y", "2"), ("x.y", "1")],
        attributes: &[],
        want: &[
            ("otel_scope_name", "lib"),
            ("otel_scope_x_y", "1;2"),
            ("otel_scope_z", "last"),
        ],
    },
    SeriesCase {
        // Decision 7: a label the spec adds has its own name as original key and wins ties.
        what: "an attribute named job joins the job label after it",
        job: Some("shop/cart"),
        instance: Some("i-1"),
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("job", "batch"), ("instance", "other")],
        want: &[("job", "shop/cart;batch"), ("instance", "i-1;other")],
    },
    SeriesCase {
        what: "an attribute named job is the job label when the resource has none",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("zone", "a"), ("job", "batch")],
        want: &[("job", "batch"), ("zone", "a")],
    },
    SeriesCase {
        // "other labels (e.g. `otel_scope_name`) added by this specification": `.` sorts before
        // `_`; a scope attribute's original key is its bare OTel key, so `otel_scope_team` (the
        // metric attribute) sorts before `team` (the scope attribute) and `lib` before
        // `otel_scope_lib`.
        what: "attributes that collide with scope labels join them in original-key order",
        job: None,
        instance: None,
        scope: ("io.lib", "", ""),
        scope_attributes: &[("team", "core"), ("lib", "l1")],
        attributes: &[
            ("otel.scope.name", "a"),
            ("otel_scope_name", "b"),
            ("otel_scope_team", "c"),
            ("otel_scope_lib", "l2"),
        ],
        want: &[
            ("otel_scope_name", "a;io.lib;b"),
            ("otel_scope_lib", "l1;l2"),
            ("otel_scope_team", "c;core"),
        ],
    },
    SeriesCase {
        // Decision 9.
        what: "attributes named le and quantile are renamed exported_",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("le", "x"), ("quantile", "y"), ("exported_le", "z")],
        want: &[("exported_le", "z;x"), ("exported_quantile", "y")],
    },
    SeriesCase {
        // Decision 10.
        what: "empty values and empty keys are left out",
        job: Some("svc"),
        instance: Some(""),
        scope: ("lib", "", ""),
        scope_attributes: &[("empty", "")],
        attributes: &[("a", ""), ("", "orphan"), ("b", "1")],
        want: &[("job", "svc"), ("b", "1"), ("otel_scope_name", "lib")],
    },
    SeriesCase {
        what: "joined values keep their empty parts",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("a.b", ""), ("a_b", "x")],
        want: &[("a_b", ";x")],
    },
    SeriesCase {
        what: "reserved and digit-leading keys get the key prefix",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("__name__", "evil"), ("2xx", "yes")],
        want: &[("key_2xx", "yes"), ("key_name_", "evil")],
    },
    SeriesCase {
        what: "repeated keys join in input order",
        job: None,
        instance: None,
        scope: ("", "", ""),
        scope_attributes: &[],
        attributes: &[("a", "2"), ("a", "1")],
        want: &[("a", "2;1")],
    },
];

#[test]
fn series_labels_follow_the_table() {
    let mut failures = Vec::new();
    for case in SERIES_CASES {
        let scope_attributes = attrs(case.scope_attributes);
        let scope = Scope {
            name: case.scope.0,
            version: case.scope.1,
            schema_url: case.scope.2,
            attributes: &scope_attributes,
        };
        let got = series_labels(case.job, case.instance, &scope, &attrs(case.attributes));
        if got != owned(case.want) {
            failures.push(format!(
                "{}:\n  got  {got:?}\n  want {:?}",
                case.what, case.want
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Resource attributes as (key, value) pairs.
type Pairs = &'static [(&'static str, &'static str)];

#[test]
fn job_and_instance_come_from_the_service_attributes() {
    // Resource Attributes: "`<service.namespace>/<service.name>`, or `<service.name>` if namespace
    // is empty"; `service.instance.id` to `instance` (Decision 11 for the rest).
    let cases: &[(Pairs, Option<&str>, Option<&str>)] = &[
        (
            &[
                ("service.name", "cart"),
                ("service.namespace", "shop"),
                ("service.instance.id", "i-1"),
            ],
            Some("shop/cart"),
            Some("i-1"),
        ),
        (&[("service.name", "cart")], Some("cart"), None),
        (
            &[("service.namespace", ""), ("service.name", "cart")],
            Some("cart"),
            None,
        ),
        (&[("service.namespace", "shop")], None, None),
        (
            &[("service.name", ""), ("service.instance.id", "i-1")],
            None,
            Some("i-1"),
        ),
        (&[("service.instance.id", "")], None, None),
        (
            &[("service.name", "first"), ("service.name", "second")],
            Some("first"),
            None,
        ),
        (&[], None, None),
    ];
    for &(resource, job, instance) in cases {
        assert_eq!(
            job_instance(&attrs(resource)),
            (job.map(str::to_owned), instance.map(str::to_owned)),
            "{resource:?}"
        );
    }
}

#[test]
fn target_info_has_job_instance_and_the_other_resource_attributes() {
    // Resource Attributes: the target info labels "MUST include the resource attributes, and
    // MUST NOT include any other labels other than `job` and `instance`".
    let cases: &[(Pairs, Pairs)] = &[
        (
            &[
                ("service.name", "cart"),
                ("service.namespace", "shop"),
                ("service.instance.id", "i-1"),
                ("k8s.pod.name", "cart-7f"),
                ("host.name", "h1"),
            ],
            &[
                ("job", "shop/cart"),
                ("instance", "i-1"),
                ("host_name", "h1"),
                ("k8s_pod_name", "cart-7f"),
            ],
        ),
        (
            &[("service.namespace", "shop"), ("host.name", "h1")],
            &[("host_name", "h1"), ("service_namespace", "shop")],
        ),
        (
            &[
                ("service.name", "cart"),
                ("job", "batch"),
                ("telemetry.sdk.language", "rust"),
            ],
            &[("job", "cart;batch"), ("telemetry_sdk_language", "rust")],
        ),
        (
            &[
                ("service.name", "cart"),
                ("service.instance.id", ""),
                ("deployment.environment", ""),
            ],
            &[("job", "cart")],
        ),
        (&[("a.b", "1"), ("a_b", "2")], &[("a_b", "1;2")]),
        (&[], &[]),
    ];
    for &(resource, want) in cases {
        assert_eq!(
            target_info_labels(&attrs(resource)),
            owned(want),
            "{resource:?}"
        );
    }
}

// === Attribute values ===

#[test]
fn attribute_values_follow_the_non_otlp_representation() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
    let v = |value: Value| AnyValue { value: Some(value) };
    let list = |values: Vec<AnyValue>| v(Value::ArrayValue(ArrayValue { values }));
    let nested = list(vec![
        v(Value::IntValue(1)),
        v(Value::StringValue("x".into())),
    ]);
    let array = list(vec![
        v(Value::StringValue("a\"b\n".into())),
        v(Value::IntValue(-7)),
        v(Value::BoolValue(true)),
        v(Value::DoubleValue(1.5)),
        v(Value::DoubleValue(f64::NAN)),
        v(Value::DoubleValue(f64::NEG_INFINITY)),
        AnyValue { value: None },
        v(Value::BytesValue(b"hi".to_vec())),
        nested,
    ]);
    let kv = |key: &str, value: Option<AnyValue>| KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    };
    // Keys keep their order (`z` before `a`); a missing value is `null` like an empty one.
    let map = v(Value::KvlistValue(KeyValueList {
        values: vec![
            kv("z", Some(v(Value::StringValue("v".into())))),
            kv("a", Some(AnyValue { value: None })),
            kv("m", None),
            kv("ctl\u{1}", Some(v(Value::DoubleValue(f64::INFINITY)))),
        ],
    }));
    let empty = list(vec![]);
    let cases: &[(AttrValueRef<'_>, &str)] = &[
        (AttrValueRef::Str("plain \"as is\""), "plain \"as is\""),
        (AttrValueRef::Bool(true), "true"),
        (AttrValueRef::Bool(false), "false"),
        (AttrValueRef::Int(42), "42"),
        (AttrValueRef::Int(i64::MIN), "-9223372036854775808"),
        (AttrValueRef::Double(1.5), "1.5"),
        (AttrValueRef::Double(1.0), "1.0"),
        (AttrValueRef::Double(0.1), "0.1"),
        (AttrValueRef::Double(1e300), "1e300"),
        (AttrValueRef::Double(f64::NAN), "NaN"),
        (AttrValueRef::Double(f64::INFINITY), "Infinity"),
        (AttrValueRef::Double(f64::NEG_INFINITY), "-Infinity"),
        (AttrValueRef::Bytes(b""), ""),
        (AttrValueRef::Bytes(b"f"), "Zg=="),
        (AttrValueRef::Bytes(b"fo"), "Zm8="),
        (AttrValueRef::Bytes(b"foo"), "Zm9v"),
        (AttrValueRef::Bytes(b"hello"), "aGVsbG8="),
        (AttrValueRef::Bytes(&[0xff, 0xfe]), "//4="),
        (AttrValueRef::Empty, ""),
        (AttrValueRef::Complex(&empty), "[]"),
        (
            AttrValueRef::Complex(&array),
            r#"["a\"b\n",-7,true,1.5,"NaN","-Infinity",null,"aGk=",[1,"x"]]"#,
        ),
        (
            AttrValueRef::Complex(&map),
            r#"{"z":"v","a":null,"m":null,"ctl\u0001":"Infinity"}"#,
        ),
    ];
    for (value, want) in cases {
        assert_eq!(attr_value_string(value), *want, "{value:?}");
        // Written into a label: the same text, escaped.
        let (mut pushed, mut escaped) = (String::from(">"), String::from(">"));
        crate::translate::push_label_value(value, &mut pushed);
        escape_label_value(want, &mut escaped);
        assert_eq!(pushed, escaped, "{value:?}");
    }
    assert!(matches!(
        attr_value_string(&AttrValueRef::Str("s")),
        Cow::Borrowed("s")
    ));
}

// === Text primitives ===

#[test]
fn label_values_escape_backslash_quote_and_newline() {
    let cases = [
        ("plain", "plain"),
        ("a\"b", "a\\\"b"),
        ("c:\\dir", "c:\\\\dir"),
        ("two\nlines", "two\\nlines"),
        ("ünï\"\\\n", "ünï\\\"\\\\\\n"),
        ("tab\tcr\r", "tab\tcr\r"),
        ("", ""),
    ];
    for (value, want) in cases {
        let mut out = String::from(">");
        escape_label_value(value, &mut out);
        assert_eq!(out, format!(">{want}"), "{value:?}");
    }
}

#[test]
fn help_escapes_quotes_only_for_openmetrics() {
    let cases = [
        (
            "Duration of \"GET\" requests",
            false,
            "Duration of \"GET\" requests",
        ),
        (
            "Duration of \"GET\" requests",
            true,
            "Duration of \\\"GET\\\" requests",
        ),
        ("a\\b\nc", false, "a\\\\b\\nc"),
        ("a\\b\nc", true, "a\\\\b\\nc"),
    ];
    for (text, openmetrics, want) in cases {
        let mut out = String::new();
        escape_help(text, openmetrics, &mut out);
        assert_eq!(out, want, "{text:?} openmetrics={openmetrics}");
    }
}

#[test]
fn sample_values_are_written_as_prometheus_parses_them() {
    let cases = [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (0.0, "0"),
        (-0.0, "-0"),
        (42.0, "42"),
        (-3.0, "-3"),
        (1e15, "1000000000000000"),
        (9_007_199_254_740_991.0, "9007199254740991"),
        (-9_007_199_254_740_991.0, "-9007199254740991"),
        (9_007_199_254_740_992.0, "9007199254740992.0"),
        (1e300, "1e300"),
        (0.1, "0.1"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (1e-7, "1e-7"),
        (f64::MAX, "1.7976931348623157e308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
    ];
    for (v, want) in cases {
        let mut out = String::new();
        write_f64(v, &mut out);
        assert_eq!(out, want, "{v:?}");
        if v.is_finite() {
            let back: f64 = out.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{out} does not read back");
        }
    }
}

#[test]
fn thresholds_always_have_a_decimal_point_or_exponent() {
    let cases = [
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
        (1.0, "1.0"),
        (0.0, "0.0"),
        (0.005, "0.005"),
        (10.0, "10.0"),
        (2.5, "2.5"),
        (1e300, "1e300"),
    ];
    for (v, want) in cases {
        let mut out = String::new();
        write_threshold(v, &mut out);
        assert_eq!(out, want, "{v:?}");
    }
}

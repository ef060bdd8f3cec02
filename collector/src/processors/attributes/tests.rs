use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};

use super::*;
use crate::test_support::{
    gauge, histogram, histogram_point, int_point, kv, metric, request_from, resource_metrics, sum,
};

/// Parse and validate a configuration written as YAML.
fn settings(yaml: &str) -> Result<Settings, String> {
    let config: Config = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate()
}

fn processor(yaml: &str) -> Attributes {
    match settings(yaml) {
        Ok(settings) => Attributes::new(settings),
        Err(e) => panic!("config {yaml:?} rejected: {e}"),
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    }
}

fn int(i: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    }
}

fn double(d: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(d)),
    }
}

fn boolean(b: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(b)),
    }
}

// === The action engine, on one attribute list ===

/// (name, actions YAML, attributes before, attributes after).
type Case = (&'static str, &'static str, Vec<KeyValue>, Vec<KeyValue>);

fn cases() -> Vec<Case> {
    let before = || vec![kv("a", "1"), kv("b", 2)];
    vec![
        (
            "insert adds a missing key at the end",
            "{ key: c, action: insert, value: new }",
            before(),
            vec![kv("a", "1"), kv("b", 2), kv("c", "new")],
        ),
        (
            "insert leaves an existing key alone",
            "{ key: a, action: insert, value: new }",
            before(),
            before(),
        ),
        (
            "update changes an existing key in place",
            "{ key: a, action: update, value: new }",
            before(),
            vec![kv("a", "new"), kv("b", 2)],
        ),
        (
            "update ignores a missing key",
            "{ key: c, action: update, value: new }",
            before(),
            before(),
        ),
        (
            "upsert changes an existing key",
            "{ key: b, action: upsert, value: 3 }",
            before(),
            vec![kv("a", "1"), kv("b", 3)],
        ),
        (
            "upsert adds a missing key",
            "{ key: c, action: upsert, value: true }",
            before(),
            vec![kv("a", "1"), kv("b", 2), kv("c", true)],
        ),
        (
            "delete removes an existing key",
            "{ key: a, action: delete }",
            before(),
            vec![kv("b", 2)],
        ),
        (
            "delete ignores a missing key",
            "{ key: c, action: delete }",
            before(),
            before(),
        ),
        (
            "delete pattern removes every key it matches, unanchored",
            "{ action: delete, pattern: 'secret' }",
            vec![kv("db.secret", "x"), kv("a", "1"), kv("secret_key", "y")],
            vec![kv("a", "1")],
        ),
        (
            "delete with key and pattern removes both",
            "{ key: a, action: delete, pattern: '^tmp\\.' }",
            vec![kv("a", "1"), kv("tmp.x", 1), kv("x.tmp.y", 2)],
            vec![kv("x.tmp.y", 2)],
        ),
        (
            "delete removes every entry of a duplicated key",
            "{ key: a, action: delete }",
            vec![kv("a", "1"), kv("b", 2), kv("a", "3")],
            vec![kv("b", 2)],
        ),
        (
            "update changes only the first entry of a duplicated key",
            "{ key: a, action: update, value: new }",
            vec![kv("a", "1"), kv("a", "3")],
            vec![kv("a", "new"), kv("a", "3")],
        ),
        (
            "insert from_attribute copies the source value",
            "{ key: c, action: insert, from_attribute: b }",
            before(),
            vec![kv("a", "1"), kv("b", 2), kv("c", 2)],
        ),
        (
            "update from_attribute copies the source value",
            "{ key: a, action: update, from_attribute: b }",
            before(),
            vec![kv("a", 2), kv("b", 2)],
        ),
        (
            "upsert from_attribute copies the source value",
            "{ key: c, action: upsert, from_attribute: a }",
            before(),
            vec![kv("a", "1"), kv("b", 2), kv("c", "1")],
        ),
        (
            "insert from a missing attribute does nothing",
            "{ key: c, action: insert, from_attribute: missing }",
            before(),
            before(),
        ),
        (
            "update from a missing attribute does nothing",
            "{ key: a, action: update, from_attribute: missing }",
            before(),
            before(),
        ),
        (
            "upsert from a missing attribute does nothing",
            "{ key: a, action: upsert, from_attribute: missing }",
            before(),
            before(),
        ),
        (
            "actions run in order, each seeing the last",
            "[{ key: c, action: insert, value: x }, { key: d, action: upsert, from_attribute: c }, { key: a, action: delete }]",
            before(),
            vec![kv("b", 2), kv("c", "x"), kv("d", "x")],
        ),
        (
            "action names are case-insensitive",
            "{ key: c, action: UPSERT, value: x }",
            before(),
            vec![kv("a", "1"), kv("b", 2), kv("c", "x")],
        ),
        (
            "insert into an empty list",
            "{ key: c, action: insert, value: x }",
            vec![],
            vec![kv("c", "x")],
        ),
    ]
}

/// `actions:` for a case's YAML, which is one action or a flow list of them.
fn actions_yaml(actions: &str) -> String {
    if actions.starts_with('[') {
        format!("actions: {actions}")
    } else {
        format!("actions: [{actions}]")
    }
}

#[test]
fn actions_change_one_attribute_list_exactly() {
    for (name, actions, before, after) in cases() {
        let settings = match settings(&actions_yaml(actions)) {
            Ok(settings) => settings,
            Err(e) => panic!("{name}: {e}"),
        };
        let mut attributes = before;
        settings.actions.apply(&mut attributes);
        assert_eq!(attributes, after, "{name}");
    }
}

// === Every signal and metric point type ===

/// A metrics request with one metric of each of the five types, each with one point carrying
/// `attributes`, on a resource whose attributes are `resource`.
fn metrics_request(attributes: &[KeyValue], resource: Vec<KeyValue>) -> Request {
    let a = || attributes.to_vec();
    let metrics = vec![
        gauge("g", vec![int_point(1, a())]),
        sum("s", vec![int_point(1, a())]),
        histogram("h", vec![histogram_point(&[1.0], &[1, 0], 0.5, a())]),
        metric(
            "e",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: a(),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "q",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: a(),
                    ..Default::default()
                }],
            }),
        ),
    ];
    Request::Metrics(request_from(vec![resource_metrics(resource, metrics)]))
}

fn traces_request(attributes: &[KeyValue], resource: Vec<KeyValue>) -> Request {
    Request::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "span".to_owned(),
                    attributes: attributes.to_vec(),
                    events: vec![span::Event {
                        attributes: vec![kv("event", 1)],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn logs_request(attributes: &[KeyValue], resource: Vec<KeyValue>) -> Request {
    Request::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: attributes.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Every item's attributes in `request`, labelled by where they were found, plus the resource
/// attributes (which this processor must not touch).
fn all_attributes(request: &Request) -> Vec<(String, Vec<KeyValue>)> {
    let mut found = Vec::new();
    match request {
        Request::Metrics(request) => {
            for resource in &request.resource_metrics {
                let attributes = resource.resource.clone().unwrap_or_default().attributes;
                found.push(("resource".to_owned(), attributes));
                for metric in resource.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    let points: Vec<Vec<KeyValue>> = match &metric.data {
                        Some(Data::Gauge(d)) => {
                            d.data_points.iter().map(|p| p.attributes.clone()).collect()
                        }
                        Some(Data::Sum(d)) => {
                            d.data_points.iter().map(|p| p.attributes.clone()).collect()
                        }
                        Some(Data::Histogram(d)) => {
                            d.data_points.iter().map(|p| p.attributes.clone()).collect()
                        }
                        Some(Data::ExponentialHistogram(d)) => {
                            d.data_points.iter().map(|p| p.attributes.clone()).collect()
                        }
                        Some(Data::Summary(d)) => {
                            d.data_points.iter().map(|p| p.attributes.clone()).collect()
                        }
                        None => vec![],
                    };
                    for attributes in points {
                        found.push((format!("metric {}", metric.name), attributes));
                    }
                }
            }
        }
        Request::Traces(request) => {
            for resource in &request.resource_spans {
                let attributes = resource.resource.clone().unwrap_or_default().attributes;
                found.push(("resource".to_owned(), attributes));
                for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                    found.push(("span".to_owned(), span.attributes.clone()));
                    for event in &span.events {
                        found.push(("span event".to_owned(), event.attributes.clone()));
                    }
                }
            }
        }
        Request::Logs(request) => {
            for resource in &request.resource_logs {
                let attributes = resource.resource.clone().unwrap_or_default().attributes;
                found.push(("resource".to_owned(), attributes));
                for record in resource.scope_logs.iter().flat_map(|s| &s.log_records) {
                    found.push(("log record".to_owned(), record.attributes.clone()));
                }
            }
        }
    }
    found
}

#[test]
fn actions_apply_to_every_point_type_span_and_log_record_but_not_resources_or_events() {
    let resource = || vec![kv("a", "resource"), kv("service.name", "svc")];
    for (name, actions, before, after) in cases() {
        let attributes = processor(&actions_yaml(actions));
        for build in [metrics_request, traces_request, logs_request] {
            let mut request = build(&before, resource());
            let signal = request.signal();
            assert_eq!(attributes.process(&mut request), 0, "{name}: {signal:?}");
            let found = all_attributes(&request);
            // The resource, then 5 points / 1 span and its event / 1 record.
            let expected_items = match request {
                Request::Metrics(_) => 6,
                Request::Traces(_) => 3,
                Request::Logs(_) => 2,
            };
            assert_eq!(found.len(), expected_items, "{name}: {signal:?}");
            for (place, attributes) in found {
                let expected = match place.as_str() {
                    "resource" => resource(),
                    "span event" => vec![kv("event", 1)],
                    _ => after.clone(),
                };
                assert_eq!(attributes, expected, "{name}: {signal:?} {place}");
            }
        }
    }
}

#[test]
fn metrics_without_data_and_empty_requests_pass_through() {
    let attributes = processor("actions: [{ key: a, action: insert, value: x }]");
    let mut request = Request::Metrics(request_from(vec![resource_metrics(
        vec![],
        vec![opentelemetry_proto::tonic::metrics::v1::Metric {
            name: "no.data".to_owned(),
            ..Default::default()
        }],
    )]));
    let before = request.clone();
    assert_eq!(attributes.process(&mut request), 0);
    assert_eq!(request, before);

    let mut empty = Request::Traces(ExportTraceServiceRequest::default());
    assert_eq!(attributes.process(&mut empty), 0);
    assert_eq!(empty, Request::Traces(ExportTraceServiceRequest::default()));
}

// === YAML values ===

#[test]
fn yaml_values_map_to_the_any_value_the_collector_makes() {
    let cases: Vec<(&str, AnyValue)> = vec![
        ("hello", string("hello")),
        ("'42'", string("42")),
        ("\"true\"", string("true")),
        ("yes", string("yes")),
        ("on", string("on")),
        ("''", string("")),
        ("42", int(42)),
        ("-7", int(-7)),
        ("0", int(0)),
        ("9223372036854775807", int(i64::MAX)),
        ("0x10", int(16)),
        ("1.5", double(1.5)),
        ("2.0", double(2.0)),
        ("-0.25", double(-0.25)),
        ("1e3", double(1000.0)),
        (".inf", double(f64::INFINITY)),
        ("true", boolean(true)),
        ("false", boolean(false)),
        (
            "[1, a, 2.5]",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![int(1), string("a"), double(2.5)],
                })),
            },
        ),
        (
            "{ k: v, n: 1 }",
            AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", "v"), kv("n", 1)],
                })),
            },
        ),
    ];
    for (yaml, expected) in cases {
        let attributes = processor(&format!(
            "actions: [{{ key: v, action: insert, value: {yaml} }}]"
        ));
        let mut request = logs_request(&[], vec![]);
        attributes.process(&mut request);
        let found = all_attributes(&request);
        let record = &found[1].1;
        assert_eq!(
            record,
            &vec![KeyValue {
                key: "v".to_owned(),
                value: Some(expected),
                ..Default::default()
            }],
            "value: {yaml}"
        );
    }
}

#[test]
fn nan_becomes_a_double() {
    let settings = match settings("actions: [{ key: v, action: insert, value: .nan }]") {
        Ok(settings) => settings,
        Err(e) => panic!("{e}"),
    };
    let mut attributes = vec![];
    settings.actions.apply(&mut attributes);
    let value = attributes[0].value.clone().and_then(|v| v.value);
    assert!(
        matches!(value, Some(any_value::Value::DoubleValue(d)) if d.is_nan()),
        "{value:?}"
    );
}

// === Configuration errors ===

#[test]
fn config_errors_name_the_key() {
    let supported = "insert, update, upsert, delete";
    let cases: Vec<(&str, String)> = vec![
        (
            "actions: []",
            format!("actions: missing: at least one action ({supported}) is required"),
        ),
        (
            "{}",
            format!("actions: missing: at least one action ({supported}) is required"),
        ),
        (
            "actions: [{ action: insert, value: x }]",
            "actions[0].key: missing: every action needs a key".to_owned(),
        ),
        (
            "actions: [{ key: a, value: x }]",
            format!("actions[0].action: missing: one of {supported} is required"),
        ),
        (
            "actions: [{ key: a, action: delete }, { key: b, action: hash }]",
            format!("actions[1].action: unsupported action \"hash\"; supported actions: {supported}"),
        ),
        (
            "actions: [{ key: a, action: extract, pattern: '(?P<x>.*)' }]",
            format!(
                "actions[0].action: unsupported action \"extract\"; supported actions: {supported}"
            ),
        ),
        (
            "actions: [{ key: a, action: insert }]",
            "actions[0]: \"insert\" needs one of \"value\" or \"from_attribute\"".to_owned(),
        ),
        (
            "actions: [{ key: a, action: update, value: null }]",
            "actions[0]: \"update\" needs one of \"value\" or \"from_attribute\"".to_owned(),
        ),
        (
            "actions: [{ key: a, action: upsert, from_attribute: '' }]",
            "actions[0]: \"upsert\" needs one of \"value\" or \"from_attribute\"".to_owned(),
        ),
        (
            "actions: [{ key: a, action: upsert, value: x, from_attribute: b }]",
            "actions[0]: \"upsert\" takes one of \"value\" and \"from_attribute\", not both"
                .to_owned(),
        ),
        (
            "actions: [{ key: a, action: insert, value: x, pattern: a }]",
            "actions[0].pattern: only the \"delete\" action uses \"pattern\", not \"insert\""
                .to_owned(),
        ),
        (
            "actions: [{ key: a, action: delete, value: x }]",
            "actions[0].value: \"delete\" takes no value".to_owned(),
        ),
        (
            "actions: [{ key: a, action: delete, from_attribute: b }]",
            "actions[0].from_attribute: \"delete\" takes no \"from_attribute\"".to_owned(),
        ),
        (
            "actions: [{ action: delete }]",
            "actions[0].key: missing: \"delete\" needs \"key\", \"pattern\" or both".to_owned(),
        ),
        (
            "actions: [{ key: a, action: insert, value: 9223372036854775808 }]",
            "actions[0].value: integer 9223372036854775808 is out of range: OTLP integers are signed 64-bit"
                .to_owned(),
        ),
        (
            "actions: [{ key: a, action: insert, value: [1, 18446744073709551615] }]",
            "actions[0].value[1]: integer 18446744073709551615 is out of range: OTLP integers are signed 64-bit"
                .to_owned(),
        ),
        (
            "actions: [{ key: a, action: insert, value: { 1: x } }]",
            "actions[0].value: map keys must be strings, found Number(1)".to_owned(),
        ),
        (
            "actions: [{ key: a, action: insert, value: !custom x }]",
            "actions[0].value: YAML tags such as !custom are not supported; write the value untagged"
                .to_owned(),
        ),
    ];
    for (yaml, expected) in cases {
        match settings(yaml) {
            Ok(_) => panic!("{yaml} was accepted"),
            Err(e) => assert_eq!(e, expected, "{yaml}"),
        }
    }
}

#[test]
fn invalid_delete_pattern_names_the_key() {
    let Err(e) = settings("actions: [{ action: delete, pattern: '(' }]") else {
        panic!("accepted");
    };
    assert!(
        e.starts_with("actions[0].pattern: invalid regular expression \"(\": "),
        "{e}"
    );
}

#[test]
fn integers_past_u64_are_rejected_where_the_collector_would_make_a_double() {
    // serde_yaml reads them as u128, which its `Value` cannot hold; an error beats a silently
    // different value, and nobody means 1e20 as an attribute written without a decimal point.
    let Err(e) = settings("actions: [{ key: a, action: insert, value: 99999999999999999999 }]")
    else {
        panic!("accepted");
    };
    assert!(e.starts_with("actions[0].value: "), "{e}");
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    for (yaml, key) in [
        (
            "actions: [{ key: a, action: delete }]\ninclude: { match_type: strict }",
            "include",
        ),
        (
            "actions: [{ key: a, action: delete }]\nexclude: {}",
            "exclude",
        ),
        (
            "actions: [{ key: a, action: insert, from_context: x }]",
            "from_context",
        ),
        (
            "actions: [{ key: a, action: insert, default_value: x }]",
            "default_value",
        ),
        (
            "actions: [{ key: a, action: convert, converted_type: int }]",
            "converted_type",
        ),
    ] {
        let Err(e) = settings(yaml) else {
            panic!("{yaml} was accepted");
        };
        assert!(e.contains(&format!("unknown field `{key}`")), "{yaml}: {e}");
    }
}

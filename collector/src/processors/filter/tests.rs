use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, ResourceMetrics, ScopeMetrics, Summary,
    SummaryDataPoint,
};

use super::*;
use crate::test_support::{
    gauge, histogram, histogram_point, int_point, kv, logs_request, metric, request_from,
    request_with, resource_metrics, sum, traces_request,
};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data};

fn settings(yaml: &str) -> Result<Settings, String> {
    let config: Config = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate()
}

fn processor(yaml: &str) -> Filter {
    match settings(yaml) {
        Ok(settings) => Filter::new(settings),
        Err(e) => panic!("config {yaml:?} rejected: {e}"),
    }
}

/// One metric of each type; the number of points is in the comment.
fn metrics() -> Vec<Metric> {
    let p = |n: i64| int_point(n, vec![kv("n", n)]);
    vec![
        // 2 points.
        histogram(
            "http.server.duration",
            vec![
                histogram_point(&[1.0], &[1, 0], 0.5, vec![]),
                histogram_point(&[1.0], &[0, 1], 2.0, vec![kv("a", 1)]),
            ],
        ),
        // 1 point.
        metric(
            "http.client.duration",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default()],
                aggregation_temporality: 2,
            }),
        ),
        // 3 points.
        metric(
            "rpc.server.duration",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint::default(); 3],
            }),
        ),
        // 1 point.
        gauge("process.cpu", vec![p(1)]),
        // 2 points.
        sum("requests", vec![p(1), p(2)]),
        // 1 point.
        gauge("xhttp", vec![p(3)]),
    ]
}

fn names(request: &Request) -> Vec<String> {
    let Request::Metrics(request) = request else {
        return vec![];
    };
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect()
}

#[test]
fn include_and_exclude_keep_exactly_the_matching_names() {
    // (filter YAML, names kept, points dropped)
    let cases: Vec<(&str, Vec<&str>, u64)> = vec![
        (
            "metrics: { include: { match_type: strict, metric_names: [process.cpu, requests] } }",
            vec!["process.cpu", "requests"],
            2 + 1 + 3 + 1,
        ),
        (
            "metrics: { include: { match_type: strict, metric_names: [http] } }",
            vec![],
            10,
        ),
        (
            // Unanchored, as Go's regexp.MatchString: `http` matches anywhere.
            "metrics: { include: { match_type: regexp, metric_names: [http] } }",
            vec!["http.server.duration", "http.client.duration", "xhttp"],
            3 + 1 + 2,
        ),
        (
            "metrics: { include: { match_type: regexp, metric_names: ['^http\\.'] } }",
            vec!["http.server.duration", "http.client.duration"],
            3 + 1 + 2 + 1,
        ),
        (
            "metrics: { include: { match_type: regexp, metric_names: ['duration$', '^process'] } }",
            vec![
                "http.server.duration",
                "http.client.duration",
                "rpc.server.duration",
                "process.cpu",
            ],
            2 + 1,
        ),
        (
            "metrics: { exclude: { match_type: strict, metric_names: [requests, xhttp, nope] } }",
            vec![
                "http.server.duration",
                "http.client.duration",
                "rpc.server.duration",
                "process.cpu",
            ],
            2 + 1,
        ),
        (
            "metrics: { exclude: { match_type: regexp, metric_names: ['server'] } }",
            vec!["http.client.duration", "process.cpu", "requests", "xhttp"],
            2 + 3,
        ),
        (
            "metrics: { exclude: { match_type: regexp, metric_names: ['^.*$'] } }",
            vec![],
            10,
        ),
        (
            // Include first, then exclude from what is left.
            "metrics:\n  include: { match_type: regexp, metric_names: [http] }\n  exclude: { match_type: strict, metric_names: [xhttp, requests] }",
            vec!["http.server.duration", "http.client.duration"],
            3 + 1 + 2 + 1,
        ),
        (
            // An include with no names does nothing, as in the Collector.
            "metrics:\n  include: { match_type: strict, metric_names: [] }\n  exclude: { match_type: strict, metric_names: [xhttp] }",
            vec![
                "http.server.duration",
                "http.client.duration",
                "rpc.server.duration",
                "process.cpu",
                "requests",
            ],
            1,
        ),
        (
            "metrics: { include: { match_type: regexp } }",
            vec![
                "http.server.duration",
                "http.client.duration",
                "rpc.server.duration",
                "process.cpu",
                "requests",
                "xhttp",
            ],
            0,
        ),
        (
            "error_mode: ignore",
            vec![
                "http.server.duration",
                "http.client.duration",
                "rpc.server.duration",
                "process.cpu",
                "requests",
                "xhttp",
            ],
            0,
        ),
    ];
    for (yaml, kept, dropped) in cases {
        let filter = processor(yaml);
        let mut request = Request::Metrics(request_with(metrics()));
        assert_eq!(filter.process(&mut request), dropped, "{yaml}");
        assert_eq!(names(&request), kept, "{yaml}");
    }
}

#[test]
fn emptied_scopes_and_resources_are_removed() {
    let scope = |name: &str, metrics: Vec<Metric>| ScopeMetrics {
        scope: Some(
            opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                name: name.to_owned(),
                ..Default::default()
            },
        ),
        metrics,
        schema_url: String::new(),
    };
    let one = |name: &str| gauge(name, vec![int_point(1, vec![])]);
    let build = || {
        request_from(vec![
            ResourceMetrics {
                scope_metrics: vec![
                    scope("a1", vec![one("drop.a"), one("drop.b")]),
                    scope("a2", vec![one("keep.a"), one("drop.c")]),
                ],
                ..resource_metrics(vec![kv("service.name", "a")], vec![])
            },
            ResourceMetrics {
                scope_metrics: vec![scope("b1", vec![one("drop.d")])],
                ..resource_metrics(vec![kv("service.name", "b")], vec![])
            },
            ResourceMetrics {
                scope_metrics: vec![scope("c1", vec![one("keep.b")]), scope("c2", vec![])],
                ..resource_metrics(vec![kv("service.name", "c")], vec![])
            },
        ])
    };
    let filter =
        processor("metrics: { exclude: { match_type: regexp, metric_names: ['^drop\\.'] } }");
    let mut request = Request::Metrics(build());
    assert_eq!(filter.process(&mut request), 4);
    let Request::Metrics(request) = request else {
        panic!("signal changed");
    };
    // (service.name, [(scope name, [metric names])])
    type Shape = Vec<(String, Vec<(String, Vec<String>)>)>;
    let shape: Shape = request
        .resource_metrics
        .iter()
        .map(|r| {
            let service = r.resource.clone().unwrap_or_default().attributes[0]
                .value
                .clone()
                .and_then(|v| v.value);
            let service = match service {
                Some(any_value::Value::StringValue(s)) => s,
                other => panic!("{other:?}"),
            };
            let scopes = r
                .scope_metrics
                .iter()
                .map(|s| {
                    let scope = s.scope.clone().unwrap_or_default().name;
                    (scope, s.metrics.iter().map(|m| m.name.clone()).collect())
                })
                .collect();
            (service, scopes)
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "a".to_owned(),
                vec![("a2".to_owned(), vec!["keep.a".to_owned()])]
            ),
            // c2 arrived empty and goes too, as in the Collector.
            (
                "c".to_owned(),
                vec![("c1".to_owned(), vec!["keep.b".to_owned()])]
            ),
        ]
    );

    // Everything dropped: no resources left at all.
    let filter = processor("metrics: { include: { match_type: strict, metric_names: [none] } }");
    let mut request = Request::Metrics(build());
    assert_eq!(filter.process(&mut request), 6);
    assert_eq!(
        request,
        Request::Metrics(ExportMetricsServiceRequest::default())
    );
}

#[test]
fn a_filter_without_names_leaves_requests_untouched() {
    // Not even empty scopes are removed when there is nothing to match.
    let mut empty_scope = request_with(vec![]);
    empty_scope.resource_metrics[0].scope_metrics[0]
        .metrics
        .clear();
    for yaml in [
        "{}",
        "metrics: {}",
        "metrics: { include: { match_type: strict } }",
        "metrics: { exclude: {} }",
    ] {
        let filter = processor(yaml);
        let mut request = Request::Metrics(empty_scope.clone());
        assert_eq!(filter.process(&mut request), 0, "{yaml}");
        assert_eq!(request, Request::Metrics(empty_scope.clone()), "{yaml}");
    }
}

#[test]
fn metrics_without_data_count_no_points() {
    let filter = processor("metrics: { exclude: { match_type: strict, metric_names: [empty] } }");
    let mut request = Request::Metrics(request_with(vec![
        Metric {
            name: "empty".to_owned(),
            ..Default::default()
        },
        gauge("kept", vec![int_point(1, vec![])]),
    ]));
    assert_eq!(filter.process(&mut request), 0);
    assert_eq!(names(&request), vec!["kept"]);
}

#[test]
fn traces_and_logs_pass_through() {
    let filter = processor("metrics: { include: { match_type: strict, metric_names: [none] } }");
    let mut traces = Request::Traces(traces_request(3));
    assert_eq!(filter.process(&mut traces), 0);
    assert_eq!(traces, Request::Traces(traces_request(3)));
    let mut logs = Request::Logs(logs_request(2));
    assert_eq!(filter.process(&mut logs), 0);
    assert_eq!(logs, Request::Logs(logs_request(2)));
}

#[test]
fn error_mode_is_accepted_in_any_case() {
    for mode in ["ignore", "silent", "propagate", "IGNORE", "Propagate"] {
        if let Err(e) = settings(&format!("error_mode: {mode}")) {
            panic!("{mode}: {e}");
        }
    }
}

#[test]
fn config_errors_name_the_key() {
    let only = "not supported: Vigil's filter processor only filters metrics by name \
                (metrics.include / metrics.exclude with match_type strict or regexp)";
    let cases: Vec<(&str, String)> = vec![
        (
            "error_mode: loud",
            "error_mode: unknown mode \"loud\"; one of ignore, silent, propagate".to_owned(),
        ),
        (
            "traces: { span: ['name == \"x\"'] }",
            format!("traces: {only}"),
        ),
        (
            "spans: { include: { match_type: strict, services: [a] } }",
            format!("spans: {only}"),
        ),
        (
            "logs: { include: { match_type: strict } }",
            format!("logs: {only}"),
        ),
        ("profiles: { profile: [] }", format!("profiles: {only}")),
        (
            "metric_conditions: ['name == \"x\"']",
            format!("metric_conditions: {only}"),
        ),
        ("log_conditions: []", format!("log_conditions: {only}")),
        (
            "metrics: { metric: ['name == \"x\"'] }",
            format!("metrics.metric: OTTL conditions are not supported; {only}"),
        ),
        (
            "metrics: { datapoint: ['true'] }",
            format!("metrics.datapoint: OTTL conditions are not supported; {only}"),
        ),
        (
            "metrics: { resource: ['true'] }",
            format!("metrics.resource: OTTL conditions are not supported; {only}"),
        ),
        (
            "metrics: { include: { match_type: expr, metric_names: [a] } }",
            "metrics.include.match_type: unknown match type \"expr\" (the Collector's expr match type is not supported); one of strict, regexp".to_owned(),
        ),
        (
            "metrics: { exclude: { match_type: Strict, metric_names: [a] } }",
            "metrics.exclude.match_type: unknown match type \"Strict\"; one of strict, regexp"
                .to_owned(),
        ),
        (
            "metrics: { exclude: { metric_names: [a] } }",
            "metrics.exclude.match_type: missing: one of strict, regexp is required with metric_names"
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
fn invalid_regexp_names_the_entry() {
    let Err(e) =
        settings("metrics: { include: { match_type: regexp, metric_names: [ok, '(unclosed'] } }")
    else {
        panic!("accepted");
    };
    assert!(
        e.starts_with(
            "metrics.include.metric_names[1]: invalid regular expression \"(unclosed\": "
        ),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    for (yaml, key) in [
        (
            "metrics: { include: { match_type: strict, resource_attributes: [{ key: a, value: b }] } }",
            "resource_attributes",
        ),
        (
            "metrics: { include: { match_type: expr, expressions: ['true'] } }",
            "expressions",
        ),
        ("metrics: { include: {}, regexp: {} }", "regexp"),
        ("bogus: 1", "bogus"),
    ] {
        let Err(e) = settings(yaml) else {
            panic!("{yaml} was accepted");
        };
        assert!(e.contains(&format!("unknown field `{key}`")), "{yaml}: {e}");
    }
}

#[test]
fn only_a_metrics_filter_with_names_can_change_a_request() {
    let with_names: Config =
        serde_yaml::from_str("metrics: {exclude: {match_type: strict, metric_names: [a]}}")
            .unwrap();
    let filter = Filter::new(with_names.validate().unwrap());
    assert!(filter.changes(crate::pipeline::Signal::Metrics));
    assert!(!filter.changes(crate::pipeline::Signal::Traces));
    assert!(!filter.changes(crate::pipeline::Signal::Logs));
    let empty: Config = serde_yaml::from_str("{}").unwrap();
    assert!(!Filter::new(empty.validate().unwrap()).changes(crate::pipeline::Signal::Metrics));
}

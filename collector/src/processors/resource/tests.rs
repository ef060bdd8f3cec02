use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::test_support::{gauge, int_point, kv, resource_metrics};

fn settings(yaml: &str) -> Result<Settings, String> {
    let config: Config = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate()
}

fn processor(yaml: &str) -> Resource {
    match settings(yaml) {
        Ok(settings) => Resource::new(settings),
        Err(e) => panic!("config {yaml:?} rejected: {e}"),
    }
}

fn resource(attributes: Vec<KeyValue>) -> Option<OtlpResource> {
    Some(OtlpResource {
        attributes,
        ..Default::default()
    })
}

/// A request of `signal` with one resource per entry of `resources` (`None`: absent), each
/// holding one item whose own attributes are `[item=1]`.
fn request(signal: usize, resources: &[Option<OtlpResource>]) -> Request {
    match signal {
        0 => Request::Metrics(ExportMetricsServiceRequest {
            resource_metrics: resources
                .iter()
                .map(|r| ResourceMetrics {
                    resource: r.clone(),
                    ..resource_metrics(vec![], vec![gauge("g", vec![int_point(1, item())])])
                })
                .collect(),
        }),
        1 => Request::Traces(ExportTraceServiceRequest {
            resource_spans: resources
                .iter()
                .map(|r| ResourceSpans {
                    resource: r.clone(),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            attributes: item(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }),
        _ => Request::Logs(ExportLogsServiceRequest {
            resource_logs: resources
                .iter()
                .map(|r| ResourceLogs {
                    resource: r.clone(),
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord {
                            attributes: item(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }),
    }
}

fn item() -> Vec<KeyValue> {
    vec![kv("item", 1)]
}

/// Each resource of `request`, and every item attribute list found under it.
fn resources_and_items(request: &Request) -> (Vec<Option<OtlpResource>>, Vec<Vec<KeyValue>>) {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match request {
        Request::Metrics(r) => (
            r.resource_metrics
                .iter()
                .map(|r| r.resource.clone())
                .collect(),
            r.resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .flat_map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.clone(),
                    _ => vec![],
                })
                .map(|p| p.attributes)
                .collect(),
        ),
        Request::Traces(r) => (
            r.resource_spans
                .iter()
                .map(|r| r.resource.clone())
                .collect(),
            r.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.attributes.clone())
                .collect(),
        ),
        Request::Logs(r) => (
            r.resource_logs.iter().map(|r| r.resource.clone()).collect(),
            r.resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .map(|l| l.attributes.clone())
                .collect(),
        ),
    }
}

#[test]
fn actions_change_every_resource_of_every_signal_and_nothing_else() {
    let a = || vec![kv("service.name", "a"), kv("env", "dev")];
    let b = || vec![kv("service.name", "b")];
    // (name, attributes YAML, resources before, resources after)
    type Case = (
        &'static str,
        &'static str,
        Vec<Option<OtlpResource>>,
        Vec<Option<OtlpResource>>,
    );
    let cases: Vec<Case> = vec![
        (
            "insert adds a missing key, leaves an existing one",
            "[{ key: env, action: insert, value: prod }]",
            vec![resource(a()), resource(b())],
            vec![
                resource(a()),
                resource(vec![kv("service.name", "b"), kv("env", "prod")]),
            ],
        ),
        (
            "update changes an existing key, ignores a missing one",
            "[{ key: env, action: update, value: prod }]",
            vec![resource(a()), resource(b())],
            vec![
                resource(vec![kv("service.name", "a"), kv("env", "prod")]),
                resource(b()),
            ],
        ),
        (
            "upsert sets the key either way",
            "[{ key: env, action: upsert, value: 3 }]",
            vec![resource(a()), resource(b())],
            vec![
                resource(vec![kv("service.name", "a"), kv("env", 3)]),
                resource(vec![kv("service.name", "b"), kv("env", 3)]),
            ],
        ),
        (
            "delete removes an existing key, ignores a missing one",
            "[{ key: env, action: delete }]",
            vec![resource(a()), resource(b())],
            vec![resource(vec![kv("service.name", "a")]), resource(b())],
        ),
        (
            "delete pattern",
            "[{ action: delete, pattern: '^service' }]",
            vec![resource(a()), resource(b())],
            vec![resource(vec![kv("env", "dev")]), resource(vec![])],
        ),
        (
            "from_attribute copies within one resource; a missing source does nothing",
            "[{ key: env.copy, action: upsert, from_attribute: env }]",
            vec![resource(a()), resource(b())],
            vec![
                resource(vec![
                    kv("service.name", "a"),
                    kv("env", "dev"),
                    kv("env.copy", "dev"),
                ]),
                resource(b()),
            ],
        ),
        (
            "insert creates an absent resource",
            "[{ key: env, action: insert, value: prod }]",
            vec![None],
            vec![resource(vec![kv("env", "prod")])],
        ),
        (
            "upsert creates an absent resource",
            "[{ key: env, action: upsert, value: true }]",
            vec![None],
            vec![resource(vec![kv("env", true)])],
        ),
        (
            "update and delete leave an absent resource absent",
            "[{ key: env, action: update, value: x }, { key: env, action: delete }]",
            vec![None],
            vec![None],
        ),
        (
            "from_attribute on an absent resource leaves it absent",
            "[{ key: env, action: insert, from_attribute: other }]",
            vec![None],
            vec![None],
        ),
    ];
    for (name, actions, before, after) in cases {
        let processor = processor(&format!("attributes: {actions}"));
        for signal in 0..3 {
            let mut request = request(signal, &before);
            assert_eq!(processor.process(&mut request), 0, "{name}");
            let (resources, items) = resources_and_items(&request);
            let kind = request.signal();
            assert_eq!(resources, after, "{name}: {kind:?}");
            assert_eq!(items, vec![item(); before.len()], "{name}: {kind:?}");
        }
    }
}

#[test]
fn dropped_attribute_counts_and_entity_refs_are_kept() {
    let processor = processor("attributes: [{ key: env, action: insert, value: prod }]");
    let entity = opentelemetry_proto::tonic::common::v1::EntityRef {
        r#type: "service".into(),
        id_keys: vec!["service.name".into()],
        ..Default::default()
    };
    let before = Some(OtlpResource {
        attributes: vec![],
        dropped_attributes_count: 4,
        entity_refs: vec![entity.clone()],
    });
    let mut request = request(0, &[before]);
    processor.process(&mut request);
    let (resources, _) = resources_and_items(&request);
    assert_eq!(
        resources,
        vec![Some(OtlpResource {
            attributes: vec![kv("env", "prod")],
            dropped_attributes_count: 4,
            entity_refs: vec![entity],
        })]
    );
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        (
            "attributes: []",
            "attributes: missing: at least one action (insert, update, upsert, delete) is required",
        ),
        (
            "{}",
            "attributes: missing: at least one action (insert, update, upsert, delete) is required",
        ),
        (
            "attributes: [{ key: a, action: delete }, { action: upsert, value: 1 }]",
            "attributes[1].key: missing: every action needs a key",
        ),
        (
            "attributes: [{ key: a, action: hash }]",
            "attributes[0].action: unsupported action \"hash\"; supported actions: insert, update, upsert, delete",
        ),
        (
            "attributes: [{ key: a, action: insert, value: x, from_attribute: b }]",
            "attributes[0]: \"insert\" takes one of \"value\" and \"from_attribute\", not both",
        ),
        (
            "attributes: [{ key: a, action: insert, value: { k: [1, 18446744073709551615] } }]",
            "attributes[0].value.k[1]: integer 18446744073709551615 is out of range: OTLP integers are signed 64-bit",
        ),
    ];
    for (yaml, expected) in cases {
        match settings(yaml) {
            Ok(_) => panic!("{yaml} was accepted"),
            Err(e) => assert_eq!(e, expected, "{yaml}"),
        }
    }
    let Err(e) = settings("actions: [{ key: a, action: delete }]") else {
        panic!("`actions` was accepted");
    };
    assert!(e.contains("unknown field `actions`"), "{e}");
}

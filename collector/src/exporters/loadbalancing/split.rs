//! Splitting an export request by routing key: which back-end gets which part.
//!
//! The routing key decides the unit that travels whole:
//!
//! | `routing_key` | unit | key bytes |
//! |---|---|---|
//! | `service` | a resource entry (`ResourceMetrics`, `ResourceSpans`, `ResourceLogs`) | the resource's `service.name` (a string; absent or not a string: the empty name) |
//! | `resource` | a resource entry | every resource attribute, sorted by key, key and protobuf-encoded value |
//! | `metric` | one metric of a resource entry | the `resource` bytes, then the metric name |
//! | `traceID` | one span or log record | its trace id; a log record without one goes by its `service` |
//!
//! Within a back-end's part, resources and scopes keep their order and their fields (each part
//! repeats its resource and scope); units never change. A request whose units all go to one
//! back-end is [`Plan::Whole`], so its received bytes are forwarded as they are.
//!
//! The request is decoded with prost and the parts are re-encoded: the simple, correct way. A
//! splitter working on the protobuf bytes (as `pipeline::scan` counts items) would find the
//! `service.name` of each resource entry and copy byte ranges without decoding; it is left for
//! when a profile says the decode matters.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::ring::{KeyHasher, hash};
use crate::processors::Request;

/// What decides a unit's back-end (`routing_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutingKey {
    /// `service`: the resource's `service.name`.
    Service,
    /// `resource`: all the resource's attributes.
    Resource,
    /// `metric`: the resource's attributes and the metric name (metrics only).
    Metric,
    /// `traceID`: the span's or log record's trace id (traces and logs only).
    TraceId,
}

/// Where one request goes: indices are back-ends as the `owner` function numbers them.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Nothing to send (no resource entries).
    Empty,
    /// The whole request to one back-end.
    Whole(usize),
    /// One part per back-end, by back-end index.
    Parts(Vec<(usize, Request)>),
}

/// Splits `request` by `key`; `owner` maps a key's hash to a back-end index.
pub fn plan(request: &Request, key: RoutingKey, owner: &dyn Fn(u64) -> usize) -> Plan {
    match request {
        Request::Metrics(r) => plan_entries(&r.resource_metrics, key, owner, |entries| {
            Request::Metrics(ExportMetricsServiceRequest {
                resource_metrics: entries,
            })
        }),
        Request::Traces(r) => plan_entries(&r.resource_spans, key, owner, |entries| {
            Request::Traces(ExportTraceServiceRequest {
                resource_spans: entries,
            })
        }),
        Request::Logs(r) => plan_entries(&r.resource_logs, key, owner, |entries| {
            Request::Logs(ExportLogsServiceRequest {
                resource_logs: entries,
            })
        }),
    }
}

/// The hash `service` routing gives a resource whose `service.name` is `name`.
pub fn service_hash(name: &str) -> u64 {
    hash(name.as_bytes())
}

/// The hasher `resource` routing feeds with a resource's attributes, sorted by key.
pub fn resource_hasher(resource: Option<&Resource>) -> KeyHasher {
    let mut h = KeyHasher::new();
    let Some(resource) = resource else { return h };
    let mut attributes: Vec<_> = resource.attributes.iter().collect();
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    for kv in attributes {
        h.write(kv.key.as_bytes()).write(&[0xff]);
        if let Some(value) = &kv.value {
            h.write(&value.encode_to_vec());
        }
        h.write(&[0xfe]);
    }
    h
}

/// The hash `metric` routing gives metric `name` of a resource.
pub fn metric_hash(resource: Option<&Resource>, name: &str) -> u64 {
    resource_hasher(resource)
        .write(&[0xfd])
        .write(name.as_bytes())
        .finish()
}

fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// A resource-level entry of any signal.
trait Entry: Clone {
    type Scope: Scoped;
    fn resource(&self) -> Option<&Resource>;
    fn scopes(&self) -> &[Self::Scope];
    /// This entry's resource and schema with other scopes.
    fn with_scopes(&self, scopes: Vec<Self::Scope>) -> Self;
}

/// A scope-level entry of any signal.
trait Scoped: Clone {
    type Unit: Unit;
    fn units(&self) -> &[Self::Unit];
    /// This scope and schema with other units.
    fn with_units(&self, units: Vec<Self::Unit>) -> Self;
}

/// A metric, span or log record: what `metric` and `traceID` routing route one by one.
trait Unit: Clone {
    /// Its hash under `key` (`metric` or `traceID`), given its resource and the `service` hash.
    fn route(&self, resource: Option<&Resource>, service: u64) -> u64;
}

impl Unit for Metric {
    fn route(&self, resource: Option<&Resource>, _: u64) -> u64 {
        metric_hash(resource, &self.name)
    }
}

impl Unit for Span {
    fn route(&self, _: Option<&Resource>, service: u64) -> u64 {
        trace_route(&self.trace_id, service)
    }
}

impl Unit for LogRecord {
    fn route(&self, _: Option<&Resource>, service: u64) -> u64 {
        trace_route(&self.trace_id, service)
    }
}

fn trace_route(trace_id: &[u8], service: u64) -> u64 {
    if trace_id.is_empty() {
        service
    } else {
        hash(trace_id)
    }
}

macro_rules! entry {
    ($entry:ty, $scopes:ident, $scope:ty, $units:ident, $unit:ty) => {
        impl Entry for $entry {
            type Scope = $scope;
            fn resource(&self) -> Option<&Resource> {
                self.resource.as_ref()
            }
            fn scopes(&self) -> &[$scope] {
                &self.$scopes
            }
            fn with_scopes(&self, scopes: Vec<$scope>) -> Self {
                Self {
                    resource: self.resource.clone(),
                    $scopes: scopes,
                    schema_url: self.schema_url.clone(),
                }
            }
        }
        impl Scoped for $scope {
            type Unit = $unit;
            fn units(&self) -> &[$unit] {
                &self.$units
            }
            fn with_units(&self, units: Vec<$unit>) -> Self {
                Self {
                    scope: self.scope.clone(),
                    $units: units,
                    schema_url: self.schema_url.clone(),
                }
            }
        }
    };
}

entry!(
    ResourceMetrics,
    scope_metrics,
    ScopeMetrics,
    metrics,
    Metric
);
entry!(ResourceSpans, scope_spans, ScopeSpans, spans, Span);
entry!(ResourceLogs, scope_logs, ScopeLogs, log_records, LogRecord);

/// Two passes: first the owner of every unit in order (enough to see that everything goes to
/// one back-end, the common case, without copying anything), then, only if they differ, the
/// parts, consuming the owners in the same order.
fn plan_entries<E: Entry>(
    entries: &[E],
    key: RoutingKey,
    owner: &dyn Fn(u64) -> usize,
    wrap: impl Fn(Vec<E>) -> Request,
) -> Plan {
    let whole_entries = matches!(key, RoutingKey::Service | RoutingKey::Resource);
    let mut owners = Vec::new();
    for entry in entries {
        let resource = entry.resource();
        match key {
            RoutingKey::Service => owners.push(owner(service_hash(service_name(resource)))),
            RoutingKey::Resource => owners.push(owner(resource_hasher(resource).finish())),
            RoutingKey::Metric | RoutingKey::TraceId => {
                let service = service_hash(service_name(resource));
                for scope in entry.scopes() {
                    for unit in scope.units() {
                        owners.push(owner(unit.route(resource, service)));
                    }
                }
            }
        }
    }
    let Some(&first) = owners.first() else {
        return Plan::Empty;
    };
    if owners.iter().all(|&o| o == first) {
        return Plan::Whole(first);
    }

    let mut parts: BTreeMap<usize, Vec<E>> = BTreeMap::new();
    let mut next = owners.into_iter();
    for entry in entries {
        if whole_entries {
            if let Some(o) = next.next() {
                parts.entry(o).or_default().push(entry.clone());
            }
            continue;
        }
        let mut scopes: BTreeMap<usize, Vec<E::Scope>> = BTreeMap::new();
        for scope in entry.scopes() {
            let mut units: BTreeMap<usize, Vec<<E::Scope as Scoped>::Unit>> = BTreeMap::new();
            for unit in scope.units() {
                if let Some(o) = next.next() {
                    units.entry(o).or_default().push(unit.clone());
                }
            }
            for (o, units) in units {
                scopes.entry(o).or_default().push(scope.with_units(units));
            }
        }
        for (o, scopes) in scopes {
            parts.entry(o).or_default().push(entry.with_scopes(scopes));
        }
    }
    Plan::Parts(parts.into_iter().map(|(o, e)| (o, wrap(e))).collect())
}

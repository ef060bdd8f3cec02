//! What was sent and what arrived, as plain values both sides turn into, and the reader of
//! the `file` exporter's OTLP/JSON lines.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use serde_json::{Map, Value};

// === what was sent and what arrived ===

/// Attributes as plain JSON values, sorted by key: an OTLP `stringValue`
/// becomes a JSON string, `intValue` an integer, `doubleValue` a float,
/// `boolValue` a bool, `arrayValue` an array, `kvlistValue` an object,
/// `bytesValue` its base64 string, an empty value `null`.
pub type Attributes = BTreeMap<String, Value>;

/// An instrumentation scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Scope name (the meter, tracer or logger name).
    pub name: String,
    /// Scope version; empty when unset.
    pub version: String,
}

/// The OTLP metric type of a point, with the fields that change its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// `gauge`.
    Gauge,
    /// `sum`; `cumulative` is false for delta (and unspecified) temporality.
    Sum {
        /// `isMonotonic`.
        monotonic: bool,
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `histogram` with explicit bounds.
    Histogram {
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `exponentialHistogram`.
    ExponentialHistogram {
        /// `aggregationTemporality` is cumulative.
        cumulative: bool,
    },
    /// `summary`.
    Summary,
}

/// An explicit-bounds histogram point.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Number of measurements.
    pub count: u64,
    /// Sum of the measurements, when present.
    pub sum: Option<f64>,
    /// Smallest measurement, when present.
    pub min: Option<f64>,
    /// Largest measurement, when present.
    pub max: Option<f64>,
    /// Upper bounds, inclusive (`explicitBounds`).
    pub bounds: Vec<f64>,
    /// One count per bucket: `bounds.len() + 1` of them.
    pub bucket_counts: Vec<u64>,
}

/// The value of one data point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// A gauge or sum point's `asInt`.
    Int(i64),
    /// A gauge or sum point's `asDouble`.
    Double(f64),
    /// A histogram point.
    Histogram(Histogram),
    /// Anything else (exponential histogram, summary, a number point with
    /// no value): the OTLP/JSON data point as written.
    Other(Value),
}

/// One metric data point with everything that identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// Resource attributes (`service.name`, `telemetry.sdk.*`, ...).
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// Metric name, as sent (dot-separated OTel name).
    pub metric: String,
    /// UCUM unit; empty when unset.
    pub unit: String,
    /// Metric type.
    pub kind: MetricKind,
    /// Data point attributes.
    pub attributes: Attributes,
    /// The value.
    pub value: PointValue,
}

/// One span. Timestamps and status are left out: they are not part of what
/// a test can know in advance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Resource attributes.
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// Span name.
    pub name: String,
    /// OTLP `SpanKind` number (1 internal, 2 server, 3 client, ...).
    pub kind: i64,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    /// Parent span id, lowercase hex; empty for a root span.
    pub parent_span_id: String,
    /// Span attributes.
    pub attributes: Attributes,
}

/// One log record. Timestamps are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Resource attributes.
    pub resource: Attributes,
    /// Instrumentation scope.
    pub scope: Scope,
    /// The body: a string body as is, any other body as the JSON text of
    /// its plain value (see [`Attributes`]), no body as `""`.
    pub body: String,
    /// OTLP severity number (9 INFO, 13 WARN, ...); 0 when unset.
    pub severity_number: i64,
    /// Severity text; empty when unset.
    pub severity_text: String,
    /// Log record attributes.
    pub attributes: Attributes,
}

// === impl FileExport ===

/// What the collector's `file` exporter wrote: one OTLP/JSON export request
/// per line (`{"resourceMetrics":[..]}`, `{"resourceSpans":[..]}` or
/// `{"resourceLogs":[..]}`), camelCase field names, 64-bit integers as
/// strings, ids as hex, as the OTLP specification's JSON encoding says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileExport {
    /// The export requests, in the order written.
    pub requests: Vec<Value>,
}

impl FileExport {
    /// Reads the exporter's file. A missing file is an empty export (nothing
    /// was flushed yet), and so is a last line without its newline (a flush
    /// can stop mid-line; the rest comes with the next one).
    ///
    /// # Panics
    /// If the file cannot be read or a complete line is not JSON.
    pub fn read(path: &Path) -> FileExport {
        match fs::read_to_string(path) {
            Ok(text) => FileExport::parse(&text),
            Err(e) if e.kind() == ErrorKind::NotFound => FileExport::default(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        }
    }

    /// Parses the newline-terminated lines of `text` (see [`FileExport::read`]).
    ///
    /// # Panics
    /// If a complete line is not JSON.
    pub fn parse(text: &str) -> FileExport {
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let requests = complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("file exporter line is not JSON ({e}): {line}"))
            })
            .collect();
        FileExport { requests }
    }

    /// Only the resources whose `service.name` is `service`.
    pub fn for_service(&self, service: &str) -> FileExport {
        let wanted = Value::from(service);
        let requests = self
            .requests
            .iter()
            .filter_map(|request| {
                let mut request = request.clone();
                let obj = request.as_object_mut()?;
                for key in ["resourceMetrics", "resourceSpans", "resourceLogs"] {
                    if let Some(Value::Array(resources)) = obj.get_mut(key) {
                        resources.retain(|r| {
                            attributes(&r["resource"]["attributes"]).get("service.name")
                                == Some(&wanted)
                        });
                    }
                }
                let any = obj
                    .values()
                    .any(|v| v.as_array().is_some_and(|a| !a.is_empty()));
                any.then_some(request)
            })
            .collect();
        FileExport { requests }
    }

    /// Every metric data point, in file order.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        let mut points = Vec::new();
        self.each(
            "resourceMetrics",
            "scopeMetrics",
            "metrics",
            |resource, scope, m| {
                let Some((kind, body)) = metric_kind(m) else {
                    return;
                };
                for p in body["dataPoints"].as_array().into_iter().flatten() {
                    points.push(MetricPoint {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        metric: string(&m["name"]),
                        unit: string(&m["unit"]),
                        kind,
                        attributes: attributes(&p["attributes"]),
                        value: point_value(kind, p),
                    });
                }
            },
        );
        points
    }

    /// Every span, in file order.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        self.each(
            "resourceSpans",
            "scopeSpans",
            "spans",
            |resource, scope, s| {
                spans.push(Span {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: string(&s["name"]),
                    kind: int(&s["kind"]).unwrap_or(0),
                    trace_id: string(&s["traceId"]),
                    span_id: string(&s["spanId"]),
                    parent_span_id: string(&s["parentSpanId"]),
                    attributes: attributes(&s["attributes"]),
                });
            },
        );
        spans
    }

    /// Every log record, in file order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        let mut logs = Vec::new();
        self.each(
            "resourceLogs",
            "scopeLogs",
            "logRecords",
            |resource, scope, l| {
                let body = match any_value(&l["body"]) {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                logs.push(LogRecord {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    body,
                    severity_number: int(&l["severityNumber"]).unwrap_or(0),
                    severity_text: string(&l["severityText"]),
                    attributes: attributes(&l["attributes"]),
                });
            },
        );
        logs
    }

    /// Calls `f` for every item under `resources[].scopes[].items[]`.
    fn each(
        &self,
        resources: &str,
        scopes: &str,
        items: &str,
        mut f: impl FnMut(&Attributes, &Scope, &Value),
    ) {
        for request in &self.requests {
            for r in request[resources].as_array().into_iter().flatten() {
                let resource = attributes(&r["resource"]["attributes"]);
                for s in r[scopes].as_array().into_iter().flatten() {
                    let scope = Scope {
                        name: string(&s["scope"]["name"]),
                        version: string(&s["scope"]["version"]),
                    };
                    for item in s[items].as_array().into_iter().flatten() {
                        f(&resource, &scope, item);
                    }
                }
            }
        }
    }
}

/// The metric's type and the object holding its `dataPoints`.
pub(super) fn metric_kind(m: &Value) -> Option<(MetricKind, &Value)> {
    let cumulative = |body: &Value| int(&body["aggregationTemporality"]) == Some(2);
    if let Some(b) = m.get("gauge") {
        Some((MetricKind::Gauge, b))
    } else if let Some(b) = m.get("sum") {
        let monotonic = b["isMonotonic"].as_bool().unwrap_or(false);
        Some((
            MetricKind::Sum {
                monotonic,
                cumulative: cumulative(b),
            },
            b,
        ))
    } else if let Some(b) = m.get("histogram") {
        Some((
            MetricKind::Histogram {
                cumulative: cumulative(b),
            },
            b,
        ))
    } else if let Some(b) = m.get("exponentialHistogram") {
        Some((
            MetricKind::ExponentialHistogram {
                cumulative: cumulative(b),
            },
            b,
        ))
    } else {
        m.get("summary").map(|b| (MetricKind::Summary, b))
    }
}

pub(super) fn point_value(kind: MetricKind, p: &Value) -> PointValue {
    match kind {
        MetricKind::Gauge | MetricKind::Sum { .. } => {
            if let Some(i) = int(&p["asInt"]) {
                PointValue::Int(i)
            } else if let Some(d) = float(&p["asDouble"]) {
                PointValue::Double(d)
            } else {
                PointValue::Other(p.clone())
            }
        }
        MetricKind::Histogram { .. } => PointValue::Histogram(Histogram {
            count: uint(&p["count"]).unwrap_or(0),
            sum: float(&p["sum"]),
            min: float(&p["min"]),
            max: float(&p["max"]),
            bounds: floats(&p["explicitBounds"]),
            bucket_counts: p["bucketCounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(uint)
                .collect(),
        }),
        MetricKind::ExponentialHistogram { .. } | MetricKind::Summary => {
            PointValue::Other(p.clone())
        }
    }
}

/// OTLP/JSON `[{"key":..,"value":{..}}]` → sorted plain values.
pub(super) fn attributes(list: &Value) -> Attributes {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| (string(&kv["key"]), any_value(&kv["value"])))
        .collect()
}

/// An OTLP/JSON `AnyValue` as a plain JSON value (see [`Attributes`]).
pub(super) fn any_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        s.clone()
    } else if let Some(i) = v.get("intValue") {
        int(i).map_or(Value::Null, Value::from)
    } else if let Some(d) = v.get("doubleValue") {
        float(d).map_or(Value::Null, Value::from)
    } else if let Some(b) = v.get("boolValue") {
        b.clone()
    } else if let Some(b) = v.get("bytesValue") {
        b.clone()
    } else if let Some(a) = v.get("arrayValue") {
        Value::Array(
            a["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(any_value)
                .collect(),
        )
    } else if let Some(kv) = v.get("kvlistValue") {
        Value::Object(attributes(&kv["values"]).into_iter().collect::<Map<_, _>>())
    } else {
        Value::Null
    }
}

pub(super) fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A 64-bit integer, written as a JSON string (OTLP/JSON) or number.
pub(super) fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

pub(super) fn uint(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// A double: a JSON number, or the strings `NaN`, `Infinity`, `-Infinity`.
pub(super) fn float(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

pub(super) fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(float)
        .collect()
}

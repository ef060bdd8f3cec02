//! The OpenTelemetry Go SDK client (`tests/go-client`) and the summary of what it sent.

use std::fmt::{self, Debug};
use std::io::ErrorKind;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::items::{floats, string};
use super::*;

// === impl GoClient ===

/// OTLP transport for [`GoClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

impl Protocol {
    /// The `-protocol` flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

/// One run of the Go SDK client (`tests/go-client`; its `main.go` documents
/// the exact data it sends). Plaintext transport.
#[derive(Clone, Debug)]
pub struct GoClient {
    protocol: Protocol,
    endpoint: String,
    service: String,
    signals: String,
    count: usize,
    timeout: Duration,
}

impl GoClient {
    /// A run against `endpoint` (`HOST:PORT`), sending all three signals as
    /// service `go-client`, 3 spans and 3 log records, 10 s export timeout.
    pub fn new(protocol: Protocol, endpoint: impl fmt::Display) -> GoClient {
        GoClient {
            protocol,
            endpoint: endpoint.to_string(),
            service: "go-client".to_owned(),
            signals: "metrics,traces,logs".to_owned(),
            count: 3,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sets the `service.name` resource attribute.
    pub fn with_service(mut self, service: &str) -> GoClient {
        self.service = service.to_owned();
        self
    }

    /// Selects signals, comma-separated: `"metrics"`, `"traces,logs"`, ...
    pub fn with_signals(mut self, signals: &str) -> GoClient {
        self.signals = signals.to_owned();
        self
    }

    /// Sets how many spans and how many log records to send.
    pub fn with_count(mut self, count: usize) -> GoClient {
        self.count = count;
        self
    }

    /// Sets the per-export timeout, which is also the retry budget for
    /// transient failures (UNAVAILABLE, 503): how long a failing run takes.
    pub fn with_timeout(mut self, timeout: Duration) -> GoClient {
        self.timeout = timeout;
        self
    }

    /// Runs the client to completion and returns what it sent.
    ///
    /// # Panics
    /// If any export failed (with the client's stderr) or the client is
    /// missing.
    pub fn run(&self) -> GoSummary {
        self.try_run()
            .unwrap_or_else(|e| panic!("go-client {self:?} failed: {e}"))
    }

    /// Like [`GoClient::run`], but a failed export is `Err` with the exit
    /// status and stderr, for tests where the receiver is meant to refuse.
    ///
    /// # Panics
    /// If the client is missing, or prints a summary that does not parse.
    pub fn try_run(&self) -> Result<GoSummary, String> {
        let bin = go_client();
        let out = Command::new(&bin)
            .args(["-protocol", self.protocol.as_str()])
            .args(["-endpoint", &self.endpoint])
            .args(["-service", &self.service])
            .args(["-signals", &self.signals])
            .args(["-n", &self.count.to_string()])
            .args(["-timeout", &format!("{}ms", self.timeout.as_millis())])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| match e.kind() {
                ErrorKind::NotFound => panic!("{} not found: {GO_CLIENT_HINT}", bin.display()),
                _ => panic!("cannot run {}: {e}", bin.display()),
            });
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{}: {}", out.status, stderr.trim()));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        Ok(GoSummary::parse(line))
    }
}

// === impl GoSummary ===

/// What the Go client says it sent: its stdout JSON line, as the same types
/// [`FileExport`] produces, so the two compare with `==`.
#[derive(Clone, Debug, PartialEq)]
pub struct GoSummary {
    /// `-service`.
    pub service: String,
    /// `grpc` or `http`.
    pub protocol: String,
    /// `-endpoint`.
    pub endpoint: String,
    /// One per data point (metric × attribute set), final cumulative values.
    pub metrics: Vec<MetricPoint>,
    /// One per span.
    pub spans: Vec<Span>,
    /// One per log record.
    pub logs: Vec<LogRecord>,
    /// The line as printed.
    pub raw: Value,
}

impl GoSummary {
    /// Parses the client's summary line (format: `tests/go-client/main.go`).
    ///
    /// # Panics
    /// If the line is not a summary.
    pub fn parse(line: &str) -> GoSummary {
        let raw: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("go-client summary is not JSON ({e}): {line:?}"));
        let bad = |what: &str| -> ! { panic!("go-client summary: bad {what} in {line}") };
        let resource = plain_map(&raw["resource"]);
        let scope = Scope {
            name: string(&raw["scope"]["name"]),
            version: string(&raw["scope"]["version"]),
        };
        let list = |key: &str| raw[key].as_array().cloned().unwrap_or_else(|| bad(key));

        let metrics = list("metrics")
            .iter()
            .map(|m| {
                let cumulative = m["temporality"] == "cumulative";
                let kind = match m["kind"].as_str() {
                    Some("gauge") => MetricKind::Gauge,
                    Some("sum") => MetricKind::Sum {
                        monotonic: m["monotonic"].as_bool().unwrap_or(false),
                        cumulative,
                    },
                    Some("histogram") => MetricKind::Histogram { cumulative },
                    _ => bad("metric kind"),
                };
                let h = &m["histogram"];
                let value = if let Some(i) = m["as_int"].as_i64() {
                    PointValue::Int(i)
                } else if let Some(d) = m["as_double"].as_f64() {
                    PointValue::Double(d)
                } else if h.is_object() {
                    PointValue::Histogram(Histogram {
                        count: h["count"]
                            .as_u64()
                            .unwrap_or_else(|| bad("histogram count")),
                        sum: h["sum"].as_f64(),
                        min: h["min"].as_f64(),
                        max: h["max"].as_f64(),
                        bounds: floats(&h["bounds"]),
                        bucket_counts: h["bucket_counts"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_u64)
                            .collect(),
                    })
                } else {
                    bad("metric value")
                };
                MetricPoint {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    metric: string(&m["metric"]),
                    unit: string(&m["unit"]),
                    kind,
                    attributes: plain_map(&m["attributes"]),
                    value,
                }
            })
            .collect();
        let spans = list("spans")
            .iter()
            .map(|s| Span {
                resource: resource.clone(),
                scope: scope.clone(),
                name: string(&s["name"]),
                kind: s["kind"].as_i64().unwrap_or(0),
                trace_id: string(&s["trace_id"]),
                span_id: string(&s["span_id"]),
                parent_span_id: string(&s["parent_span_id"]),
                attributes: plain_map(&s["attributes"]),
            })
            .collect();
        let logs = list("logs")
            .iter()
            .map(|l| LogRecord {
                resource: resource.clone(),
                scope: scope.clone(),
                body: string(&l["body"]),
                severity_number: l["severity_number"].as_i64().unwrap_or(0),
                severity_text: string(&l["severity_text"]),
                attributes: plain_map(&l["attributes"]),
            })
            .collect();
        GoSummary {
            service: string(&raw["service"]),
            protocol: string(&raw["protocol"]),
            endpoint: string(&raw["endpoint"]),
            metrics,
            spans,
            logs,
            raw,
        }
    }
}

/// A JSON object as sorted [`Attributes`].
fn plain_map(v: &Value) -> Attributes {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

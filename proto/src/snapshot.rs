//! The JSON snapshot document (`GET /api/v1/snapshot`), schema version 1.
//!
//! Example (abridged):
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "generated_at": "2026-11-22T12:00:00.000000000Z",
//!   "services": [{
//!     "service": "checkout",
//!     "job": "shop/checkout",
//!     "instance": "pod-1",
//!     "resource": {"service.name": "checkout", "service.namespace": "shop"},
//!     "metrics": [{
//!       "name": "http.server.request.duration", "type": "histogram",
//!       "unit": "s", "description": "", "temporality": "cumulative",
//!       "scope": {"name": "vigil", "version": "0.1.0"},
//!       "prometheus": {"family": "http_server_request_duration_seconds", "type": "histogram"},
//!       "series": [{
//!         "attributes": {"http.route": "/users/{id}"},
//!         "start_time": "…", "last_update": "…",
//!         "count": 3, "sum": 0.42,
//!         "buckets": [{"le": 0.1, "count": 1}, {"le": "+Inf", "count": 3}]
//!       }]
//!     }]
//!   }]
//! }
//! ```
//!
//! Numbers that JSON cannot carry (NaN, ±Infinity) are the strings `"NaN"`,
//! `"+Inf"` and `"-Inf"`. Times are RFC 3339 in UTC with nanoseconds.
//! Attribute values keep their OTel type (string, bool, number, array, object).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The current schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Bumped only by breaking changes.
    pub schema_version: u32,
    /// When the collector built the document (RFC 3339).
    pub generated_at: String,
    /// One entry per service instance (OTel resource).
    pub services: Vec<Service>,
}

/// One service instance (one OTel resource).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Service {
    /// `service.name` (`unknown_service` when unset).
    pub service: String,
    /// The Prometheus `job` label for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The Prometheus `instance` label for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// All resource attributes.
    #[serde(default)]
    pub resource: serde_json::Map<String, Json>,
    /// Metrics of this service.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Set when this section could not be built completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One metric (in OTel terms).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    /// OTel metric name.
    pub name: String,
    /// `sum`, `gauge`, `histogram`, `exponential_histogram` or `summary`.
    #[serde(rename = "type")]
    pub kind: String,
    /// UCUM unit.
    #[serde(default)]
    pub unit: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Temporality the source sends (`cumulative` or `delta`); the values here
    /// are always cumulative. Absent for gauges and summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporality: Option<String>,
    /// For sums: whether monotonic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<bool>,
    /// Instrumentation scope.
    pub scope: Scope,
    /// How the metric appears on `/metrics`.
    pub prometheus: Prometheus,
    /// The series.
    #[serde(default)]
    pub series: Vec<Series>,
}

/// An instrumentation scope.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Scope {
    /// Scope name.
    pub name: String,
    /// Scope version.
    #[serde(default)]
    pub version: String,
}

/// Prometheus naming of a metric.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prometheus {
    /// Family name (text format 0.0.4).
    pub family: String,
    /// Prometheus type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One series.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Series {
    /// Attributes with their OTel types.
    #[serde(default)]
    pub attributes: serde_json::Map<String, Json>,
    /// Start of the cumulative value (RFC 3339).
    pub start_time: String,
    /// Time of the last data point (RFC 3339).
    pub last_update: String,
    /// Sum and gauge value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    /// Histogram and summary observation count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Histogram and summary sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Json>,
    /// Histogram minimum, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Json>,
    /// Histogram maximum, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Json>,
    /// Histogram buckets, cumulative, ending with `le: "+Inf"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
    /// Exponential histogram in its own terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential: Option<Exponential>,
    /// Summary quantiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<Vec<Quantile>>,
}

/// A cumulative histogram bucket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// Upper bound (a number, or `"+Inf"`).
    pub le: Json,
    /// Observations at or below `le`.
    pub count: u64,
}

/// An exponential histogram's buckets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Exponential {
    /// Resolution: bucket `i` covers `(base^i, base^(i+1)]`, `base = 2^(2^-scale)`.
    pub scale: i32,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive bucket counts.
    pub positive: Vec<u64>,
    /// Index of the first negative bucket.
    pub negative_offset: i32,
    /// Negative bucket counts.
    pub negative: Vec<u64>,
}

/// A summary quantile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Quantile {
    /// The quantile (0..=1).
    pub quantile: f64,
    /// Its value.
    pub value: Json,
}

/// A float as JSON: numbers stay numbers, NaN and infinities become strings.
pub fn float(v: f64) -> Json {
    if v.is_nan() {
        Json::String("NaN".into())
    } else if v == f64::INFINITY {
        Json::String("+Inf".into())
    } else if v == f64::NEG_INFINITY {
        Json::String("-Inf".into())
    } else {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(float(f64::NAN), Json::String("NaN".into()));
        assert_eq!(float(f64::INFINITY), Json::String("+Inf".into()));
        assert_eq!(float(f64::NEG_INFINITY), Json::String("-Inf".into()));
        assert_eq!(float(1.5), serde_json::json!(1.5));
    }

    #[test]
    fn unknown_keys_are_ignored_by_consumers() {
        let doc = r#"{"schema_version":1,"generated_at":"x","services":[],"future_key":{"a":1}}"#;
        let parsed: Snapshot = serde_json::from_str(doc).unwrap();
        assert_eq!(parsed.schema_version, 1);
    }
}

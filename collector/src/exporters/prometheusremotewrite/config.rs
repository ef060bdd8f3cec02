//! The `prometheusremotewrite` exporter's configuration: the OpenTelemetry Collector's keys,
//! plus `protobuf_message` from Prometheus' own `remote_write` configuration, validated.
//!
//! Decisions where the Collector's keys meet this design:
//! * `remote_write_queue.queue_size` counts batches, as in the Collector, and is split evenly
//!   over the `num_consumers` shards (at least one batch each): memory stays what was asked.
//! * `wal.directory` puts the shards' queues on disk, one file queue per shard in that
//!   directory (the `file_storage` queue: records with checksums, fsync before the sender is
//!   answered). `wal.buffer_size` and `wal.truncate_frequency` are accepted and checked but
//!   have nothing to tune here: a shard reads its queue one request at a time, and a segment is
//!   deleted as soon as every request in it was delivered.
//! * `retry_on_failure`, when absent, takes the Collector's defaults for this exporter (50ms
//!   first, 200ms longest, give up after 1m); keys left out of a written section take the
//!   general exporter defaults.
//! * `compression` is `snappy`, the only encoding remote-write allows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, Uri};
use serde::Deserialize;

use crate::exporters::common::{
    Alpn, GoDuration, RetryConfig, RetrySettings, TlsConfig, TlsSettings, headers,
};
use crate::translate;

/// Which remote-write message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Remote-write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote-write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    /// The message's name, as written in the configuration.
    pub fn message(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }
}

/// The exporter's keys as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The receiver's URL, e.g. `http://prometheus:9090/api/v1/write` (required).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// HTTP headers sent with every request (e.g. `X-Scope-OrgID` for a Mimir tenant).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Labels added to every series that does not have them already.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Prefix of every metric name (`<namespace>_<name>`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Send metric metadata (type, help, unit) with 1.0 requests; 2.0 always carries it.
    #[serde(default)]
    pub send_metadata: bool,
    /// Unit and type suffixes in metric names (`_seconds`, `_total`), as on `/metrics`.
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    /// Every resource attribute as a label of every series.
    #[serde(default)]
    pub resource_to_telemetry_conversion: Enabled<false>,
    /// A `target_info` series per resource.
    #[serde(default)]
    pub target_info: Enabled<true>,
    /// A `_created` series per counter, histogram and summary.
    #[serde(default)]
    pub export_created_metric: Enabled<false>,
    /// The sending queue.
    #[serde(default)]
    pub remote_write_queue: QueueKeys,
    /// Keep the queue on disk.
    #[serde(default)]
    pub wal: Option<WalKeys>,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// Client TLS for `https` endpoints.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Retries of failed requests.
    #[serde(default = "default_retry")]
    pub retry_on_failure: RetryConfig,
    /// The largest request body, before compression.
    #[serde(default = "default_max_batch")]
    pub max_batch_size_bytes: usize,
    /// `prometheus.WriteRequest` (1.0, default) or `io.prometheus.write.v2.Request` (2.0).
    #[serde(default)]
    pub protobuf_message: Option<String>,
    /// `snappy`, the only compression remote-write allows.
    #[serde(default)]
    pub compression: Option<String>,
    /// The header a batch's tenant is sent in, e.g. `X-Scope-OrgID` (Vigil's key; unset: the
    /// tenant is not sent, and `headers` alone say whose data it is).
    #[serde(default)]
    pub tenant_header: Option<String>,
}

/// `{enabled: bool}` with a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled<const DEFAULT: bool> {
    /// Whether the feature is on.
    #[serde(default = "Enabled::<DEFAULT>::default_value")]
    pub enabled: bool,
}

impl<const DEFAULT: bool> Enabled<DEFAULT> {
    fn default_value() -> bool {
        DEFAULT
    }
}

impl<const DEFAULT: bool> Default for Enabled<DEFAULT> {
    fn default() -> Self {
        Enabled { enabled: DEFAULT }
    }
}

/// `remote_write_queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueKeys {
    /// With `false`, requests are sent while the OTLP sender waits.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Batches held, all shards together (default 10000).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Shards, each sent in order by one consumer (default 5).
    #[serde(default = "default_consumers")]
    pub num_consumers: usize,
}

impl Default for QueueKeys {
    fn default() -> Self {
        QueueKeys {
            enabled: true,
            queue_size: default_queue_size(),
            num_consumers: default_consumers(),
        }
    }
}

/// `wal`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalKeys {
    /// Where the shards' queues live (required; created when missing).
    #[serde(default)]
    pub directory: Option<String>,
    /// Accepted for compatibility (see the module docs); at least 1.
    #[serde(default = "default_buffer_size")]
    pub buffer_size: usize,
    /// Accepted for compatibility (see the module docs).
    #[serde(default = "default_truncate")]
    pub truncate_frequency: GoDuration,
}

fn yes() -> bool {
    true
}
fn default_timeout() -> GoDuration {
    GoDuration::new("5s")
}
fn default_retry() -> RetryConfig {
    RetryConfig {
        initial_interval: GoDuration::new("50ms"),
        max_interval: GoDuration::new("200ms"),
        max_elapsed_time: GoDuration::new("1m"),
        ..RetryConfig::default()
    }
}
fn default_max_batch() -> usize {
    3_000_000
}
fn default_queue_size() -> usize {
    10_000
}
fn default_consumers() -> usize {
    5
}
fn default_buffer_size() -> usize {
    300
}
fn default_truncate() -> GoDuration {
    GoDuration::new("1m")
}

/// Prometheus' label-name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The most shards: each is a queue and a connection.
pub(super) const MAX_SHARDS: usize = 256;
/// The smallest `max_batch_size_bytes`: one large histogram series must fit.
pub(super) const MIN_BATCH_BYTES: usize = 4096;

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where requests are posted.
    pub endpoint: Uri,
    /// Headers of every request.
    pub headers: HeaderMap,
    /// Labels added when a series lacks them, sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Metric name prefix, with its `_`.
    pub namespace: Option<String>,
    /// Metadata in 1.0 requests.
    pub send_metadata: bool,
    /// Unit and type suffixes.
    pub add_metric_suffixes: bool,
    /// Resource attributes as labels.
    pub resource_labels: bool,
    /// `target_info` series.
    pub target_info: bool,
    /// `_created` series.
    pub created_series: bool,
    /// Queue or direct.
    pub queue_enabled: bool,
    /// Batches per shard.
    pub shard_capacity: usize,
    /// Shards.
    pub shards: usize,
    /// The WAL directory.
    pub wal: Option<PathBuf>,
    /// One request's timeout.
    pub timeout: Duration,
    /// TLS for `https`.
    pub tls: TlsSettings,
    /// Retries.
    pub retry: RetrySettings,
    /// Largest uncompressed request.
    pub max_batch_bytes: usize,
    /// The message first tried.
    pub protocol: Protocol,
    /// The header that carries a batch's tenant.
    pub tenant_header: Option<http::HeaderName>,
}

impl Config {
    /// Checks every key. Errors start with the key; the caller prefixes the component's path.
    pub fn validate(&self) -> Result<Settings, String> {
        let text = self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("endpoint: required (the receiver's URL, e.g. \"http://prometheus:9090/api/v1/write\")")?;
        let endpoint: Uri = text
            .parse()
            .map_err(|e| format!("endpoint: {text:?} is not a URL: {e}"))?;
        if !matches!(endpoint.scheme_str(), Some("http" | "https"))
            || endpoint.host().is_none_or(str::is_empty)
        {
            return Err(format!(
                "endpoint: {text:?} is not an http:// or https:// URL with a host"
            ));
        }
        let mut external_labels = Vec::new();
        for (name, value) in &self.external_labels {
            if !is_label_name(name) || name.starts_with("__") {
                return Err(format!(
                    "external_labels: {name:?} is not a label name (letters, digits and _, not starting with a digit or __)"
                ));
            }
            if value.is_empty() {
                return Err(format!(
                    "external_labels.{name}: the value must not be empty"
                ));
            }
            external_labels.push((name.clone(), value.clone()));
        }
        let namespace = match self.namespace.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(ns) => Some(format!("{}_", translate::sanitize_metric_name(ns))),
        };
        let q = self.remote_write_queue;
        if q.num_consumers == 0 || q.num_consumers > MAX_SHARDS {
            return Err(format!(
                "remote_write_queue.num_consumers: {} is out of range (1 to {MAX_SHARDS})",
                q.num_consumers
            ));
        }
        if q.enabled && q.queue_size == 0 {
            return Err("remote_write_queue.queue_size: must be at least 1".to_owned());
        }
        let wal = match &self.wal {
            None => None,
            Some(w) => {
                let dir = w
                    .directory
                    .as_deref()
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .ok_or("wal.directory: required when wal is set")?;
                if w.buffer_size == 0 {
                    return Err("wal.buffer_size: must be at least 1".to_owned());
                }
                w.truncate_frequency.parse("wal.truncate_frequency")?;
                if !q.enabled {
                    return Err(
                        "wal: needs remote_write_queue.enabled: true (the WAL is the queue on disk)"
                            .to_owned(),
                    );
                }
                Some(PathBuf::from(dir))
            }
        };
        let timeout = self.timeout.parse("timeout")?;
        if timeout.is_zero() {
            return Err("timeout: must be more than 0".to_owned());
        }
        if self.max_batch_size_bytes < MIN_BATCH_BYTES {
            return Err(format!(
                "max_batch_size_bytes: {} is below the smallest allowed, {MIN_BATCH_BYTES}",
                self.max_batch_size_bytes
            ));
        }
        let protocol = match self.protobuf_message.as_deref().map(str::trim) {
            None | Some("") | Some("prometheus.WriteRequest") => Protocol::V1,
            Some("io.prometheus.write.v2.Request") => Protocol::V2,
            Some(other) => {
                return Err(format!(
                    "protobuf_message: {other:?} is not a remote-write message (expected \"prometheus.WriteRequest\" or \"io.prometheus.write.v2.Request\")"
                ));
            }
        };
        match self.compression.as_deref().map(str::trim) {
            None | Some("") | Some("snappy") => {}
            Some(other) => {
                return Err(format!(
                    "compression: {other:?} is not supported: remote-write bodies are snappy-compressed"
                ));
            }
        }
        let tenant_header = match self.tenant_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("tenant_header: {name:?} is not an HTTP header name"))?,
            ),
        };
        Ok(Settings {
            tenant_header,
            endpoint,
            headers: headers::validate(&self.headers)?,
            external_labels,
            namespace,
            send_metadata: self.send_metadata,
            add_metric_suffixes: self.add_metric_suffixes,
            resource_labels: self.resource_to_telemetry_conversion.enabled,
            target_info: self.target_info.enabled,
            created_series: self.export_created_metric.enabled,
            queue_enabled: q.enabled,
            shard_capacity: (q.queue_size / q.num_consumers).max(1),
            shards: q.num_consumers,
            wal,
            timeout,
            tls: self.tls.validate(Alpn::Http11)?,
            retry: self.retry_on_failure.validate()?,
            max_batch_bytes: self.max_batch_size_bytes,
            protocol,
        })
    }
}

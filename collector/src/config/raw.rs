//! The configuration file exactly as written: serde structs that mirror the YAML, key for key.
//!
//! These types only check shape. Every struct rejects unknown keys, so a typo such as `grcp`
//! fails loudly with serde_yaml's message naming the key path and line instead of being ignored.
//! Every key has a default, so an empty file (or no file) is a working configuration. Values stay
//! as written (`String`s for addresses and durations) so that [`super::Config`]'s validation can
//! name the key and quote the value it rejects; nothing outside `config` sees these types.
//!
//! The defaults are rendered from the typed constants in `mod.rs`, so the file, the flags' help
//! and `Config::default()` cannot drift apart.

use serde::Deserialize;

use super::{
    DEFAULT_EXPIRE_AFTER, DEFAULT_GRPC_ENDPOINT, DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB,
    DEFAULT_HTTP_ENDPOINT, DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE_MIB, DEFAULT_PROMETHEUS_ENDPOINT,
};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    /// Where telemetry comes in.
    #[serde(default)]
    pub(super) receivers: Receivers,
    /// How long the aggregated store keeps series.
    #[serde(default)]
    pub(super) store: Store,
    /// Where aggregated telemetry goes out.
    #[serde(default)]
    pub(super) exporters: Exporters,
}

/// `receivers`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Receivers {
    /// The OTLP receiver, the only kind there is.
    #[serde(default)]
    pub(super) otlp: Otlp,
}

/// `receivers.otlp`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Otlp {
    /// The transports OTLP is accepted on.
    #[serde(default)]
    pub(super) protocols: Protocols,
}

/// `receivers.otlp.protocols`. A protocol written with no value (`grpc:`) takes every default,
/// as in the OpenTelemetry Collector; `enabled: false` turns it off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Protocols {
    /// OTLP over gRPC.
    #[serde(default)]
    pub(super) grpc: Grpc,
    /// OTLP over HTTP (protobuf or JSON bodies).
    #[serde(default)]
    pub(super) http: Http,
}

/// `receivers.otlp.protocols.grpc`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Grpc {
    /// Whether to listen for OTLP/gRPC at all.
    #[serde(default = "enabled")]
    pub(super) enabled: bool,
    /// `HOST:PORT` to listen on; HOST is an IP address or `localhost`.
    #[serde(default = "default_grpc_endpoint")]
    pub(super) endpoint: String,
    /// Largest accepted request message, in MiB (decompressed).
    #[serde(default = "default_grpc_max_recv_msg_size_mib")]
    pub(super) max_recv_msg_size_mib: u64,
}

/// `receivers.otlp.protocols.http`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Http {
    /// Whether to listen for OTLP/HTTP at all.
    #[serde(default = "enabled")]
    pub(super) enabled: bool,
    /// `HOST:PORT` to listen on; HOST is an IP address or `localhost`.
    #[serde(default = "default_http_endpoint")]
    pub(super) endpoint: String,
    /// Largest accepted request body, in MiB, checked both as received and after gzip
    /// decompression.
    #[serde(default = "default_http_max_request_body_size_mib")]
    pub(super) max_request_body_size_mib: u64,
}

/// `store`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Store {
    /// A series not updated for this long is dropped; a humantime duration such as `5m`.
    #[serde(default = "default_expire_after")]
    pub(super) expire_after: String,
}

/// `exporters`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Exporters {
    /// The admin HTTP server: Prometheus `/metrics`, `/api/v1/snapshot`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub(super) prometheus: Prometheus,
}

/// `exporters.prometheus`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Prometheus {
    /// `HOST:PORT` to serve on; HOST is an IP address or `localhost`.
    #[serde(default = "default_prometheus_endpoint")]
    pub(super) endpoint: String,
}

// === impl Default ===
//
// Written out rather than derived so that a missing section and a missing key get the same
// values from the same functions.

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            enabled: enabled(),
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size_mib: default_grpc_max_recv_msg_size_mib(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            enabled: enabled(),
            endpoint: default_http_endpoint(),
            max_request_body_size_mib: default_http_max_request_body_size_mib(),
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            expire_after: default_expire_after(),
        }
    }
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            endpoint: default_prometheus_endpoint(),
        }
    }
}

// === per-field defaults ===

fn enabled() -> bool {
    true
}

fn default_grpc_endpoint() -> String {
    DEFAULT_GRPC_ENDPOINT.to_string()
}

fn default_grpc_max_recv_msg_size_mib() -> u64 {
    DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB
}

fn default_http_endpoint() -> String {
    DEFAULT_HTTP_ENDPOINT.to_string()
}

fn default_http_max_request_body_size_mib() -> u64 {
    DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE_MIB
}

fn default_expire_after() -> String {
    humantime::format_duration(DEFAULT_EXPIRE_AFTER).to_string()
}

fn default_prometheus_endpoint() -> String {
    DEFAULT_PROMETHEUS_ENDPOINT.to_string()
}

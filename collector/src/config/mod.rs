//! The collector's configuration: one YAML file in the OpenTelemetry Collector's shape plus
//! command-line flags, validated once into typed values.
//!
//! The file has `receivers`, `processors`, `exporters`, `extensions` and `service` (with
//! `service.pipelines.<signal>[/<name>]`), component ids `type[/name]`, and `${env:VAR}` /
//! `${env:VAR:-default}`, so a file written for the OpenTelemetry Collector that uses only
//! components and keys Vigil has runs unchanged. Loading goes: read the file, substitute
//! variables in its text (`env.rs`), parse it into the serde mirror (`raw.rs`; unknown keys are
//! errors naming the key and line), validate it into [`Config`] (`validate.rs`: values, references
//! between components, signals, listener conflicts), then apply flags ([`Cli`]). Components
//! receive only validated settings and never see serde or clap.
//!
//! Without a file the collector runs [`Config::default`]: receiver `otlp` (gRPC and HTTP on
//! loopback) → exporter `prometheus`, one metrics pipeline.
//!
//! This module deliberately does not resolve listen host names (only IP literals and
//! `localhost`, see `addr.rs`), merge several files, or reload at run time.

mod addr;
mod cli;
mod duration;
mod env;
mod error;
pub mod keys;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

pub use addr::AddressError;
pub use cli::{Cli, Command};
pub use duration::{GoDuration, parse_duration};
pub use error::Error;

use crate::exporters::{loadbalancing, otlp, otlphttp, prometheus};
use crate::extensions::file_storage;
use crate::pipeline::Signal;
use crate::processors::{attributes, batch, filter, resource};
pub use crate::receiver::config::{GrpcReceiver, HttpReceiver, OtlpReceiver};

/// Where OTLP/gRPC is received unless configured otherwise (the OTLP default port, loopback only).
pub const DEFAULT_GRPC_ENDPOINT: SocketAddr = loopback(4317);
/// Where OTLP/HTTP is received unless configured otherwise (the OTLP default port, loopback only).
pub const DEFAULT_HTTP_ENDPOINT: SocketAddr = loopback(4318);
/// Where `/metrics`, `/api/v1/snapshot`, `/healthz` and `/readyz` are served unless configured
/// otherwise (the OpenTelemetry Prometheus exporter's default port, loopback only).
pub const DEFAULT_PROMETHEUS_ENDPOINT: SocketAddr = loopback(9464);
/// How long a series lives without updates by default.
pub const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(5 * 60);

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// A component id: `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(String);

impl ComponentId {
    /// Parses `type[/name]`: type is `[a-z][a-z0-9_]*`, name non-empty without whitespace.
    pub fn parse(id: &str) -> Option<ComponentId> {
        let (ty, name) = match id.split_once('/') {
            Some((ty, name)) => (ty, Some(name)),
            None => (id, None),
        };
        let type_ok = ty.starts_with(|c: char| c.is_ascii_lowercase())
            && ty
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let name_ok = name.is_none_or(|n| !n.is_empty() && !n.chars().any(char::is_whitespace));
        (type_ok && name_ok).then(|| ComponentId(id.to_owned()))
    }

    /// The type part.
    pub fn ty(&self) -> &str {
        self.0.split('/').next().unwrap_or("")
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated receiver.
#[derive(Debug, Clone)]
pub enum Receiver {
    /// `otlp`.
    Otlp(OtlpReceiver),
}

/// A validated processor.
#[derive(Debug, Clone)]
pub enum Processor {
    /// `batch`.
    Batch(batch::Settings),
    /// `resource`.
    Resource(resource::Settings),
    /// `attributes`.
    Attributes(attributes::Settings),
    /// `filter`.
    Filter(filter::Settings),
    /// `memory_limiter`.
    MemoryLimiter(crate::processors::memory_limiter::Settings),
}

/// A validated exporter.
#[derive(Debug, Clone)]
pub enum Exporter {
    /// `prometheus`: the aggregated store and its pages (metrics only).
    Prometheus(prometheus::Settings),
    /// `otlp`: OTLP/gRPC forwarding.
    Otlp(otlp::Settings),
    /// `otlphttp`: OTLP/HTTP forwarding.
    OtlpHttp(otlphttp::Settings),
    /// `prometheusremotewrite`: cumulative samples to a time-series database (metrics only).
    PrometheusRemoteWrite(crate::exporters::prometheusremotewrite::Settings),
    /// `loadbalancing`: OTLP/gRPC to a tier of back-ends, by consistent hashing.
    LoadBalancing(loadbalancing::Settings),
}

impl Exporter {
    /// Whether it can take batches of `signal`.
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            Exporter::Prometheus(_) | Exporter::PrometheusRemoteWrite(_) => {
                signal == Signal::Metrics
            }
            Exporter::LoadBalancing(s) => s.supports(signal),
            Exporter::Otlp(_) | Exporter::OtlpHttp(_) => true,
        }
    }

    /// The signals it takes, for messages.
    pub fn supported(&self) -> &'static str {
        match self {
            Exporter::Prometheus(_) | Exporter::PrometheusRemoteWrite(_) => "metrics",
            Exporter::LoadBalancing(s) => s.supported(),
            Exporter::Otlp(_) | Exporter::OtlpHttp(_) => "metrics, traces and logs",
        }
    }
}

/// A validated extension.
#[derive(Debug, Clone)]
pub enum Extension {
    /// `file_storage`.
    FileStorage(file_storage::Settings),
    /// `bearertokenauth` or `basicauth`.
    Auth(std::sync::Arc<crate::extensions::auth::Authenticator>),
    /// `pprof`: profiling routes.
    Pprof(crate::extensions::pprof::Settings),
}

/// One `service.pipelines` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The id as written (`metrics`, `traces/vendor`).
    pub id: String,
    /// Its signal, from the id's type.
    pub signal: Signal,
    /// Receivers feeding it.
    pub receivers: Vec<ComponentId>,
    /// Processors, in order.
    pub processors: Vec<ComponentId>,
    /// Exporters, each given every batch.
    pub exporters: Vec<ComponentId>,
}

/// The validated configuration the collector runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Receivers by id.
    pub receivers: BTreeMap<ComponentId, Receiver>,
    /// Processors by id.
    pub processors: BTreeMap<ComponentId, Processor>,
    /// Exporters by id.
    pub exporters: BTreeMap<ComponentId, Exporter>,
    /// Extensions by id.
    pub extensions: BTreeMap<ComponentId, Extension>,
    /// `service.extensions`: the extensions to start.
    pub service_extensions: Vec<ComponentId>,
    /// `service.pipelines`, sorted by id.
    pub pipelines: Vec<Pipeline>,
    /// `service.telemetry.logs.level`, if set.
    pub log_level: Option<String>,
    /// `service.telemetry`: where the collector's own metrics are served, and its log format.
    pub telemetry: TelemetrySettings,
}

/// The default telemetry address, the OpenTelemetry Collector's.
pub const DEFAULT_TELEMETRY_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8888);

/// `service.telemetry`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// Where the self-telemetry is served; `None` with `metrics.level: none`.
    pub metrics_address: Option<TelemetryAddress>,
    /// `logs.encoding`, if set.
    pub log_format: Option<LogFormat>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            metrics_address: Some(TelemetryAddress::Default),
            log_format: None,
        }
    }
}

/// The telemetry address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryAddress {
    /// Not configured: [`DEFAULT_TELEMETRY_ADDRESS`]. When another process holds it (an
    /// OpenTelemetry Collector on the same host, say), the collector starts without it and
    /// warns, since nobody asked for that port; the figures stay at `/api/v1/self`.
    Default,
    /// Configured: failing to bind it fails the start.
    Explicit(SocketAddr),
}

impl TelemetryAddress {
    /// The address to bind.
    pub fn addr(self) -> SocketAddr {
        match self {
            TelemetryAddress::Default => DEFAULT_TELEMETRY_ADDRESS,
            TelemetryAddress::Explicit(addr) => addr,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text (colours only when stderr is a terminal).
    Text,
}

impl Default for Config {
    /// Zero configuration: `otlp` (gRPC and HTTP on loopback) → `prometheus`, for metrics.
    fn default() -> Self {
        let otlp = ComponentId("otlp".into());
        let prometheus = ComponentId("prometheus".into());
        Config {
            receivers: BTreeMap::from([(otlp.clone(), Receiver::Otlp(OtlpReceiver::defaults()))]),
            processors: BTreeMap::new(),
            exporters: BTreeMap::from([(
                prometheus.clone(),
                Exporter::Prometheus(prometheus::Settings::defaults()),
            )]),
            extensions: BTreeMap::new(),
            service_extensions: Vec::new(),
            pipelines: vec![Pipeline {
                id: "metrics".into(),
                signal: Signal::Metrics,
                receivers: vec![otlp],
                processors: Vec::new(),
                exporters: vec![prometheus],
            }],
            log_level: None,
            telemetry: TelemetrySettings::default(),
        }
    }
}

impl Config {
    /// Parses and validates YAML text, substituting `${env:...}` from the process environment.
    /// `origin` names the text (usually the file) in error messages.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, Error> {
        // A variable whose value is not UTF-8 counts as unset: it could not be YAML text anyway.
        Self::from_yaml_str_with_env(text, origin, &|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_yaml_str`], looking variables up with `env` instead of the process
    /// environment.
    pub fn from_yaml_str_with_env(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let text = env::substitute(text, origin, env)?;
        let raw: raw::Raw = serde_yaml::from_str(&text).map_err(|source| Error::Parse {
            origin: origin.to_owned(),
            source,
        })?;
        validate::validate(raw)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// The configuration to run with: the `--config` file if given, else the defaults, with the
    /// other flags applied on top.
    pub fn resolve(cli: &Cli) -> Result<Config, Error> {
        let mut config = match &cli.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        config.apply_cli(cli)?;
        Ok(config)
    }

    /// Apply CLI overrides on top of the file (or defaults): flags win over the file.
    ///
    /// `--otlp-grpc`/`--otlp-http` set the endpoints of the receiver `otlp` (and serve that
    /// protocol if the file did not); `--listen` and `--expire-after` set the exporter
    /// `prometheus`. A flag whose component is not configured is an error naming both.
    pub fn apply_cli(&mut self, cli: &Cli) -> Result<(), Error> {
        let otlp = ComponentId("otlp".into());
        if cli.otlp_grpc.is_some() || cli.otlp_http.is_some() {
            let flag = if cli.otlp_grpc.is_some() {
                "--otlp-grpc"
            } else {
                "--otlp-http"
            };
            let Some(Receiver::Otlp(receiver)) = self.receivers.get_mut(&otlp) else {
                return Err(Error::Invalid {
                    key: flag.into(),
                    message: "the configuration has no receiver `otlp` to apply it to".into(),
                });
            };
            let defaults = OtlpReceiver::defaults();
            if let Some(value) = &cli.otlp_grpc {
                let endpoint = endpoint("--otlp-grpc", value)?;
                match (&mut receiver.grpc, defaults.grpc) {
                    (Some(grpc), _) => grpc.endpoint = endpoint,
                    (slot, Some(default)) => {
                        *slot = Some(GrpcReceiver {
                            endpoint,
                            ..default
                        })
                    }
                    (_, None) => {}
                }
            }
            if let Some(value) = &cli.otlp_http {
                let endpoint = endpoint("--otlp-http", value)?;
                match (&mut receiver.http, defaults.http) {
                    (Some(http), _) => http.endpoint = endpoint,
                    (slot, Some(default)) => {
                        *slot = Some(HttpReceiver {
                            endpoint,
                            ..default
                        })
                    }
                    (_, None) => {}
                }
            }
        }
        let prometheus = ComponentId("prometheus".into());
        for (flag, value) in [
            ("--listen", &cli.listen),
            ("--expire-after", &cli.expire_after),
        ] {
            let Some(value) = value else { continue };
            let Some(Exporter::Prometheus(settings)) = self.exporters.get_mut(&prometheus) else {
                return Err(Error::Invalid {
                    key: flag.into(),
                    message: "the configuration has no exporter `prometheus` to apply it to".into(),
                });
            };
            if flag == "--listen" {
                settings.endpoint = endpoint(flag, value)?;
            } else {
                settings.metric_expiration = prometheus::expiration(flag, value)?;
            }
        }
        validate::check_listeners(self)
    }

    /// Every address the collector will listen on, with the key path that sets it.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        let mut out = Vec::new();
        for (id, receiver) in &self.receivers {
            let Receiver::Otlp(r) = receiver;
            if let Some(g) = &r.grpc {
                out.push((
                    format!("receivers.{id}.protocols.grpc.endpoint"),
                    g.endpoint,
                ));
            }
            if let Some(h) = &r.http {
                out.push((
                    format!("receivers.{id}.protocols.http.endpoint"),
                    h.endpoint,
                ));
            }
        }
        for (id, exporter) in &self.exporters {
            if let Exporter::Prometheus(p) = exporter {
                out.push((format!("exporters.{id}.endpoint"), p.endpoint));
            }
        }
        if let Some(TelemetryAddress::Explicit(addr)) = self.telemetry.metrics_address {
            out.push(("service.telemetry.metrics.address".to_owned(), addr));
        }
        if let Some((id, s)) = crate::extensions::pprof::enabled(self)
            && let Some(endpoint) = s.endpoint
        {
            out.push((format!("extensions.{id}.endpoint"), endpoint));
        }
        out
    }

    /// Whether some pipeline uses the component (only those are started).
    pub fn is_used(&self, id: &ComponentId) -> bool {
        self.pipelines.iter().any(|p| {
            p.receivers.contains(id) || p.processors.contains(id) || p.exporters.contains(id)
        })
    }
}

// === value parsers shared by the components' validation ===

/// Parses a listen endpoint, naming `key` in the error.
pub fn endpoint(key: &str, value: &str) -> Result<SocketAddr, Error> {
    addr::parse_endpoint(value).map_err(|source| Error::InvalidAddress {
        key: key.to_owned(),
        value: value.to_owned(),
        source,
    })
}

//! The `loadbalancing` exporter's configuration: the OpenTelemetry Collector's keys
//! (`routing_key`, `protocol.otlp`, `resolver.static`, `resolver.dns`), validated.
//!
//! `protocol.otlp` takes the `otlp` exporter's keys, applied to every back-end (each has its own
//! queue, consumers and retries), except `endpoint`, which each back-end gets from the resolver:
//! setting it is an error here, where otelcol ignores it. `sending_queue.enabled: false` is
//! refused too: a batch split over several back-ends could not be all-or-nothing without
//! queues. The Collector's other resolvers (`k8s`, `aws_cloud_map`, `dnssrvnoa`) and its
//! exporter-level `timeout`, `retry_on_failure` and `sending_queue` are refused as unknown keys.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::split::RoutingKey;
use crate::exporters::common::GoDuration;
use crate::exporters::otlp;
use crate::pipeline::Signal;

/// The most back-ends one exporter balances over (a static list longer than this is refused,
/// a DNS answer is cut to it).
pub const MAX_BACKENDS: usize = 1024;

/// The `loadbalancing` exporter's keys as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `service` (default), `resource`, `metric` (metrics) or `traceID` (traces and logs).
    #[serde(default)]
    pub routing_key: Option<String>,
    /// How batches are sent to each back-end.
    #[serde(default)]
    pub protocol: ProtocolConfig,
    /// Where the back-ends are: exactly one of `static` and `dns`.
    #[serde(default)]
    pub resolver: ResolverConfig,
}

/// `protocol`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// The `otlp` exporter's keys, `endpoint` excepted.
    #[serde(default)]
    pub otlp: otlp::Config,
}

/// `resolver`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// A fixed list of back-ends.
    #[serde(default, rename = "static")]
    pub static_: Option<StaticConfig>,
    /// The addresses a host name resolves to, looked up again every `interval`.
    #[serde(default)]
    pub dns: Option<DnsConfig>,
}

/// `resolver.static`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// The back-ends, `host:port` each.
    #[serde(default)]
    pub hostnames: Vec<String>,
}

/// `resolver.dns`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The name to resolve (required).
    #[serde(default)]
    pub hostname: Option<String>,
    /// The back-ends' port (default 4317).
    #[serde(default)]
    pub port: Option<PortValue>,
    /// How often the name is resolved again (default `5s`).
    #[serde(default = "default_interval")]
    pub interval: GoDuration,
    /// How long one resolution may take (default `1s`).
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
}

/// A port written as a number or a string (otelcol's field is a string).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    /// `port: 4317`.
    Number(i64),
    /// `port: "4317"`.
    Text(String),
}

fn default_interval() -> GoDuration {
    GoDuration::new("5s")
}

fn default_timeout() -> GoDuration {
    GoDuration::new("1s")
}

/// Validated `loadbalancing` configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What routes a batch's parts.
    pub routing_key: RoutingKey,
    /// The `otlp` settings every back-end uses, with the endpoint of the first static back-end
    /// or of the DNS name (see [`Backends`] for each back-end's own).
    pub otlp: otlp::Settings,
    /// Where the back-ends are.
    pub backends: Backends,
}

/// Where the back-ends are.
#[derive(Clone, Debug)]
pub enum Backends {
    /// `resolver.static`: each endpoint as written and its `otlp` settings.
    Static(Vec<(String, otlp::Settings)>),
    /// `resolver.dns`.
    Dns(DnsSettings),
}

/// Validated `resolver.dns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSettings {
    /// The name to resolve.
    pub hostname: String,
    /// The back-ends' port.
    pub port: u16,
    /// How often to resolve.
    pub interval: Duration,
    /// How long one resolution may take.
    pub timeout: Duration,
}

impl Config {
    /// Checks every key. Errors start with the key (`resolver.dns.port: ...`); the caller
    /// prefixes the component's path.
    pub fn validate(&self) -> Result<Settings, String> {
        let otlp = &self.protocol.otlp;
        if otlp.endpoint.is_some() {
            return Err(
                "protocol.otlp.endpoint: not supported: each back-end's endpoint comes \
                        from the resolver"
                    .to_owned(),
            );
        }
        if !otlp.sending_queue.enabled {
            return Err(
                "protocol.otlp.sending_queue.enabled: false is not supported: each \
                        back-end needs its own queue"
                    .to_owned(),
            );
        }
        let routing_key = routing_key(self.routing_key.as_deref())?;
        let with_endpoint = |endpoint: &str| {
            let mut config = otlp.clone();
            config.endpoint = Some(endpoint.to_owned());
            config.validate()
        };
        let (template, backends) = match (&self.resolver.static_, &self.resolver.dns) {
            (Some(s), None) => {
                let backends = static_backends(s, &with_endpoint)?;
                let template = match backends.first() {
                    Some((_, settings)) => settings.clone(),
                    None => {
                        return Err("resolver.static.hostnames: at least one back-end \
                                        (host:port) is required"
                            .to_owned());
                    }
                };
                (template, Backends::Static(backends))
            }
            (None, Some(d)) => {
                let dns = dns_settings(d)?;
                let template = with_endpoint(&format!("{}:{}", dns.hostname, dns.port))
                    .map_err(|e| endpoint_error("resolver.dns.hostname", e))?;
                (template, Backends::Dns(dns))
            }
            _ => return Err("resolver: set exactly one of static and dns".to_owned()),
        };
        Ok(Settings {
            routing_key,
            otlp: template,
            backends,
        })
    }
}

impl Settings {
    /// Whether this exporter can route batches of `signal` with its routing key.
    pub fn supports(&self, signal: Signal) -> bool {
        match self.routing_key {
            RoutingKey::Service | RoutingKey::Resource => true,
            RoutingKey::Metric => signal == Signal::Metrics,
            RoutingKey::TraceId => signal != Signal::Metrics,
        }
    }

    /// The signals [`Settings::supports`], for messages.
    pub fn supported(&self) -> &'static str {
        match self.routing_key {
            RoutingKey::Service | RoutingKey::Resource => "metrics, traces and logs",
            RoutingKey::Metric => "metrics with routing_key metric",
            RoutingKey::TraceId => "traces and logs with routing_key traceID",
        }
    }
}

fn routing_key(text: Option<&str>) -> Result<RoutingKey, String> {
    match text.unwrap_or("service") {
        "service" => Ok(RoutingKey::Service),
        "resource" => Ok(RoutingKey::Resource),
        "metric" => Ok(RoutingKey::Metric),
        "traceID" => Ok(RoutingKey::TraceId),
        other => Err(format!(
            "routing_key: {other:?} is not one of service, resource, metric, traceID"
        )),
    }
}

fn static_backends(
    config: &StaticConfig,
    with_endpoint: &dyn Fn(&str) -> Result<otlp::Settings, String>,
) -> Result<Vec<(String, otlp::Settings)>, String> {
    if config.hostnames.len() > MAX_BACKENDS {
        return Err(format!(
            "resolver.static.hostnames: {} back-ends, more than the {MAX_BACKENDS} supported",
            config.hostnames.len()
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(config.hostnames.len());
    for (i, hostname) in config.hostnames.iter().enumerate() {
        let key = format!("resolver.static.hostnames[{i}]");
        let hostname = hostname.trim();
        if !seen.insert(hostname) {
            return Err(format!("{key}: {hostname:?} is listed twice"));
        }
        let settings = with_endpoint(hostname).map_err(|e| endpoint_error(&key, e))?;
        out.push((hostname.to_owned(), settings));
    }
    Ok(out)
}

/// An error of the `otlp` settings for one back-end: about the endpoint, it is `key`'s; about
/// any other key (TLS files, ...), it is the same for every back-end and names that key.
fn endpoint_error(key: &str, error: String) -> String {
    match error.strip_prefix("endpoint: ") {
        Some(why) => format!("{key}: {why}"),
        None => format!("protocol.otlp.{error}"),
    }
}

fn dns_settings(config: &DnsConfig) -> Result<DnsSettings, String> {
    let hostname = config.hostname.as_deref().map(str::trim).unwrap_or("");
    if hostname.is_empty() {
        return Err(
            "resolver.dns.hostname: required (the name whose addresses are the \
                    back-ends)"
                .to_owned(),
        );
    }
    let port = match &config.port {
        None => 4317,
        Some(PortValue::Number(n)) => u16::try_from(*n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("resolver.dns.port: {n} is not a port number (1 to 65535)"))?,
        Some(PortValue::Text(t)) => t
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("resolver.dns.port: {t:?} is not a port number (1 to 65535)"))?,
    };
    let interval = config.interval.parse("resolver.dns.interval")?;
    let timeout = config.timeout.parse("resolver.dns.timeout")?;
    for (key, value) in [("interval", interval), ("timeout", timeout)] {
        if value.is_zero() {
            return Err(format!("resolver.dns.{key}: must be more than 0"));
        }
    }
    Ok(DnsSettings {
        hostname: hostname.to_owned(),
        port,
        interval,
        timeout,
    })
}

//! The `otlp` exporter's configuration: the OpenTelemetry Collector's keys
//! (`configgrpc.ClientConfig` plus `exporterhelper`'s timeout, retry and queue), validated.
//!
//! `endpoint` is `host:port` or an `http://`/`https://` URL. Without a scheme TLS is used unless
//! `tls.insecure: true` (the Collector's rule); `https://` always uses TLS. An `http://`
//! endpoint is plaintext here, where the Collector would still use TLS unless `tls.insecure`
//! is set: a configuration that works with the Collector works the same here, and one that
//! writes `http://` expecting plaintext (as the OTLP SDKs read it) works too. `dns:///host:port`
//! is read as `host:port`.
//!
//! Not supported, and refused as unknown keys: `balancer_name`, `keepalive`, `auth`,
//! `read_buffer_size`, `write_buffer_size`, `wait_for_ready`, `authority`.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, Uri};
use serde::Deserialize;

use crate::exporters::common::{
    Alpn, Compression, GoDuration, QueueConfig, QueueSettings, RetryConfig, RetrySettings,
    TlsConfig, TlsSettings, headers,
};

/// The `otlp` exporter's keys as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to send: `host:port`, `https://host:port` or `http://host:port` (required).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Client TLS; see [`TlsConfig`].
    #[serde(default)]
    pub tls: TlsConfig,
    /// gRPC metadata sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Option<String>,
    /// How long one attempt may take, connecting included (default `5s`).
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// When and how failed sends are retried.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// The exporter's queue.
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

fn default_timeout() -> GoDuration {
    GoDuration::new("5s")
}

impl Default for Config {
    /// Every default, no endpoint (what `otlp:` with no value reads as).
    fn default() -> Config {
        Config {
            endpoint: None,
            tls: TlsConfig::default(),
            headers: BTreeMap::new(),
            compression: None,
            timeout: default_timeout(),
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

/// Validated `otlp` exporter configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub endpoint: Uri,
    /// TLS for the connection; `Some` exactly when `endpoint` is `https`.
    pub tls: Option<TlsSettings>,
    /// Metadata sent with every request.
    pub headers: HeaderMap,
    /// How requests are compressed.
    pub compression: Compression,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// For the caller's retry loop.
    pub retry: RetrySettings,
    /// For the caller's queue.
    pub queue: QueueSettings,
}

impl Config {
    /// Checks every key and reads the TLS files. Errors start with the key
    /// (`endpoint: ...`, `tls.ca_file: ...`); the caller prefixes the component's path.
    pub fn validate(&self) -> Result<Settings, String> {
        let tls = self.tls.validate(Alpn::H2)?;
        let (endpoint, use_tls) = parse_endpoint(self.endpoint.as_deref(), tls.insecure)?;
        let timeout = self.timeout.parse("timeout")?;
        if timeout.is_zero() {
            return Err("timeout: must be more than 0".to_owned());
        }
        Ok(Settings {
            endpoint,
            tls: use_tls.then_some(tls),
            headers: headers::validate(&self.headers)?,
            compression: Compression::parse(self.compression.as_deref())?,
            timeout,
            retry: self.retry_on_failure.validate()?,
            queue: self.sending_queue.validate()?,
        })
    }
}

impl Settings {
    /// The same settings for another endpoint, `host:port` (an address the `loadbalancing`
    /// exporter resolved): the scheme, and so whether TLS is used, stay those of
    /// [`Settings::endpoint`]. The certificate is verified against `host` unless
    /// `tls.server_name_override` says otherwise.
    pub fn with_authority(&self, authority: &str) -> Result<Settings, String> {
        let parsed: http::uri::Authority = authority
            .parse()
            .map_err(|_| format!("endpoint: {authority:?} is not host:port"))?;
        let endpoint = Uri::builder()
            .scheme(self.endpoint.scheme_str().unwrap_or("https"))
            .authority(parsed)
            .path_and_query("/")
            .build()
            .map_err(|e| format!("endpoint: {authority:?} is not host:port: {e}"))?;
        Ok(Settings {
            endpoint,
            ..self.clone()
        })
    }
}

/// The endpoint as a URI, and whether TLS is used.
fn parse_endpoint(text: Option<&str>, insecure: bool) -> Result<(Uri, bool), String> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err("endpoint: required (host:port, e.g. \"collector:4317\")".to_owned());
    }
    let (rest, use_tls) = if let Some(rest) = text.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (rest, false)
    } else if let Some(rest) = text.strip_prefix("dns:///") {
        (rest, !insecure)
    } else if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!(
            "endpoint: {text:?}: the scheme {scheme:?} is not supported (use host:port, http:// or https://)"
        ));
    } else {
        (text, !insecure)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(format!(
            "endpoint: {text:?} has a path; a gRPC endpoint is host:port"
        ));
    }
    if rest.contains('@') {
        return Err(format!(
            "endpoint: {text:?} has user information; use headers or tls for credentials"
        ));
    }
    let authority: http::uri::Authority = rest
        .parse()
        .map_err(|_| format!("endpoint: {text:?} is not host:port"))?;
    if authority.host().is_empty() {
        return Err(format!("endpoint: {text:?} has no host"));
    }
    let uri = Uri::builder()
        .scheme(if use_tls { "https" } else { "http" })
        .authority(authority)
        .path_and_query("/")
        .build()
        .map_err(|e| format!("endpoint: {text:?} is not host:port: {e}"))?;
    Ok((uri, use_tls))
}

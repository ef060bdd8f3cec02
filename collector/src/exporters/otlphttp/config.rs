//! The `otlphttp` exporter's configuration: the OpenTelemetry Collector's keys
//! (`confighttp.ClientConfig` plus `exporterhelper`'s timeout, retry and queue), validated.
//!
//! `endpoint` is a base URL to which `/v1/metrics`, `/v1/traces` and `/v1/logs` are appended;
//! `metrics_endpoint`, `traces_endpoint` and `logs_endpoint` are full URLs that take precedence
//! for their signal. At least one must be set; configuration validation refuses a pipeline that
//! would send this exporter a signal with no URL (the sender still refuses one, permanently, as a
//! last guard). The URL's scheme
//! decides TLS; `tls.insecure` does not apply to HTTP.
//!
//! Not supported: `encoding: json` (the batches are protobuf and stay so), and, refused as
//! unknown keys, `auth`, `proxy_url`, `read_buffer_size`, `write_buffer_size`, the idle
//! connection settings, `cookies` and `profiles_endpoint`.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, Uri};
use serde::Deserialize;

use crate::exporters::common::{
    Alpn, Compression, GoDuration, QueueConfig, QueueSettings, RetryConfig, RetrySettings,
    TlsConfig, TlsSettings, headers,
};
use crate::pipeline::Signal;

/// The `otlphttp` exporter's keys as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL (`https://collector:4318`); the signal's path is appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Full URL for metrics, instead of `endpoint` + `/v1/metrics`.
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    /// Full URL for traces, instead of `endpoint` + `/v1/traces`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Full URL for logs, instead of `endpoint` + `/v1/logs`.
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// Client TLS for `https` URLs; see [`TlsConfig`].
    #[serde(default)]
    pub tls: TlsConfig,
    /// HTTP headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Option<String>,
    /// How long one request may take, connecting and reading the answer included (default `30s`).
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// `proto` (default); `json` is not supported.
    #[serde(default)]
    pub encoding: Option<String>,
    /// When and how failed sends are retried.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// The exporter's queue.
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

fn default_timeout() -> GoDuration {
    GoDuration::new("30s")
}

/// Validated `otlphttp` exporter configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where metrics go, if anywhere.
    pub metrics_url: Option<Uri>,
    /// Where traces go, if anywhere.
    pub traces_url: Option<Uri>,
    /// Where logs go, if anywhere.
    pub logs_url: Option<Uri>,
    /// TLS for `https` URLs.
    pub tls: TlsSettings,
    /// Headers sent with every request.
    pub headers: HeaderMap,
    /// How request bodies are compressed.
    pub compression: Compression,
    /// How long one request may take.
    pub timeout: Duration,
    /// For the caller's retry loop.
    pub retry: RetrySettings,
    /// For the caller's queue.
    pub queue: QueueSettings,
}

impl Settings {
    /// Where `signal` is posted; `None` when neither `endpoint` nor `<signal>_endpoint` is set.
    pub fn url(&self, signal: Signal) -> Option<&Uri> {
        match signal {
            Signal::Metrics => self.metrics_url.as_ref(),
            Signal::Traces => self.traces_url.as_ref(),
            Signal::Logs => self.logs_url.as_ref(),
        }
    }
}

impl Config {
    /// Checks every key and reads the TLS files. Errors start with the key
    /// (`endpoint: ...`, `tls.ca_file: ...`); the caller prefixes the component's path.
    pub fn validate(&self) -> Result<Settings, String> {
        let base = nonempty(self.endpoint.as_deref());
        if let Some(text) = base {
            parse_url("endpoint", text)?;
        }
        let url = |key: &str, own: Option<&str>, signal: Signal| -> Result<Option<Uri>, String> {
            if let Some(text) = nonempty(own) {
                return parse_url(key, text).map(Some);
            }
            let Some(base) = base else { return Ok(None) };
            // Appended to the text, as the Collector does: a base path is kept.
            let joined = format!("{}{}", base.trim_end_matches('/'), signal.http_path());
            parse_url("endpoint", &joined).map(Some)
        };
        let metrics_url = url(
            "metrics_endpoint",
            self.metrics_endpoint.as_deref(),
            Signal::Metrics,
        )?;
        let traces_url = url(
            "traces_endpoint",
            self.traces_endpoint.as_deref(),
            Signal::Traces,
        )?;
        let logs_url = url("logs_endpoint", self.logs_endpoint.as_deref(), Signal::Logs)?;
        if metrics_url.is_none() && traces_url.is_none() && logs_url.is_none() {
            return Err(
                "endpoint: required (a base URL such as \"https://collector:4318\"), unless metrics_endpoint, traces_endpoint or logs_endpoint is set"
                    .to_owned(),
            );
        }
        match nonempty(self.encoding.as_deref()) {
            None | Some("proto") => {}
            Some("json") => {
                return Err(
                    "encoding: \"json\" is not supported: Vigil forwards the batches' protobuf as is (use \"proto\")"
                        .to_owned(),
                );
            }
            Some(other) => {
                return Err(format!(
                    "encoding: {other:?} is not an encoding (expected \"proto\")"
                ));
            }
        }
        let timeout = self.timeout.parse("timeout")?;
        if timeout.is_zero() {
            return Err("timeout: must be more than 0".to_owned());
        }
        Ok(Settings {
            metrics_url,
            traces_url,
            logs_url,
            tls: self.tls.validate(Alpn::Http11)?,
            headers: headers::validate(&self.headers)?,
            compression: Compression::parse(self.compression.as_deref())?,
            timeout,
            retry: self.retry_on_failure.validate()?,
            queue: self.sending_queue.validate()?,
        })
    }
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn parse_url(key: &str, text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("{key}: {text:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{key}: {text:?} is not an http:// or https:// URL"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{key}: {text:?} has no host"));
    }
    Ok(uri)
}

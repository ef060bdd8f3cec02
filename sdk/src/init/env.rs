//! Parsing of the OpenTelemetry environment variables Vigil honours, as pure
//! functions over an environment lookup.
//!
//! Every function takes a [`Lookup`] instead of reading the process
//! environment, so tests pass a table and never mutate the environment
//! (setting variables is `unsafe` in edition 2024, and the workspace forbids
//! `unsafe`). Parsing follows the
//! [environment variable specification](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! and the [OTLP exporter specification](https://opentelemetry.io/docs/specs/otel/protocol/exporter/):
//!
//! - an empty (or blank) value means unset;
//! - booleans are `true` only for a case-insensitive `true`; any other value
//!   but `false` is false with a warning;
//! - numbers that do not parse, or are out of range (zero durations included),
//!   are ignored with a warning, as if unset;
//! - enums are case-insensitive; an unknown value is ignored with a warning.
//!
//! Where the specification leaves the choice open (malformed headers or
//! endpoints) the functions return an [`InitError`] naming the variable: a
//! missing authentication header or a wrong URL would otherwise fail every
//! export silently. Warnings are collected in a `Vec<String>` and logged by
//! the builder once the `tracing` subscriber is installed.

use std::time::Duration;

use super::InitError;

/// Looks an environment variable up: the process environment in production,
/// a table in tests.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads the process environment (non-Unicode values count as unset).
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `OTEL_SDK_DISABLED`.
pub(crate) const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `OTEL_SERVICE_NAME`.
pub(crate) const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub(crate) const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds).
pub(crate) const METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";

/// The generic OTLP variables; each signal can override every one of them.
const GENERIC: SignalVars = SignalVars {
    endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
    headers: "OTEL_EXPORTER_OTLP_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TIMEOUT",
    protocol: "OTEL_EXPORTER_OTLP_PROTOCOL",
    insecure: "OTEL_EXPORTER_OTLP_INSECURE",
    certificate: "OTEL_EXPORTER_OTLP_CERTIFICATE",
    client_certificate: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    client_key: "OTEL_EXPORTER_OTLP_CLIENT_KEY",
};

/// Default export interval (`OTEL_METRIC_EXPORT_INTERVAL`'s default, 60 s).
pub(crate) const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(60);
/// Default OTLP export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default, 10 s).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The variable's value, trimmed; `None` when unset, empty or blank (spec:
/// "an empty value ... the same way as when the variable is unset").
pub(crate) fn var(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A boolean variable per the specification: only a case-insensitive `true`
/// is true; anything else but `false` is false with a warning.
pub(crate) fn bool_var(lookup: Lookup<'_>, name: &str, warnings: &mut Vec<String>) -> Option<bool> {
    let value = var(lookup, name)?;
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else {
        if !value.eq_ignore_ascii_case("false") {
            warnings.push(format!("{name}={value:?} is not a boolean; using false"));
        }
        Some(false)
    }
}

/// `OTEL_SDK_DISABLED`: `true` (any case) disables the SDK.
pub(crate) fn sdk_disabled(lookup: Lookup<'_>, warnings: &mut Vec<String>) -> bool {
    bool_var(lookup, SDK_DISABLED, warnings).unwrap_or(false)
}

/// A positive number of milliseconds; invalid or zero values are ignored
/// with a warning (spec: "treat them as not set").
fn millis_var(lookup: Lookup<'_>, name: &str, warnings: &mut Vec<String>) -> Option<Duration> {
    let value = var(lookup, name)?;
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            warnings.push(format!(
                "{name}={value:?} is not a positive number of milliseconds; ignoring it"
            ));
            None
        }
    }
}

/// The metric export interval: code, then `OTEL_METRIC_EXPORT_INTERVAL`,
/// then 60 s. A zero interval set in code is ignored, as the SDK does.
pub(crate) fn export_interval(
    lookup: Lookup<'_>,
    code: Option<Duration>,
    warnings: &mut Vec<String>,
) -> Duration {
    code.filter(|d| !d.is_zero())
        .or_else(|| millis_var(lookup, METRIC_EXPORT_INTERVAL, warnings))
        .unwrap_or(DEFAULT_EXPORT_INTERVAL)
}

/// A telemetry signal Vigil exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Metrics, `/v1/metrics`.
    Metrics,
    /// Traces, `/v1/traces`.
    Traces,
}

/// The names of one signal's OTLP variables.
#[derive(Debug)]
struct SignalVars {
    endpoint: &'static str,
    headers: &'static str,
    timeout: &'static str,
    protocol: &'static str,
    insecure: &'static str,
    certificate: &'static str,
    client_certificate: &'static str,
    client_key: &'static str,
}

impl Signal {
    /// The signal's name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }

    /// The path OTLP/HTTP appends to a base endpoint.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Traces => "v1/traces",
        }
    }

    fn vars(self) -> SignalVars {
        match self {
            Signal::Metrics => SignalVars {
                endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                insecure: "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
                certificate: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
                client_certificate: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
                client_key: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
            },
            Signal::Traces => SignalVars {
                endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                insecure: "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
                certificate: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                client_certificate: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                client_key: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            },
        }
    }
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`), the default, on port 4317.
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), on port 4318.
    HttpProtobuf,
}

impl Protocol {
    /// The default endpoint of this transport.
    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// The protocol of one signal: code, then the per-signal variable, then
/// `OTEL_EXPORTER_OTLP_PROTOCOL`, then gRPC (the issue asks for gRPC by
/// default; the specification prefers `http/protobuf` but allows SDKs a
/// different default).
///
/// `http/json` is not built in (enabling the `http-json` feature would make
/// the crates default to JSON everywhere); it falls back to `http/protobuf`
/// with a warning, since OTLP/HTTP receivers must accept both encodings on
/// the same URL. Unknown values are ignored with a warning (spec, enums).
pub(crate) fn protocol(
    signal: Signal,
    lookup: Lookup<'_>,
    code: Option<Protocol>,
    warnings: &mut Vec<String>,
) -> Protocol {
    if let Some(protocol) = code {
        return protocol;
    }
    for name in [signal.vars().protocol, GENERIC.protocol] {
        let Some(value) = var(lookup, name) else {
            continue;
        };
        match value.to_ascii_lowercase().as_str() {
            "grpc" => return Protocol::Grpc,
            "http/protobuf" => return Protocol::HttpProtobuf,
            "http/json" => {
                warnings.push(format!(
                    "{name}=http/json is not supported by Vigil; using http/protobuf"
                ));
                return Protocol::HttpProtobuf;
            }
            _ => warnings.push(format!(
                "{name}={value:?} is not one of grpc, http/protobuf, http/json; ignoring it"
            )),
        }
    }
    Protocol::default()
}

/// The export timeout of one signal: per-signal variable, then
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, then 10 s. Values are milliseconds; invalid
/// or zero values are ignored with a warning and the next source is used.
pub(crate) fn timeout(signal: Signal, lookup: Lookup<'_>, warnings: &mut Vec<String>) -> Duration {
    millis_var(lookup, signal.vars().timeout, warnings)
        .or_else(|| millis_var(lookup, GENERIC.timeout, warnings))
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The headers of one signal: the per-signal variable when set, otherwise
/// `OTEL_EXPORTER_OTLP_HEADERS`; the per-signal variable replaces the generic
/// one rather than merging with it (spec: "each configuration option MUST be
/// overridable by a signal specific option"; `opentelemetry-otlp` does the
/// same).
///
/// Format `k1=v1,k2=v2` with percent-encoded values. Malformed lists, header
/// names that are not HTTP tokens, empty values and values that decode to
/// anything but visible ASCII are errors naming the variable and the header
/// (never the value: headers usually carry credentials).
pub(crate) fn headers(
    signal: Signal,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, String)>, InitError> {
    let vars = signal.vars();
    let (name, raw) = match var(lookup, vars.headers) {
        Some(raw) => (vars.headers, raw),
        None => match var(lookup, GENERIC.headers) {
            Some(raw) => (GENERIC.headers, raw),
            None => return Ok(Vec::new()),
        },
    };
    let pairs =
        parse_key_values(&raw).map_err(|reason| InitError::invalid_variable(name, reason))?;
    for (key, value) in &pairs {
        if !key.bytes().all(is_token_byte) {
            return Err(InitError::invalid_variable(
                name,
                format!("header name {key:?} is not a valid HTTP header name"),
            ));
        }
        if value.is_empty() {
            return Err(InitError::invalid_variable(
                name,
                format!("header {key:?} has an empty value"),
            ));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(InitError::invalid_variable(
                name,
                format!("header {key:?} has a value that is not visible ASCII once decoded"),
            ));
        }
    }
    Ok(pairs)
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `key1=value1,key2=value2` (W3C Baggage without properties), the
/// format of `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
///
/// Keys and values are trimmed; values are percent-decoded and may contain
/// `=`. Empty list members (`a=1,,b=2`, a trailing comma) are skipped. A
/// member without `=`, an empty key or a bad percent-encoding is an error.
pub(crate) fn parse_key_values(raw: &str) -> Result<Vec<(String, String)>, String> {
    // Messages name entries by position and keys, never values (headers
    // carry credentials).
    let mut pairs = Vec::new();
    let members = raw.split(',').map(str::trim).filter(|m| !m.is_empty());
    for (index, member) in members.enumerate() {
        let entry = index + 1;
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!("entry {entry} is not key=value"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {entry} has an empty key"));
        }
        let value = percent_decode(value.trim()).map_err(|e| format!("value of {key:?}: {e}"))?;
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

/// Decodes `%XX` escapes; the result must be UTF-8. `+` stays `+`.
pub(crate) fn percent_decode(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => out.push(b),
                None => return Err(format!("invalid percent-encoding at byte {i}")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-decoded value is not UTF-8".to_string())
}

mod endpoint;

pub(crate) use endpoint::{Endpoint, TlsOption, endpoint, tls_file};

#[cfg(test)]
mod tests;

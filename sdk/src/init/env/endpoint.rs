//! The endpoint of each signal, read as the [OTLP exporter specification](https://opentelemetry.io/docs/specs/otel/protocol/exporter/#configuration-options)
//! says, and the names of its TLS files.
//!
//! It is its own module because endpoints are where users most often write
//! something the specification reads differently from what they meant
//! (`127.0.0.1:4317` means TLS for gRPC and nothing for OTLP/HTTP), so every
//! result remembers what was written and where, to quote it back in errors,
//! start-up warnings and export warnings.

use super::{GENERIC, InitError, Lookup, Protocol, Signal, SignalVars, bool_var, var};

/// A resolved endpoint and where it came from, to quote it back in errors
/// and warnings as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL exported to.
    pub(crate) url: String,
    /// The variable it came from, `with_endpoint`, or `default`.
    pub(crate) setting: &'static str,
    /// The value as written.
    pub(crate) written: String,
    /// TLS was chosen only because a gRPC endpoint had no scheme and no
    /// `INSECURE` variable was set: worth a hint when exports fail.
    pub(crate) implicit_tls: bool,
}

impl Endpoint {
    /// Whether the connection uses TLS.
    pub(crate) fn is_https(&self) -> bool {
        self.url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    /// `NAME=value` or `with_endpoint("value")`; `None` for the default.
    pub(crate) fn as_written(&self) -> Option<String> {
        (self.setting != "default").then(|| {
            crate::init::error::Written {
                setting: self.setting,
                value: &self.written,
            }
            .to_string()
        })
    }
}

/// The URL one signal is exported to.
///
/// Precedence: the endpoint set in code (a base URL, like
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), the per-signal variable, the generic
/// variable, the transport's default. The specification does not say whether
/// code or environment wins; Vigil follows `opentelemetry-otlp` (code).
///
/// - OTLP/HTTP: a base URL (code, generic variable, default) gets
///   `/v1/metrics` or `/v1/traces` appended to its path; a per-signal URL is
///   used as-is, except that an empty path becomes `/` (spec, "Endpoint URLs
///   for OTLP/HTTP"). A URL without an `http`/`https` scheme is an error
///   ("OTLP/HTTP always uses the scheme provided for the endpoint").
/// - OTLP/gRPC: used as-is. Without a scheme, the "Insecure" option decides:
///   `OTEL_EXPORTER_OTLP[_<SIGNAL>]_INSECURE=true` means `http://`, `false`
///   or unset (its default) means `https://`. When unset, a warning says so,
///   since a plaintext local collector is the usual intent.
///
/// Errors quote the value as written and say how to fix it.
pub(crate) fn endpoint(
    signal: Signal,
    protocol: Protocol,
    lookup: Lookup<'_>,
    code: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Endpoint, InitError> {
    let vars = signal.vars();
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let (raw, setting, per_signal) = if let Some(code) = code {
        (code.to_string(), "with_endpoint", false)
    } else if let Some(value) = var(lookup, vars.endpoint) {
        (value, vars.endpoint, true)
    } else if let Some(value) = var(lookup, GENERIC.endpoint) {
        (value, GENERIC.endpoint, false)
    } else {
        (protocol.default_endpoint().to_string(), "default", false)
    };
    let written = crate::init::error::Written {
        setting,
        value: &raw,
    }
    .to_string();

    let mut implicit_tls = false;
    let url = match (protocol, split_scheme(&raw)) {
        (Protocol::Grpc, None) => {
            let insecure = bool_var(lookup, vars.insecure, warnings)
                .map(|v| (vars.insecure, v))
                .or_else(|| {
                    bool_var(lookup, GENERIC.insecure, warnings).map(|v| (GENERIC.insecure, v))
                });
            match insecure {
                Some((_, true)) => format!("http://{raw}"),
                Some((_, false)) => format!("https://{raw}"),
                None => {
                    implicit_tls = true;
                    warnings.push(format!(
                        "{written} has no scheme and {} is not set, so Vigil connects with TLS \
                         to https://{raw}, as the OTLP exporter specification says; write \
                         http://{raw} for a plaintext collector, or https://{raw} to silence \
                         this warning",
                        GENERIC.insecure
                    ));
                    format!("https://{raw}")
                }
            }
        }
        (Protocol::HttpProtobuf, None) => {
            return Err(InitError::invalid_value(
                setting,
                &raw,
                "has no scheme",
                format!(
                    "OTLP/HTTP needs one: write http://{raw} for plaintext or https://{raw} for TLS"
                ),
            ));
        }
        (_, Some(_)) => raw.clone(),
    };

    let Some((scheme, rest)) = split_scheme(&url) else {
        return Err(InitError::invalid_value(
            setting,
            &raw,
            "has no scheme",
            format!("write http://{raw} for plaintext or https://{raw} for TLS"),
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(InitError::invalid_value(
            setting,
            &raw,
            "has no valid host",
            "write it as http://host:port or https://host:port",
        ));
    }
    if scheme != "http" && scheme != "https" {
        return Err(InitError::invalid_value(
            setting,
            &raw,
            format!("has scheme {scheme:?}, which OTLP does not use"),
            format!("write http://{rest} for plaintext or https://{rest} for TLS"),
        ));
    }

    let url = match protocol {
        Protocol::Grpc => url,
        Protocol::HttpProtobuf if per_signal && path.starts_with('/') => url,
        Protocol::HttpProtobuf if per_signal => format!("{scheme}://{authority}/{path}"),
        Protocol::HttpProtobuf => {
            // Query strings and fragments of a base URL are dropped: the spec
            // only requires scheme, host, port and path to be honoured.
            let base_path = path.split(['?', '#']).next().unwrap_or_default();
            format!(
                "{scheme}://{authority}{}/{}",
                base_path.trim_end_matches('/'),
                signal.http_path()
            )
        }
    };
    Ok(Endpoint {
        url,
        setting,
        written: raw,
        implicit_tls,
    })
}

/// A TLS file option of the OTLP exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsOption {
    /// "Certificate File": the trusted CA certificate(s).
    Certificate,
    /// "Client certificate file": the client's certificate chain (mTLS).
    ClientCertificate,
    /// "Client key file": the client's private key (mTLS).
    ClientKey,
}

/// A TLS file path: the per-signal variable, then the generic one (spec:
/// "each configuration option MUST be overridable by a signal specific
/// option"); the variable's name and the path.
pub(crate) fn tls_file(
    signal: Signal,
    option: TlsOption,
    lookup: Lookup<'_>,
) -> Option<(&'static str, String)> {
    let pick = |vars: &SignalVars| match option {
        TlsOption::Certificate => vars.certificate,
        TlsOption::ClientCertificate => vars.client_certificate,
        TlsOption::ClientKey => vars.client_key,
    };
    [pick(&signal.vars()), pick(&GENERIC)]
        .into_iter()
        .find_map(|name| var(lookup, name).map(|path| (name, path)))
}

/// `scheme` and the rest of `url` when it starts with `scheme://` (a `://`
/// after a path, query or fragment delimiter is not a scheme separator).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

//! The `prometheus` exporter: metrics go into an aggregated store, served on `endpoint` as
//! `/metrics` (Prometheus text or OpenMetrics), `/api/v1/snapshot` (JSON), `/healthz` and
//! `/readyz`.
//!
//! Unlike the forwarding exporters it has no queue: ingesting into the store is quick and in
//! memory, so a batch is applied while the receiver waits, and points the store refuses are
//! reported to the sender in `partial_success`. The store keeps the state (delta→cumulative,
//! expiry after `metric_expiration`); `crate::export` renders it; `crate::server` serves it.

#[cfg(test)]
mod tenant_tests;
pub mod tenants;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{self, DEFAULT_EXPIRE_AFTER, DEFAULT_PROMETHEUS_ENDPOINT, Error};

/// Upper bound on `metric_expiration`: keeps `Instant + expiration` far from overflow.
pub const MAX_EXPIRATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `exporters.prometheus`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `HOST:PORT` to serve on; HOST is an IP address or `localhost`.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// A series not updated for this long is dropped (Go duration, e.g. `5m`).
    #[serde(default = "default_expiration")]
    pub metric_expiration: String,
    /// Points stamped further than this in the future are refused (Vigil's key; default `10m`).
    #[serde(default)]
    pub max_future_skew: Option<String>,
    /// Serve the pages over TLS.
    #[serde(default)]
    pub tls: Option<crate::server::tls::ServerTlsConfig>,
    /// Require credentials for the pages (not for `/healthz`, `/readyz`).
    #[serde(default)]
    pub auth: Option<crate::extensions::auth::AuthRef>,
    /// Series one metric of one resource may hold (Vigil's key; default 10000).
    #[serde(default)]
    pub max_series_per_metric: Option<usize>,
    /// Series the store may hold (Vigil's key; default 1000000).
    #[serde(default)]
    pub max_series: Option<usize>,
    /// Tenants with a store of their own, besides the implicit one (Vigil's key; default 100).
    #[serde(default)]
    pub max_tenants: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: default_endpoint(),
            metric_expiration: default_expiration(),
            max_future_skew: None,
            tls: None,
            auth: None,
            max_series_per_metric: None,
            max_series: None,
            max_tenants: None,
        }
    }
}

fn default_endpoint() -> String {
    DEFAULT_PROMETHEUS_ENDPOINT.to_string()
}

fn default_expiration() -> String {
    format!("{}s", DEFAULT_EXPIRE_AFTER.as_secs())
}

/// A validated `prometheus` exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address to serve on.
    pub endpoint: SocketAddr,
    /// Series expiry. Greater than zero and at most [`MAX_EXPIRATION`].
    pub metric_expiration: Duration,
    /// Points stamped further than this in the future are refused.
    pub max_future_skew: Duration,
    /// TLS for the pages.
    pub tls: Option<crate::server::tls::ServerTlsSettings>,
    /// The authenticator extension's id, when the pages require credentials.
    pub auth: Option<String>,
    /// Series per metric of one resource.
    pub max_series_per_metric: usize,
    /// Series in the store.
    pub max_series: usize,
    /// Tenants with a store of their own (see [`tenants`]).
    pub max_tenants: usize,
}

impl Settings {
    /// The zero-config exporter.
    pub fn defaults() -> Settings {
        Settings {
            endpoint: DEFAULT_PROMETHEUS_ENDPOINT,
            metric_expiration: DEFAULT_EXPIRE_AFTER,
            max_future_skew: crate::store::DEFAULT_MAX_FUTURE_SKEW,
            tls: None,
            auth: None,
            max_series_per_metric: crate::store::DEFAULT_MAX_SERIES_PER_METRIC,
            max_series: crate::store::DEFAULT_MAX_SERIES,
            max_tenants: tenants::DEFAULT_MAX_TENANTS,
        }
    }
}

impl Config {
    /// Validate; `path` is the component's key path (`exporters.prometheus`).
    pub fn validate(&self, path: &str) -> Result<Settings, Error> {
        Ok(Settings {
            endpoint: config::endpoint(&format!("{path}.endpoint"), &self.endpoint)?,
            metric_expiration: expiration(
                &format!("{path}.metric_expiration"),
                &self.metric_expiration,
            )?,
            max_future_skew: match &self.max_future_skew {
                None => crate::store::DEFAULT_MAX_FUTURE_SKEW,
                Some(v) => expiration(&format!("{path}.max_future_skew"), v)?,
            },
            tls: match &self.tls {
                None => None,
                Some(tls) => Some(tls.validate().map_err(|message| {
                    let (sub, rest) = message.split_once(": ").unwrap_or(("tls", &message));
                    Error::Invalid {
                        key: format!("{path}.{sub}"),
                        message: rest.to_owned(),
                    }
                })?),
            },
            auth: self.auth.as_ref().map(|a| a.authenticator.clone()),
            max_series_per_metric: limit(
                &format!("{path}.max_series_per_metric"),
                self.max_series_per_metric,
                crate::store::DEFAULT_MAX_SERIES_PER_METRIC,
            )?,
            max_series: limit(
                &format!("{path}.max_series"),
                self.max_series,
                crate::store::DEFAULT_MAX_SERIES,
            )?,
            max_tenants: limit(
                &format!("{path}.max_tenants"),
                self.max_tenants,
                tenants::DEFAULT_MAX_TENANTS,
            )?,
        })
    }
}

/// A series limit: at least 1.
fn limit(key: &str, value: Option<usize>, default: usize) -> Result<usize, Error> {
    match value {
        None => Ok(default),
        Some(0) => Err(Error::Invalid {
            key: key.to_owned(),
            message: "must be at least 1".to_owned(),
        }),
        Some(n) => Ok(n),
    }
}

/// Parses a series expiry: a Go duration, or humantime's spaced form (`1h 30m`) which earlier
/// Vigil versions documented for `--expire-after`.
pub fn expiration(key: &str, value: &str) -> Result<Duration, Error> {
    let parsed = config::parse_duration(value)
        .or_else(|go| humantime::parse_duration(value).map_err(|_| go))
        .map_err(|message| Error::Invalid {
            key: key.to_owned(),
            message,
        })?;
    if parsed.is_zero() {
        return Err(Error::Invalid {
            key: key.to_owned(),
            message: format!("{value:?} must be greater than zero"),
        });
    }
    if parsed > MAX_EXPIRATION {
        return Err(Error::Invalid {
            key: key.to_owned(),
            message: format!("{value:?} is longer than the maximum of 365 days"),
        });
    }
    Ok(parsed)
}

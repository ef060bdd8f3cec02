//! The `pprof` extension's keys as written, and their validation into [`Settings`].
//!
//! Vigil takes the OpenTelemetry Collector's `endpoint` and adds `auth` (the receivers' shape),
//! because a profile names every function the process runs and costs CPU while it is taken.
//! otelcol's other keys tune or drive the Go runtime's profiler and have no meaning for a Rust
//! process; they are named here only to be refused with the reason, never silently ignored.

use std::net::SocketAddr;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::extensions::auth::AuthRef;

/// `extensions.pprof[/name]`, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A listener of the extension's own (`HOST:PORT`; `localhost` is 127.0.0.1). When absent,
    /// the routes are served on every `prometheus` exporter's address, behind its `auth`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Credentials the own listener requires: `{authenticator: <extension id>}`. Only with
    /// `endpoint` (without it, the exporter's `auth` applies).
    #[serde(default)]
    pub auth: Option<AuthRef>,
    /// Not supported (Go's `runtime.SetBlockProfileRate`); present only to say so by name.
    #[serde(default)]
    pub block_profile_fraction: Option<IgnoredAny>,
    /// Not supported (Go's `runtime.SetMutexProfileFraction`); present only to say so by name.
    #[serde(default)]
    pub mutex_profile_fraction: Option<IgnoredAny>,
    /// Not supported (a whole-life CPU profile written at exit); present only to say so by name.
    #[serde(default)]
    pub save_to_file: Option<IgnoredAny>,
}

/// A validated `pprof` extension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Its own listener, or `None` to be served on the `prometheus` exporters' addresses.
    pub endpoint: Option<SocketAddr>,
    /// The authenticator extension's id, for the own listener.
    pub auth: Option<String>,
}

/// Why the Go runtime's knobs have no counterpart here.
const GO_RUNTIME: &str = "it tunes the Go runtime's profiler, and Vigil is not a Go program \
                          (it samples CPU only: /debug/pprof/profile)";

impl Config {
    /// The settings of the extension at key path `path` (for messages). Errors start with the
    /// key below the extension (`endpoint: ...`).
    pub fn validate(&self, path: &str) -> Result<Settings, crate::config::Error> {
        let invalid = |key: &str, message: String| crate::config::Error::Invalid {
            key: format!("{path}.{key}"),
            message,
        };
        for (key, present) in [
            (
                "block_profile_fraction",
                self.block_profile_fraction.is_some(),
            ),
            (
                "mutex_profile_fraction",
                self.mutex_profile_fraction.is_some(),
            ),
        ] {
            if present {
                return Err(invalid(key, format!("not supported: {GO_RUNTIME}")));
            }
        }
        if self.save_to_file.is_some() {
            return Err(invalid(
                "save_to_file",
                "not supported: a whole-life profile would hold the process's one CPU profiler \
                 until exit, so /debug/pprof/profile could never answer; fetch a profile over \
                 HTTP instead (curl -o cpu.pb.gz .../debug/pprof/profile?seconds=30)"
                    .into(),
            ));
        }
        let endpoint = match self.endpoint.as_deref() {
            Some(text) => Some(crate::config::endpoint(&format!("{path}.endpoint"), text)?),
            None => None,
        };
        if self.auth.is_some() && endpoint.is_none() {
            return Err(invalid(
                "auth",
                "only with endpoint: without one the routes are served on the prometheus \
                 exporters' addresses, behind their auth"
                    .into(),
            ));
        }
        Ok(Settings {
            endpoint,
            auth: self.auth.as_ref().map(|a| a.authenticator.clone()),
        })
    }
}

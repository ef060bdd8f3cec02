//! The `pprof` extension: CPU profiles and heap statistics of the collector itself, off unless
//! the configuration enables it, and behind the same credentials as the pages it sits beside.
//!
//! Enabled as in the OpenTelemetry Collector, by listing it under `extensions:` and in
//! `service.extensions`. Without `endpoint` its routes ([`routes`]) are served on every
//! `prometheus` exporter's address (default `127.0.0.1:9464`) behind that exporter's `auth`;
//! with `endpoint` they get a listener of their own, with the receivers' connection limits and
//! an optional `auth: {authenticator: ID}`. Not enabled, `/debug/pprof/*` is a 404.
//!
//! A process has one CPU profiler, so at most one `pprof` extension may be started, and one
//! profile runs at a time ([`cpu`]). A profile sends nothing until it is done, so its length is
//! bounded by the listener's idle timeout: 50 s on the exporters' addresses (60 s idle), 300 s
//! on the extension's own listener, whose idle timeout is raised to fit. Go's block and mutex
//! profiles and `save_to_file` are refused by name (see [`config`]).

pub mod allocator;
pub mod config;
pub mod cpu;
pub mod proto;
pub mod routes;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Settings};
pub use routes::{DEFAULT_SECONDS, Limits, MAX_SECONDS, router};

use crate::config::{ComponentId, Exporter, Extension};
use crate::extensions::auth::Authenticator;
use crate::server::conn;

/// Seconds a profile leaves to spare before a listener's idle timeout.
const IDLE_MARGIN: Duration = Duration::from_secs(10);

/// The routes' limits on a `prometheus` exporter's address (its connections' idle timeout is
/// [`conn::Limits::HTTP`]'s).
pub fn admin_limits() -> Limits {
    Limits {
        max_seconds: conn::Limits::HTTP
            .idle_timeout
            .saturating_sub(IDLE_MARGIN)
            .as_secs()
            .clamp(1, MAX_SECONDS),
    }
}

/// The own listener's connection limits: the HTTP defaults, with an idle timeout that a
/// [`MAX_SECONDS`] profile fits in.
pub fn listener_limits() -> conn::Limits {
    conn::Limits {
        idle_timeout: Duration::from_secs(MAX_SECONDS) + IDLE_MARGIN,
        ..conn::Limits::HTTP
    }
}

/// The started `pprof` extension, if any (validation allows at most one).
pub fn enabled(config: &crate::config::Config) -> Option<(&ComponentId, &Settings)> {
    config
        .service_extensions
        .iter()
        .find_map(|id| match config.extensions.get(id) {
            Some(Extension::Pprof(settings)) => Some((id, settings)),
            _ => None,
        })
}

/// At most one `pprof` extension is started: the process has one CPU profiler.
pub fn check(config: &crate::config::Config) -> Result<(), crate::config::Error> {
    let started: Vec<&ComponentId> = config
        .service_extensions
        .iter()
        .filter(|id| matches!(config.extensions.get(id), Some(Extension::Pprof(_))))
        .collect();
    match started.as_slice() {
        [_, second, ..] => Err(crate::config::Error::Invalid {
            key: "service.extensions".into(),
            message: format!(
                "{:?} and {:?} are both pprof extensions; start one (a process has one \
                 CPU profiler)",
                started[0].as_str(),
                second.as_str()
            ),
        }),
        _ => Ok(()),
    }
}

/// The started extension, its listener bound (when it has an endpoint).
pub struct Bound {
    id: ComponentId,
    listener: Option<TcpListener>,
    auth: Option<Arc<Authenticator>>,
}

/// Binds the started extension's listener, if it has one; `None` when no `pprof` is started.
pub async fn bind(config: &crate::config::Config) -> Result<Option<Bound>, crate::receiver::Error> {
    let Some((id, settings)) = enabled(config) else {
        return Ok(None);
    };
    let auth = settings
        .auth
        .as_deref()
        .and_then(ComponentId::parse)
        .and_then(|a| match config.extensions.get(&a) {
            Some(Extension::Auth(auth)) => Some(auth.clone()),
            _ => None,
        });
    let listener = match settings.endpoint {
        Some(addr) => {
            if auth.is_none() && !addr.ip().is_loopback() {
                tracing::warn!(extension = %id, %addr, "profiling is served beyond this machine without auth");
            }
            Some(crate::receiver::bind(addr).await?)
        }
        None => {
            tracing::info!(extension = %id, "profiling at /debug/pprof/ on the prometheus exporters' addresses");
            for (eid, e) in &config.exporters {
                if let Exporter::Prometheus(p) = e
                    && p.auth.is_none()
                    && !p.endpoint.ip().is_loopback()
                {
                    tracing::warn!(extension = %id, exporter = %eid, addr = %p.endpoint, "profiling is served beyond this machine without auth");
                }
            }
            None
        }
    };
    Ok(Some(Bound {
        id: id.clone(),
        listener,
        auth,
    }))
}

impl Bound {
    /// The limits of the routes on the `prometheus` exporters' addresses, when they go there.
    pub fn on_admin(&self) -> Option<Limits> {
        self.listener.is_none().then(admin_limits)
    }

    /// The own listener's address (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves the own listener until `stop`; `None` when the routes go on the exporters'
    /// addresses instead.
    pub fn serve(self, stop: CancellationToken) -> Option<JoinHandle<()>> {
        let listener = self.listener?;
        let addr = listener.local_addr().ok();
        let routes = router::<()>(Limits {
            max_seconds: MAX_SECONDS,
        })
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                "not found: try /debug/pprof/\n",
            )
        });
        let routes = match self.auth {
            Some(auth) => crate::extensions::auth::require(routes, auth),
            None => routes,
        };
        let id = self.id;
        tracing::info!(extension = %id, "profiling at http://{}/debug/pprof/", addr.map(|a| a.to_string()).unwrap_or_default());
        Some(tokio::spawn(async move {
            if let Err(e) = conn::serve(
                listener,
                routes,
                listener_limits(),
                None,
                stop.cancelled_owned(),
            )
            .await
            {
                tracing::error!(extension = %id, error = %e, "pprof server failed");
            }
        }))
    }
}

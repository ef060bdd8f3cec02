//! Vigil's aggregated metrics store and its renderers, as a library: the collector serves it
//! over HTTP, and the SDK's embedded mode (`vigil::serve`) serves a service's own metrics
//! from it in-process, so there is exactly one way OTLP metrics become a Prometheus page.
//!
//! - [`store`]: series keyed by resource, scope, metric and attributes; cumulative and delta
//!   temporality, resets, limits and refusals, expiry; OTLP requests in ([`store::otlp`]).
//! - [`exposition`]: the Prometheus side of the store, which the store asks about what is new:
//!   family names and their reservation, label text, `job`/`instance` identities, and what a
//!   page cannot show. The store itself knows no Prometheus ([`store::Exposition`]).
//! - [`export`]: Prometheus text 0.0.4, OpenMetrics 1.0, Vigil's JSON snapshot and OTLP/JSON,
//!   each rendered from a [`store::Snapshot`].
//! - [`translate`]: the OpenTelemetry-to-Prometheus naming rules (metric names, units, label
//!   sanitizing, `job`/`instance`, `target_info`).
//!
//! - [`dashboard`]: the live dashboard's documents (page, scripts, style), for a server to
//!   serve next to the snapshot.
//!
//! It has no receiver or server code: nothing here opens a socket.

pub mod dashboard;
pub mod export;
pub mod exposition;
mod prefetch;
pub mod store;
pub mod translate;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use store::{Filter, Options, Store};

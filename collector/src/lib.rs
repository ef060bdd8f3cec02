//! Vigil's collector: OTLP in, one aggregated store, Prometheus/OpenMetrics and JSON out.
//!
//! The pieces, in the order data flows through them: [`receiver`] (OTLP over
//! gRPC and HTTP) decodes and hands points to the [`store`]; [`export`]
//! renders store snapshots; [`server`] serves them over HTTP; [`translate`]
//! holds the OTel-to-Prometheus naming rules; [`config`] and [`app`] wire it
//! all together.

pub mod app;
pub mod config;
pub mod decode;
pub mod demo;
pub mod exporters;
pub mod extensions;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod healthcheck;
pub mod pipeline;
pub mod processors;
pub mod receiver;
pub mod rpc;
pub mod server;
pub mod telemetry;

// The store, renderers and naming rules live in `vigil-store` (shared with the SDK's embedded
// mode); re-exported under their old paths.
pub use vigil_store::{export, store, translate};

#[cfg(test)]
pub(crate) use vigil_store::testing as test_support;

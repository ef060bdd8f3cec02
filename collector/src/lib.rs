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
pub mod export;
pub mod exporters;
pub mod extensions;
pub mod healthcheck;
pub mod pipeline;
pub mod processors;
pub mod receiver;
pub mod rpc;
pub mod server;
pub mod store;
pub mod translate;

#[cfg(test)]
pub(crate) mod test_support;

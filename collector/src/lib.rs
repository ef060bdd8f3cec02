//! Vigil's collector: OTLP in, one aggregated store, Prometheus/OpenMetrics and JSON out.

pub mod config;
pub mod translate;

//! Vigil: typed, cardinality-safe OpenTelemetry instruments (work in progress).

pub mod labels;
pub mod views;

//! Vigil: typed, cardinality-safe OpenTelemetry instruments (work in progress).

pub mod labels;
pub mod testing;
pub mod views;

//! Vigil: typed, cardinality-safe OpenTelemetry instruments (work in progress).

pub mod connections;
pub mod genai;
pub mod http;
pub mod init;
pub mod labels;
pub mod lifecycle;
pub mod process;
pub mod testing;
pub mod views;

pub use init::{Builder, Error, Guard, builder, init};

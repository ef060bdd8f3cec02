//! Vigil's wire contracts: the OTLP types, and the JSON snapshot schema.
//!
//! # OTLP types
//!
//! [`otlp`] re-exports `opentelemetry-proto` (features `gen-tonic`, `metrics`,
//! `trace`, `logs`, `with-serde`) rather than generating from the official
//! `.proto` files here. The crate is generated from the same upstream
//! definitions by the OpenTelemetry Rust project, is versioned in lock-step
//! with the `opentelemetry` crates Vigil's SDK uses (0.33), ships the tonic
//! service stubs the collector's gRPC receiver implements, and its serde
//! support follows the OTLP/JSON mapping (lowerCamelCase keys, integer enums,
//! hex trace/span ids, 64-bit integers as strings or numbers, unknown fields
//! ignored). Generating our own copy would add a `protoc` build dependency and
//! a second set of types to keep in sync, for no gain.
//!
//! # The JSON snapshot
//!
//! [`snapshot`] defines the document served at `GET /api/v1/snapshot`. Its
//! compatibility rules:
//!
//! - `schema_version` is bumped only by a breaking change. Additive changes
//!   (a new key, a new metric type) never bump it; consumers must ignore keys
//!   they do not know.
//! - Every service section is built on its own: a part that fails to build is
//!   replaced by an `error` string in that section, never by a failed response.

#![warn(missing_docs)]

pub mod remote_write;
pub mod snapshot;

/// The OTLP wire types (protobuf messages, tonic stubs, OTLP/JSON via serde).
pub mod otlp {
    pub use opentelemetry_proto::tonic::*;
}

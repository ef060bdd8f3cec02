//! Renderers: a store [`Snapshot`] in, bytes out.
//!
//! Every output format implements [`Encoder`], so the HTTP server and the
//! tests treat them alike. Encoders never touch the store; they work from a
//! snapshot that was copied under the store's lock and released.

pub mod buckets;
pub mod json;
pub mod otlp_json;
pub mod prometheus;

use crate::store::Snapshot;

/// Turns a snapshot into a response body.
pub trait Encoder {
    /// The `Content-Type` of the body.
    fn content_type(&self) -> &'static str;
    /// Encode. Encoders degrade per part instead of failing, so this cannot fail.
    fn encode(&self, snap: &Snapshot) -> Vec<u8>;
}

/// Prometheus text 0.0.4 or OpenMetrics 1.0.
#[derive(Clone, Copy, Debug)]
pub struct Prometheus(pub prometheus::Format);

impl Encoder for Prometheus {
    fn content_type(&self) -> &'static str {
        self.0.content_type()
    }
    fn encode(&self, snap: &Snapshot) -> Vec<u8> {
        prometheus::render(snap, self.0).into_bytes()
    }
}

/// Vigil's versioned JSON snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Json;

impl Encoder for Json {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn encode(&self, snap: &Snapshot) -> Vec<u8> {
        json::encode(snap)
    }
}

/// The snapshot as an OTLP/JSON `ExportMetricsServiceRequest`.
#[derive(Clone, Copy, Debug)]
pub struct OtlpJson;

impl Encoder for OtlpJson {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn encode(&self, snap: &Snapshot) -> Vec<u8> {
        otlp_json::encode(snap)
    }
}

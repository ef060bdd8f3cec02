//! Renderers: a store [`Snapshot`] in, bytes out.
//!
//! Every output format implements [`Encoder`], so the HTTP server and the
//! tests treat them alike. Encoders never touch the store; they work from a
//! snapshot that was copied under the store's lock and released.

pub mod buckets;
#[cfg(test)]
mod chunk_tests;
mod format;
pub mod json;
mod lines;
pub mod otlp_json;
pub mod prometheus;
mod stream;

use crate::store::Snapshot;

/// Turns a snapshot into a response body.
pub trait Encoder {
    /// The `Content-Type` of the body.
    fn content_type(&self) -> &'static str;
    /// Encode. Encoders degrade per part instead of failing, so this cannot fail.
    fn encode(&self, snap: &Snapshot) -> Vec<u8>;
    /// Encode in pieces of about `chunk` bytes handed to `emit` in order, so that a server can
    /// send the first while the rest is written and never hold the whole body. `emit` returns
    /// `false` to stop (the reader went away). The default writes the body whole, as one piece.
    fn encode_chunked(&self, snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
        let _ = chunk;
        emit(self.encode(snap));
    }
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
    fn encode_chunked(&self, snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
        prometheus::render_chunked(snap, self.0, chunk, &mut |piece| emit(piece.into_bytes()));
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
    fn encode_chunked(&self, snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
        json::encode_chunked(snap, chunk, emit);
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
    fn encode_chunked(&self, snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
        otlp_json::encode_chunked(snap, chunk, emit);
    }
}

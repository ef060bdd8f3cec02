//! Reads OTLP metrics requests straight from their protobuf bytes into the store.
//!
//! The generic path decodes a request with prost into `ExportMetricsServiceRequest`, building
//! every string and every `Vec<KeyValue>` of every point, only for the store to hash and compare
//! them and drop them again. This reader walks the [protobuf encoding] instead and hands the
//! store's [`Ingest`] API views of the bytes: names, keys and string
//! values borrowed (UTF-8 checked once, as they are read), attribute lists as a reused list of
//! borrowed pairs (`attrs`), bucket counts and bounds decoded into reused vectors (packed
//! fixed-width values may sit at any alignment). Nothing is allocated per point except for
//! what is rare: an array or key-value-list attribute value and exemplars are decoded with
//! prost, so the store sees exactly the values the prost path gives it.
//!
//! What it does not do is decide what a valid request is: [`pipeline::scan`] does, exactly as
//! prost does, and [`ingest`] runs it first so that a malformed request is refused whole,
//! before the store is touched. A pipeline that scanned the bytes already (every receiver does)
//! calls [`ingest_scanned`]. The prost path (`store::otlp`) stays: transforms, OTLP/JSON and the
//! tests, which hold this reader to it (same store, same report, or both refuse).
//!
//! [protobuf encoding]: https://protobuf.dev/programming-guides/encoding/
//! [`pipeline::scan`]: crate::pipeline::scan

mod attrs;
mod metrics;
mod points;
#[cfg(test)]
mod tests;
mod wire;

pub use metrics::ingest_scanned;
pub use wire::Malformed;

use crate::pipeline::{Signal, scan};
use crate::store::otlp::Report;
use crate::store::{Ingest, Store};

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a request prost would decode.
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    /// The reader found what the scan did not (a bug in one of them).
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// Ingests an encoded `ExportMetricsServiceRequest`: the store changes only if it is well
/// formed, and then as `store::otlp::ingest_request` would change it.
pub fn ingest(store: &Store, body: &[u8]) -> Result<Report, Error> {
    ingest_with(store, body, &mut |_| {})
}

/// [`ingest`], calling `on_point` after every point the store took, inside the session (as
/// `store::otlp::ingest_request_with` does).
pub fn ingest_with(
    store: &Store,
    body: &[u8],
    on_point: &mut dyn FnMut(&Ingest<'_>),
) -> Result<Report, Error> {
    scan::scan(Signal::Metrics, body)?;
    Ok(ingest_scanned(store, body, on_point)?)
}

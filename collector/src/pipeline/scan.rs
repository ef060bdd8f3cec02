//! Placeholder until the wire scanner lands: decodes with prost to count.

use std::ops::Range;

use prost::Message;

use super::Signal;
use super::work::count_items;
use crate::processors::Request;

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Items in the request.
    pub items: u64,
    /// Top-level entries.
    pub resources: Vec<Entry>,
}

/// One top-level entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes.
    pub range: Range<usize>,
    /// Its items.
    pub items: u64,
}

/// Why bytes are not a request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScanError(String);

/// Validate and count.
pub fn scan(signal: Signal, body: &[u8]) -> Result<Scan, ScanError> {
    let e = |e: prost::DecodeError| ScanError(e.to_string());
    let request = match signal {
        Signal::Metrics => Request::Metrics(Message::decode(body).map_err(e)?),
        Signal::Traces => Request::Traces(Message::decode(body).map_err(e)?),
        Signal::Logs => Request::Logs(Message::decode(body).map_err(e)?),
    };
    Ok(Scan {
        items: count_items(&request),
        resources: Vec::new(),
    })
}

//! [`Work`]: a batch on its way through a pipeline, encoded, decoded, or both.
//!
//! Receivers hand over what they have: the protobuf bytes as received (gRPC, HTTP protobuf),
//! or decoded messages (HTTP JSON). Each step asks for the form it needs and the conversion
//! happens at most once: a transform decodes, and marks the bytes stale; a queue asks for bytes
//! and gets the received ones untouched when nothing changed them; a store reads the bytes as
//! they are when there is no decoded form ([`Work::encoded_only`]), and never decodes them.

use bytes::Bytes;
use prost::Message;

use super::{Batch, Signal, Tenant};
use crate::processors::Request;

/// One export request in a pipeline. At least one of the two forms is present and current.
#[derive(Clone, Debug)]
pub struct Work {
    signal: Signal,
    body: Option<Bytes>,
    decoded: Option<Request>,
    /// Items (data points, spans, log records) in it.
    pub items: u64,
    /// Whose data it is; the receiver sets it from the sender's credential.
    pub tenant: Tenant,
}

/// Bytes that do not decode as the signal's request.
#[derive(Debug, thiserror::Error)]
#[error("malformed {signal} request: {source}")]
pub struct Malformed {
    signal: Signal,
    #[source]
    source: prost::DecodeError,
}

impl Work {
    /// Work from encoded bytes whose items were counted by [`super::scan`].
    pub fn encoded(batch: Batch) -> Work {
        Work {
            signal: batch.signal,
            body: Some(batch.body),
            decoded: None,
            items: batch.items,
            tenant: batch.tenant,
        }
    }

    /// Work from a decoded request.
    pub fn decoded(request: Request) -> Work {
        let items = count_items(&request);
        Work {
            signal: request.signal(),
            body: None,
            decoded: Some(request),
            items,
            tenant: None,
        }
    }

    /// Work from bytes as received and their decoded form (both current).
    pub fn received(body: Bytes, request: Request) -> Work {
        Work {
            items: count_items(&request),
            signal: request.signal(),
            body: Some(body),
            decoded: Some(request),
            tenant: None,
        }
    }

    /// Its signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The bytes, when they are the only form: a step that can read them as they are (the
    /// store's wire reader) need not decode. They were checked by [`super::scan`] (or are the
    /// encoding of a decoded request), so they decode.
    pub fn encoded_only(&self) -> Option<&Bytes> {
        match (&self.body, &self.decoded) {
            (Some(body), None) => Some(body),
            _ => None,
        }
    }

    /// The decoded request, decoding the bytes if needed. The caller may change it: the bytes
    /// are dropped as stale (after decoding, so a malformed body is reported, not emptied).
    pub fn request_mut(&mut self) -> Result<&mut Request, Malformed> {
        let request = match self.decoded.take() {
            Some(request) => request,
            None => self.decode()?,
        };
        self.body = None;
        Ok(self.decoded.insert(request))
    }

    /// The batch as bytes, encoding the decoded request if the bytes are stale.
    pub fn batch(&mut self) -> Batch {
        let body = match (&self.body, &self.decoded) {
            (Some(body), _) => body.clone(),
            (None, Some(request)) => {
                let body = Bytes::from(encode(request));
                self.body = Some(body.clone());
                body
            }
            (None, None) => Bytes::new(),
        };
        Batch {
            signal: self.signal,
            body,
            items: self.items,
            tenant: self.tenant.clone(),
        }
    }

    /// Takes the decoded request out (decoding if needed); give it back unchanged with
    /// [`Work::restore_request`] before asking for [`Work::batch`].
    pub fn take_request(&mut self) -> Result<Request, Malformed> {
        match self.decoded.take() {
            Some(request) => Ok(request),
            None => self.decode(),
        }
    }

    /// Puts a request taken by [`Work::take_request`] back, unchanged.
    pub fn restore_request(&mut self, request: Request) {
        self.decoded = Some(request);
    }

    /// Decodes the bytes; the caller keeps the result.
    fn decode(&self) -> Result<Request, Malformed> {
        let body = self.body.clone().unwrap_or_default();
        decode(self.signal, body).map_err(|source| Malformed {
            signal: self.signal,
            source,
        })
    }
}

/// Decodes an encoded request of `signal`.
pub fn decode(signal: Signal, body: Bytes) -> Result<Request, prost::DecodeError> {
    Ok(match signal {
        Signal::Metrics => Request::Metrics(Message::decode(body)?),
        Signal::Traces => Request::Traces(Message::decode(body)?),
        Signal::Logs => Request::Logs(Message::decode(body)?),
    })
}

fn encode(request: &Request) -> Vec<u8> {
    match request {
        Request::Metrics(r) => r.encode_to_vec(),
        Request::Traces(r) => r.encode_to_vec(),
        Request::Logs(r) => r.encode_to_vec(),
    }
}

/// Items in a decoded request: data points, spans or log records.
pub fn count_items(request: &Request) -> u64 {
    match request {
        Request::Metrics(r) => crate::store::otlp::count_points(r),
        Request::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum(),
        Request::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len() as u64)
            .sum(),
    }
}

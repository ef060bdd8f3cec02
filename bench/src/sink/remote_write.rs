//! The sink's Prometheus remote-write side: `POST /api/v1/write` with a
//! snappy-compressed remote-write 1.0 `prometheus.WriteRequest` or 2.0
//! `io.prometheus.write.v2.Request`, told apart by the Content-Type.
//!
//! It exists so that a collector's `prometheusremotewrite` exporter can be
//! measured like its OTLP exporters: per message version, the sink counts
//! requests, series, samples (a native histogram counts as one, and is also
//! counted apart), exemplars, and the bytes on the wire and after
//! decompression, for `GET /count`. It stores nothing. It answers as the
//! specifications ask of a receiver: 204, with the
//! `X-Prometheus-Remote-Write-*-Written` headers for 2.0; 415 for a content
//! type or encoding it does not take; 400 with a message for a body that does
//! not decode. `--fail-first` applies here as on the OTLP side, and
//! `--no-decode` counts requests and bytes only (the decompressed length is
//! read from the snappy header).
//! Specifications: <https://prometheus.io/docs/specs/prw/remote_write_spec/>,
//! <https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/>.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::wire::{self, Tally};
use super::{FailStatus, Refusal, State};

/// Where remote-write requests go.
pub(super) const PATH: &str = "/api/v1/write";

/// Largest accepted body, before and after decompression.
const MAX_BODY: usize = 256 << 20;

const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";

/// The two remote-write messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Message {
    /// Remote-write 1.0 `prometheus.WriteRequest`.
    V1 = 0,
    /// Remote-write 2.0 `io.prometheus.write.v2.Request`.
    V2 = 1,
}

impl Message {
    /// The message a request carries, from its Content-Type and Content-Encoding.
    pub(super) fn negotiate(
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Result<Message, String> {
        let content_type = content_type.unwrap_or("");
        let mut parts = content_type.split(';');
        let media = parts.next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(format!(
                "Content-Type {content_type:?} is not application/x-protobuf \
                 (;proto=prometheus.WriteRequest or ;proto=io.prometheus.write.v2.Request)"
            ));
        }
        let proto = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
            .map(|(_, v)| v.trim().trim_matches('"'));
        let message = match proto {
            None | Some("prometheus.WriteRequest") => Message::V1,
            Some("io.prometheus.write.v2.Request") => Message::V2,
            Some(other) => return Err(format!("unknown remote-write message proto={other}")),
        };
        match content_encoding.map(str::trim) {
            Some(e) if e.eq_ignore_ascii_case("snappy") => Ok(message),
            Some(e) => Err(format!("Content-Encoding {e:?} is not snappy")),
            None => Err("no Content-Encoding; remote-write bodies are snappy".into()),
        }
    }
}

/// Per message version, what arrived; shared by the handler and `GET /count`.
#[derive(Debug, Default)]
pub(super) struct Counts {
    by_message: [MessageCounts; 2],
    /// Requests refused with 415.
    unsupported: AtomicU64,
}

#[derive(Debug, Default)]
struct MessageCounts {
    requests: AtomicU64,
    series: AtomicU64,
    float_samples: AtomicU64,
    histograms: AtomicU64,
    exemplars: AtomicU64,
    bad_labels: AtomicU64,
    wire_bytes: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    fn add(&self, message: Message, wire_bytes: usize, bytes: usize, t: &Tally) {
        let c = &self.by_message[message as usize];
        let add = |a: &AtomicU64, n: u64| a.fetch_add(n, Ordering::Relaxed);
        add(&c.requests, 1);
        add(&c.series, t.series);
        add(&c.float_samples, t.float_samples);
        add(&c.histograms, t.histograms);
        add(&c.exemplars, t.exemplars);
        add(&c.bad_labels, t.bad_labels);
        add(&c.wire_bytes, wire_bytes as u64);
        add(&c.bytes, bytes as u64);
    }

    /// The `remote_write` part of `GET /count`.
    pub(super) fn json(&self) -> serde_json::Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let message = |m: Message| {
            let c = &self.by_message[m as usize];
            serde_json::json!({
                "requests": get(&c.requests),
                "series": get(&c.series),
                "samples": get(&c.float_samples) + get(&c.histograms),
                "float_samples": get(&c.float_samples),
                "histogram_samples": get(&c.histograms),
                "exemplars": get(&c.exemplars),
                "bad_label_series": get(&c.bad_labels),
                "wire_bytes": get(&c.wire_bytes),
                "bytes": get(&c.bytes),
            })
        };
        serde_json::json!({
            "v1": message(Message::V1),
            "v2": message(Message::V2),
            "unsupported_media_type": get(&self.unsupported),
        })
    }
}

/// Why a remote-write request was not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// 415: not a remote-write content type or encoding.
    UnsupportedMediaType(String),
    /// 413: the body decompresses past the limit.
    TooLarge(usize),
    /// 400: the body is not snappy, or not the message.
    Malformed(Message, String),
    /// One of the first `--fail-first` requests (the message, when known).
    Injected(Option<Message>, FailStatus),
}

impl State {
    /// Counts one remote-write request whose body on the wire is `wire`.
    pub(super) fn accept_remote_write(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        wire: &[u8],
    ) -> Result<(Message, Tally), Refused> {
        let negotiated = Message::negotiate(content_type, content_encoding);
        if let Err(Refusal::Injected(status)) = self.admit() {
            return Err(Refused::Injected(negotiated.ok(), status));
        }
        let refuse = |r: Refused| {
            self.failed.fetch_add(1, Ordering::Relaxed);
            r
        };
        let message = negotiated.map_err(|why| {
            self.remote_write
                .unsupported
                .fetch_add(1, Ordering::Relaxed);
            refuse(Refused::UnsupportedMediaType(why))
        })?;
        let malformed = |why: String| {
            self.decode_errors.fetch_add(1, Ordering::Relaxed);
            refuse(Refused::Malformed(message, why))
        };
        let len = snap::raw::decompress_len(wire).map_err(|e| malformed(format!("snappy: {e}")))?;
        if len > MAX_BODY {
            return Err(refuse(Refused::TooLarge(len)));
        }
        let tally = if self.no_decode {
            Tally::default()
        } else {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(wire)
                .map_err(|e| malformed(format!("snappy: {e}")))?;
            match message {
                Message::V1 => wire::count_v1(&raw),
                Message::V2 => wire::count_v2(&raw),
            }
            .map_err(malformed)?
        };
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.remote_write.add(message, wire.len(), len, &tally);
        Ok((message, tally))
    }
}

/// The remote-write route.
pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(PATH, post(write))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn write(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let result = state.accept_remote_write(
        header(header::CONTENT_TYPE),
        header(header::CONTENT_ENCODING),
        &body,
    );
    respond(result, state.retry_after)
}

/// The HTTP answer: 204 on success; 2.0 answers carry the written counts
/// (zero on errors, as nothing was written); injected failures carry
/// `Retry-After` in whole seconds, rounded up, when a delay is given.
pub(super) fn respond(
    result: Result<(Message, Tally), Refused>,
    retry_after: Option<Duration>,
) -> Response {
    let injected = matches!(result, Err(Refused::Injected(..)));
    let (status, message, written, text) = match result {
        Ok((message, tally)) => (StatusCode::NO_CONTENT, Some(message), tally, String::new()),
        Err(Refused::UnsupportedMediaType(why)) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            Tally::default(),
            why,
        ),
        Err(Refused::TooLarge(len)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            Tally::default(),
            format!("the body decompresses to {len} bytes, over the {MAX_BODY}-byte limit"),
        ),
        Err(Refused::Malformed(message, why)) => (
            StatusCode::BAD_REQUEST,
            Some(message),
            Tally::default(),
            format!("cannot decode the request: {why}"),
        ),
        Err(Refused::Injected(message, fail)) => {
            let status = match fail {
                FailStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                FailStatus::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
                FailStatus::BadRequest => StatusCode::BAD_REQUEST,
            };
            let text = "vigil-load sink: failing this request as told (--fail-first)";
            (status, message, Tally::default(), text.to_string())
        }
    };
    let mut response = if text.is_empty() {
        status.into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
    };
    let headers = response.headers_mut();
    if message == Some(Message::V2) {
        for (name, n) in [
            (SAMPLES_WRITTEN, written.float_samples),
            (HISTOGRAMS_WRITTEN, written.histograms),
            (EXEMPLARS_WRITTEN, written.exemplars),
        ] {
            headers.insert(name, HeaderValue::from(n));
        }
    }
    if let (true, Some(d)) = (injected, retry_after) {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
#[path = "remote_write_tests.rs"]
mod tests;

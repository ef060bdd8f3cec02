//! [`HttpSender`]: one OTLP/HTTP `POST` per [`Sender::send`], with the answer classified as the
//! OTLP specification says.
//!
//! The batch's bytes are posted as they are (`Content-Type: application/x-protobuf`), gzipped
//! first when configured (`Content-Encoding: gzip`). The client is hyper-util's pooled HTTP/1.1
//! client over the shared [`Connector`] (the exporter's own rustls configuration), so the
//! queue's consumers reuse connections. Proxies (`HTTPS_PROXY`) are not supported.
//!
//! Classification (<https://opentelemetry.io/docs/specs/otlp/#failures-1>): a 2xx is
//! [`Outcome::Sent`], with the `partial_success` of the `Export*ServiceResponse` body (protobuf,
//! or JSON when the upstream answers JSON; an empty body means everything was taken); 429, 502,
//! 503 and 504 are [`Outcome::Retry`] with the `Retry-After` header (seconds or an HTTP date);
//! other statuses are [`Outcome::Permanent`], `HTTP <code>` first, then the body's
//! `google.rpc.Status` message (or its text). Connection failures and timeouts are retried.

use std::error::Error;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;

use super::Settings;
use crate::exporters::common::Compression;
use crate::exporters::common::connector::Connector;
use crate::exporters::common::wire::ExportResponse;
use crate::pipeline::{Batch, BoxFuture, Outcome, Sender, Signal};
use crate::rpc::RpcStatus;

/// The most of a response body read: enough for any status message, bounded against a
/// misbehaving upstream (the Collector reads 64 KiB too).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most of an error body's text quoted in a reason.
const MAX_REASON_TEXT: usize = 512;
const PROTOBUF: &str = "application/x-protobuf";
const USER_AGENT_VALUE: &str = concat!("vigil-collector/", env!("CARGO_PKG_VERSION"));

/// Sends batches to one OTLP/HTTP endpoint. Cheap to share: every consumer may call
/// [`Sender::send`] on the same one concurrently.
#[derive(Clone, Debug)]
pub struct HttpSender {
    client: Client<Connector, Full<Bytes>>,
    metrics_url: Option<Uri>,
    traces_url: Option<Uri>,
    logs_url: Option<Uri>,
    headers: HeaderMap,
    compression: Compression,
    timeout: Duration,
}

impl HttpSender {
    /// A sender for `settings`. Nothing is connected yet. Sending needs a tokio runtime.
    pub fn new(settings: &Settings) -> Result<HttpSender, String> {
        let client =
            Client::builder(TokioExecutor::new()).build(Connector::new(Some(&settings.tls)));
        let mut headers = settings.headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        Ok(HttpSender {
            client,
            metrics_url: settings.metrics_url.clone(),
            traces_url: settings.traces_url.clone(),
            logs_url: settings.logs_url.clone(),
            headers,
            compression: settings.compression,
            timeout: settings.timeout,
        })
    }

    fn url(&self, signal: Signal) -> Option<&Uri> {
        match signal {
            Signal::Metrics => self.metrics_url.as_ref(),
            Signal::Traces => self.traces_url.as_ref(),
            Signal::Logs => self.logs_url.as_ref(),
        }
    }

    async fn send_once(&self, batch: &Batch) -> Outcome {
        let Some(url) = self.url(batch.signal) else {
            return Outcome::Permanent {
                reason: format!(
                    "NO_ENDPOINT: no URL for {} (set endpoint or {}_endpoint)",
                    batch.signal, batch.signal
                ),
            };
        };
        let (body, gzipped) = match self.compression {
            Compression::None => (batch.body.clone(), false),
            // Compressing a batch takes well under a millisecond per 100 KiB: not worth a
            // blocking-pool hop.
            Compression::Gzip => match gzip(&batch.body) {
                Ok(body) => (body, true),
                Err(e) => {
                    return Outcome::Permanent {
                        reason: format!("GZIP: cannot compress the batch: {e}"),
                    };
                }
            },
        };
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = url.clone();
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let exchange = async {
            match self.client.request(request).await {
                Ok(response) => classify(response).await,
                Err(e) => {
                    let what = if e.is_connect() {
                        "connection failed"
                    } else {
                        "request failed"
                    };
                    Outcome::Retry {
                        reason: format!("{what}: {}", chain(&e)),
                        after: None,
                    }
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                reason: format!("timeout: no answer within {:?}", self.timeout),
                after: None,
            },
        }
    }
}

impl Sender for HttpSender {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_once(batch))
    }
}

/// The outcome of a request the upstream answered.
async fn classify<B>(response: http::Response<B>) -> Outcome
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Error + Send + Sync + 'static,
{
    let (parts, body) = response.into_parts();
    let (status, headers) = (parts.status, parts.headers);
    let body = read_capped(body).await;
    if status.is_success() {
        return match body {
            Ok(body) => {
                let (rejected, message) = partial_success(&headers, &body);
                Outcome::Sent { rejected, message }
            }
            Err(e) => Outcome::Sent {
                rejected: 0,
                message: format!("the response body could not be read: {}", chain(&e)),
            },
        };
    }
    let message = body
        .ok()
        .map(|b| error_message(&headers, &b))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    let reason = format!("HTTP {}: {message}", status.as_u16());
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Outcome::Retry {
            reason,
            after: retry_after(&headers, SystemTime::now()),
        },
        _ => Outcome::Permanent { reason },
    }
}

/// Up to [`MAX_RESPONSE_BYTES`] of a body; the rest is not read (the connection is then not
/// reused, which a misbehaving upstream deserves).
pub(crate) async fn read_capped<B>(body: B) -> Result<Vec<u8>, B::Error>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let room = MAX_RESPONSE_BYTES - out.len();
        out.extend_from_slice(&data[..data.len().min(room)]);
        if out.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(out)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// `partial_success` of a 2xx body. A body that does not decode still means the batch was
/// delivered: it is reported in the message, not as a failure.
fn partial_success(headers: &HeaderMap, body: &[u8]) -> (u64, String) {
    if body.is_empty() {
        return (0, String::new());
    }
    if is_json(headers) {
        return json_partial_success(body);
    }
    match ExportResponse::decode(body) {
        Ok(response) => response.into_outcome_parts(),
        Err(e) => (0, format!("the response could not be decoded: {e}")),
    }
}

/// OTLP/JSON: `{"partialSuccess": {"rejectedSpans": "3", "errorMessage": "..."}}` (int64 may
/// be a string or a number).
fn json_partial_success(body: &[u8]) -> (u64, String) {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return (0, format!("the response could not be decoded: {e}")),
    };
    let Some(partial) = value.get("partialSuccess") else {
        return (0, String::new());
    };
    let rejected = ["rejectedDataPoints", "rejectedSpans", "rejectedLogRecords"]
        .iter()
        .find_map(|k| partial.get(*k))
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    let message = partial
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    (rejected, message)
}

/// The message of an error body: `google.rpc.Status` in protobuf or JSON, else the text.
fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let structured = if is_json(headers) {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
    } else if headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROTOBUF))
    {
        RpcStatus::decode(body).ok().map(|s| s.message)
    } else {
        None
    };
    if let Some(message) = structured {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_REASON_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `Retry-After` as a delay from `now`: seconds, or an HTTP date (past dates are 0).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn gzip(body: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), GzLevel::default());
    encoder.write_all(body)?;
    encoder.finish().map(Bytes::from)
}

/// An error with its sources, `outer: inner: innermost` (hyper's own messages are terse).
pub(crate) fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_retry_after_as_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn reads_json_partial_success_with_string_or_number_counts() {
        let body = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad"}}"#;
        assert_eq!(json_partial_success(body), (3, "bad".to_owned()));
        let body = br#"{"partialSuccess":{"rejectedLogRecords":2}}"#;
        assert_eq!(json_partial_success(body), (2, String::new()));
        assert_eq!(json_partial_success(b"{}"), (0, String::new()));
    }

    #[test]
    fn quotes_a_text_error_body_truncated() {
        let long = "x".repeat(2000);
        let m = error_message(&HeaderMap::new(), long.as_bytes());
        assert_eq!(m.chars().count(), MAX_REASON_TEXT + 1);
    }
}

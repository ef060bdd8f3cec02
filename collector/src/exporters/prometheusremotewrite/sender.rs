//! Posting a queued batch's requests, and what the receiver's answers mean.
//!
//! Each frame of a batch is one `POST` (snappy body, the version's `Content-Type` and
//! `X-Prometheus-Remote-Write-Version`), in order. Answers, per the remote-write
//! specifications:
//! * 2xx: written. For 2.0 the receiver confirms with `X-Prometheus-Remote-Write-Samples-Written`;
//!   a 2xx without any `...-Written` header comes from a 1.0-only receiver that read the body as
//!   an empty 1.0 request and stored nothing, so the frame is sent again as 1.0.
//! * 415 to a 2.0 frame: the receiver does not take 2.0; the exporter switches to 1.0 for good
//!   (logged once) and the frame is sent again as 1.0.
//! * 429 and 5xx: retried (with `Retry-After`), the whole batch from its first frame: frames
//!   already written are written again with the same timestamps and values, which receivers
//!   take as duplicates of what they hold.
//! * Any other 4xx: the frame's samples are refused for good. They are counted per cause
//!   (`out_of_order`, `duplicate`, `too_old`, `other`: read from the body's text, which
//!   Prometheus, Mimir and VictoriaMetrics word alike) and the batch goes on with its next frame:
//!   a refused frame is never retried.
//! * Connection errors and timeouts: retried.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::config::{Protocol, Settings};
use super::fallback;
use super::wire::{self, Frame};
use crate::exporters::common::connector::Connector;
use crate::exporters::otlphttp::sender::{chain, read_capped, retry_after};
use crate::pipeline::{Batch, BoxFuture, Outcome, Sender};

const USER_AGENT_VALUE: &str = concat!("vigil-collector/", env!("CARGO_PKG_VERSION"));
const WRITTEN_HEADERS: [&str; 3] = [
    "x-prometheus-remote-write-samples-written",
    "x-prometheus-remote-write-histograms-written",
    "x-prometheus-remote-write-exemplars-written",
];
/// The most of an error body quoted.
const MAX_REASON: usize = 300;

/// Samples the receiver refused for good, per cause.
#[derive(Debug, Default)]
pub struct Refusals {
    by_cause: Mutex<BTreeMap<&'static str, u64>>,
}

impl Refusals {
    /// Counts so far, per cause.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.by_cause
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn add(&self, cause: &'static str, samples: u64) {
        *self
            .by_cause
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(cause)
            .or_default() += samples;
    }
}

/// Why a receiver refused samples, from its error text.
pub(super) fn cause(status: StatusCode, text: &str) -> &'static str {
    let t = text.to_ascii_lowercase();
    if t.contains("out of order") || t.contains("out-of-order") {
        "out_of_order"
    } else if t.contains("duplicate") {
        "duplicate"
    } else if t.contains("too old") || t.contains("out of bounds") {
        "too_old"
    } else if status == StatusCode::BAD_REQUEST {
        "other"
    } else {
        "refused"
    }
}

/// Posts frames to one remote-write receiver.
pub struct RemoteWriteSender {
    client: Client<Connector, Full<Bytes>>,
    url: Uri,
    headers: HeaderMap,
    /// Where a batch's tenant goes.
    tenant_header: Option<http::HeaderName>,
    timeout: Duration,
    send_metadata: bool,
    /// Set once the receiver showed it does not take 2.0.
    pub v1_only: Arc<AtomicBool>,
    /// Refused samples.
    pub refusals: Arc<Refusals>,
}

enum Answer {
    Written,
    NotV2(String),
    Refused { cause: &'static str, reason: String },
    Retry(Outcome),
}

impl RemoteWriteSender {
    /// A sender for `settings`.
    pub fn new(settings: &Settings, v1_only: Arc<AtomicBool>) -> RemoteWriteSender {
        let client =
            Client::builder(TokioExecutor::new()).build(Connector::new(Some(&settings.tls)));
        let mut headers = settings.headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        RemoteWriteSender {
            client,
            url: settings.endpoint.clone(),
            headers,
            tenant_header: settings.tenant_header.clone(),
            timeout: settings.timeout,
            send_metadata: settings.send_metadata,
            v1_only,
            refusals: Arc::new(Refusals::default()),
        }
    }

    async fn post(&self, frame: &Frame, tenant: Option<&str>) -> Answer {
        let mut request = http::Request::new(Full::new(frame.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.url.clone();
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        if let (Some(name), Some(tenant)) = (&self.tenant_header, tenant)
            && let Ok(value) = HeaderValue::from_str(tenant)
        {
            headers.insert(name.clone(), value);
        }
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        let (content_type, version) = match frame.protocol {
            Protocol::V1 => ("application/x-protobuf", "0.1.0"),
            Protocol::V2 => (
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                "2.0.0",
            ),
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static(version),
        );
        let exchange = async {
            let response = match self.client.request(request).await {
                Ok(r) => r,
                Err(e) => {
                    let what = if e.is_connect() {
                        "connection failed"
                    } else {
                        "request failed"
                    };
                    return Answer::Retry(Outcome::Retry {
                        reason: format!("{what}: {}", chain(&e)),
                        after: None,
                    });
                }
            };
            let (parts, body) = response.into_parts();
            let text = read_capped(body)
                .await
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .trim()
                        .chars()
                        .take(MAX_REASON)
                        .collect::<String>()
                })
                .unwrap_or_default();
            let status = parts.status;
            if status.is_success() {
                let confirmed = WRITTEN_HEADERS
                    .iter()
                    .any(|h| parts.headers.contains_key(*h));
                if frame.protocol == Protocol::V2 && !confirmed && frame.samples > 0 {
                    return Answer::NotV2(format!(
                        "HTTP {} without X-Prometheus-Remote-Write-*-Written headers",
                        status.as_u16()
                    ));
                }
                return Answer::Written;
            }
            let reason = format!("HTTP {}: {text}", status.as_u16());
            if status == StatusCode::UNSUPPORTED_MEDIA_TYPE && frame.protocol == Protocol::V2 {
                return Answer::NotV2(reason);
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                return Answer::Retry(Outcome::Retry {
                    reason,
                    after: retry_after(&parts.headers, SystemTime::now()),
                });
            }
            Answer::Refused {
                cause: cause(status, &text),
                reason,
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Answer::Retry(Outcome::Retry {
                reason: format!("timeout: no answer within {:?}", self.timeout),
                after: None,
            }),
        }
    }

    /// A 2.0 frame rewritten as 1.0, or the outcome for a queued request that does not read back.
    fn as_v1(&self, frame: &Frame) -> Result<Frame, Outcome> {
        fallback::to_v1(frame, self.send_metadata).map_err(|e| Outcome::Permanent {
            reason: format!("DAMAGED: a queued 2.0 request does not read back: {e}"),
        })
    }

    async fn send_frames(&self, batch: &Batch) -> Outcome {
        let (tenant, frames) = match wire::split(&batch.body) {
            Ok(split) => split,
            Err(e) => {
                return Outcome::Permanent {
                    reason: format!("DAMAGED: a queued batch does not read back: {e}"),
                };
            }
        };
        let mut rejected = 0;
        let mut message = String::new();
        for frame in &frames {
            let mut frame = frame.clone();
            if frame.protocol == Protocol::V2 && self.v1_only.load(Ordering::Relaxed) {
                frame = match self.as_v1(&frame) {
                    Ok(f) => f,
                    Err(outcome) => return outcome,
                };
            }
            let mut answer = self.post(&frame, tenant.as_deref()).await;
            if let Answer::NotV2(why) = &answer {
                if !self.v1_only.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        url = %self.url,
                        "the receiver does not take remote-write 2.0 ({why}); sending 1.0 from now on"
                    );
                }
                frame = match self.as_v1(&frame) {
                    Ok(f) => f,
                    Err(outcome) => return outcome,
                };
                answer = self.post(&frame, tenant.as_deref()).await;
            }
            match answer {
                Answer::Written => {}
                Answer::NotV2(why) => {
                    return Outcome::Retry {
                        reason: format!("the receiver refused 1.0 as if it were 2.0: {why}"),
                        after: None,
                    };
                }
                Answer::Refused { cause, reason } => {
                    self.refusals.add(cause, frame.samples);
                    rejected += frame.samples;
                    if message.is_empty() {
                        message = format!("{cause}: {reason}");
                    }
                }
                Answer::Retry(outcome) => return outcome,
            }
        }
        Outcome::Sent { rejected, message }
    }
}

impl Sender for RemoteWriteSender {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_frames(batch))
    }
}

//! [`GrpcSender`]: one OTLP/gRPC export call per [`Sender::send`], over one shared HTTP/2
//! channel, with the answer classified as the OTLP specification says.
//!
//! The batch's bytes are framed as they are: the [`RawCodec`] writes the `Bytes` it is given and
//! decodes only the `Export*ServiceResponse` that comes back, for its `partial_success`. All the
//! queue's consumers share the one channel (HTTP/2 multiplexes their calls); it connects on first
//! use and reconnects after a failure.
//!
//! Classification (<https://opentelemetry.io/docs/specs/otlp/#failures>): `OK` is
//! [`Outcome::Sent`]; `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`,
//! `UNAVAILABLE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` when the status carries a
//! `google.rpc.RetryInfo`, are [`Outcome::Retry`] (with the `RetryInfo` delay); so are
//! connection and HTTP/2 failures (whatever code tonic gives them) and attempts that outlive
//! `timeout`; every other code the upstream answers is [`Outcome::Permanent`], the code's name
//! first in the reason.

use std::time::Duration;

use bytes::{BufMut, Bytes};
use http::HeaderMap;
use http::uri::PathAndQuery;
use prost::Message;
use tonic::Code;
use tonic::Status;
use tonic::client::Grpc;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use super::Settings;
use crate::exporters::common::Compression;
use crate::exporters::common::connector::Connector;
use crate::exporters::common::wire::{self, ExportResponse};
use crate::pipeline::{Batch, BoxFuture, Outcome, Sender};

/// Sends batches to one OTLP/gRPC endpoint. Cheap to share: every consumer may call
/// [`Sender::send`] on the same one concurrently.
#[derive(Clone, Debug)]
pub struct GrpcSender {
    grpc: Grpc<Channel>,
    headers: HeaderMap,
    timeout: Duration,
}

impl GrpcSender {
    /// A sender for `settings`. Nothing is connected yet: the first send connects.
    ///
    /// Must be called inside a tokio runtime, whose lifetime the sender must not outlive (the
    /// channel runs a task on it); outside one it returns an error.
    pub fn new(settings: &Settings) -> Result<GrpcSender, String> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err("the otlp exporter must be created inside a tokio runtime".to_owned());
        }
        // tonic connects to a plaintext URI with the port written out; our connector adds TLS
        // when the settings ask for it (see `Connector::always`), and `origin` keeps the
        // requests' `:scheme` and `:authority` those of the configured endpoint.
        let mut endpoint = Endpoint::from(connect_uri(&settings.endpoint)?)
            .origin(settings.endpoint.clone())
            .connect_timeout(settings.timeout)
            .tcp_nodelay(true);
        if let Some(name) = settings
            .tls
            .as_ref()
            .and_then(|t| t.server_name_override.as_ref())
        {
            // The Collector sends the override as `:authority` too.
            let mut authority = name.to_str().into_owned();
            if let Some(port) = settings.endpoint.port_u16() {
                authority = format!("{authority}:{port}");
            }
            let origin = http::Uri::builder()
                .scheme("https")
                .authority(authority.as_str())
                .path_and_query("/")
                .build()
                .map_err(|e| format!("tls.server_name_override: {e}"))?;
            endpoint = endpoint.origin(origin);
        }
        let channel =
            endpoint.connect_with_connector_lazy(Connector::always(settings.tls.as_ref()));
        let mut grpc = Grpc::new(channel).accept_compressed(CompressionEncoding::Gzip);
        if settings.compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(GrpcSender {
            grpc,
            headers: settings.headers.clone(),
            timeout: settings.timeout,
        })
    }

    async fn send_once(&self, batch: &Batch) -> Outcome {
        let mut grpc = self.grpc.clone();
        let call = async {
            if let Err(e) = grpc.ready().await {
                return Err(Status::unavailable(format!(
                    "the channel is not ready: {e}"
                )));
            }
            let mut request = tonic::Request::new(batch.body.clone());
            *request.metadata_mut() = MetadataMap::from_headers(self.headers.clone());
            request.set_timeout(self.timeout);
            let path = PathAndQuery::from_static(batch.signal.grpc_path());
            grpc.unary(request, path, RawCodec).await
        };
        let deadline_exceeded = || Outcome::Retry {
            reason: format!("DEADLINE_EXCEEDED: no answer within {:?}", self.timeout),
            after: None,
        };
        // Two clocks race: ours, and tonic's enforcement of the `grpc-timeout` it sends; either
        // way the outcome is the same.
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => deadline_exceeded(),
            Ok(Err(status)) if timed_out(&status) => deadline_exceeded(),
            Ok(Ok(response)) => match response.into_inner() {
                Ok(response) => {
                    let (rejected, message) = response.into_outcome_parts();
                    Outcome::Sent { rejected, message }
                }
                Err(e) => Outcome::Sent {
                    rejected: 0,
                    message: format!("the response could not be decoded: {e}"),
                },
            },
            Ok(Err(status)) => classify(&status),
        }
    }
}

/// `http://host:port/` for an endpoint `scheme://host[:port]`, the port made explicit (443 for
/// `https`, 80 for `http`).
fn connect_uri(endpoint: &http::Uri) -> Result<http::Uri, String> {
    let host = endpoint
        .host()
        .ok_or_else(|| format!("endpoint: {endpoint} has no host"))?;
    let https = endpoint.scheme_str() == Some("https");
    let port = endpoint.port_u16().unwrap_or(if https { 443 } else { 80 });
    http::Uri::builder()
        .scheme("http")
        .authority(format!("{host}:{port}").as_str())
        .path_and_query("/")
        .build()
        .map_err(|e| format!("endpoint: {e}"))
}

impl Sender for GrpcSender {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_once(batch))
    }
}

/// The outcome of a call that ended in `status`.
///
/// A status with a source did not come from the upstream: tonic made it from a connection or
/// HTTP/2 failure (a reset, a peer that does not speak TLS or HTTP/2), and those are retried
/// whatever code tonic chose (usually `UNKNOWN`).
fn classify(status: &Status) -> Outcome {
    let code = status.code();
    let mut reason = format!("{}: {}", code_name(code), status.message());
    let mut source = std::error::Error::source(status);
    let transport = source.is_some();
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.ends_with(&text) {
            reason = format!("{reason}: {text}");
        }
        source = s.source();
    }
    let retry_info = if status.details().is_empty() {
        None
    } else {
        wire::retry_info(status.details())
    };
    match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Outcome::Retry {
            reason,
            after: retry_info.flatten(),
        },
        Code::ResourceExhausted => match retry_info {
            Some(after) => Outcome::Retry { reason, after },
            None if transport => Outcome::Retry {
                reason,
                after: None,
            },
            None => Outcome::Permanent { reason },
        },
        _ if transport => Outcome::Retry {
            reason,
            after: None,
        },
        _ => Outcome::Permanent { reason },
    }
}

/// Whether tonic ended the call because its `grpc-timeout` expired.
fn timed_out(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        if s.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The canonical name of a gRPC status code, as logs and the specification spell it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

// === impl RawCodec ===

/// Sends a request's encoded bytes as they are; decodes the response (leniently: a response
/// that does not decode still means the batch was delivered).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Result<ExportResponse, prost::DecodeError>;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

/// Writes the bytes it is given.
#[derive(Debug)]
pub(super) struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

/// Decodes an `Export*ServiceResponse`.
#[derive(Debug)]
pub(super) struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = Result<ExportResponse, prost::DecodeError>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        Ok(Some(ExportResponse::decode(src)))
    }
}

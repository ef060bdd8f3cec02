//! What a hostile case is (the bytes, how they travel, the exact answer expected) and how one
//! is sent and its answer checked, so that the catalogue modules are plain tables.
//!
//! Transports: OTLP/HTTP with reqwest, OTLP/gRPC with tonic's client over a raw-bytes codec
//! (so malformed protobuf and several messages on one call can be sent), and raw TCP to the
//! HTTP port for framing abuse (the connection is half-closed after the bytes, so every case
//! ends by itself).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Bytes;

/// One hostile input and its exact expected outcome.
pub(crate) struct Case {
    /// Names the case in failures and in the report.
    pub name: &'static str,
    /// Requests that must be fully accepted first (e.g. the victim of a squatting attempt).
    pub setup: Vec<Send>,
    /// The hostile request.
    pub send: Send,
    /// Its exact answer.
    pub expect: Expect,
    /// Exact lines the text page must hold afterwards.
    pub page_has: Vec<String>,
    /// Substrings the text page must not hold afterwards.
    pub page_lacks: Vec<String>,
    /// Requests (each fully accepted) that undo the case after its checks, so that a defect it
    /// reproduces does not spill into the cases after it.
    pub cleanup: Vec<Send>,
}

impl Case {
    /// A case with no setup and no page expectations.
    pub(crate) fn new(name: &'static str, send: Send, expect: Expect) -> Case {
        Case {
            name,
            setup: Vec::new(),
            send,
            expect,
            page_has: Vec::new(),
            page_lacks: Vec::new(),
            cleanup: Vec::new(),
        }
    }

    /// Requests that undo the case after its checks.
    pub(crate) fn cleanup(mut self, sends: Vec<Send>) -> Case {
        self.cleanup = sends;
        self
    }

    /// Adds requests sent (and required to be fully accepted) before the hostile one.
    pub(crate) fn after(mut self, setup: Vec<Send>) -> Case {
        self.setup = setup;
        self
    }

    /// Adds exact lines the text page must hold.
    pub(crate) fn has(mut self, lines: &[&str]) -> Case {
        self.page_has.extend(lines.iter().map(|l| (*l).to_owned()));
        self
    }

    /// Adds substrings the text page must not hold.
    pub(crate) fn lacks(mut self, parts: &[&str]) -> Case {
        self.page_lacks
            .extend(parts.iter().map(|l| (*l).to_owned()));
        self
    }
}

/// How a case's bytes travel.
pub(crate) enum Send {
    /// An HTTP request to the OTLP/HTTP port.
    Http {
        /// `POST`, `GET`, …
        method: &'static str,
        /// The path, usually `/v1/metrics`.
        path: &'static str,
        /// The Content-Type header, if any.
        content_type: Option<&'static str>,
        /// The Content-Encoding header, if any.
        content_encoding: Option<&'static str>,
        /// The body.
        body: Vec<u8>,
    },
    /// One Export call on the OTLP/gRPC port carrying these messages (raw protobuf bytes).
    Grpc(Vec<Vec<u8>>),
    /// Raw bytes to the OTLP/HTTP port, then a half-close; the answer is read until EOF.
    Tcp(Vec<u8>),
    /// Raw bytes to the OTLP/HTTP port, with the connection left open: the answer is read until
    /// the server closes it (for requests that make it close, where a half-close arriving while
    /// it still parses the head would end the exchange with no answer).
    TcpOpen(Vec<u8>),
}

impl Send {
    /// OTLP/HTTP protobuf.
    pub(crate) fn proto(req: &ExportMetricsServiceRequest) -> Send {
        Send::raw_proto(req.encode_to_vec())
    }

    /// OTLP/HTTP with a protobuf Content-Type and any bytes.
    pub(crate) fn raw_proto(body: Vec<u8>) -> Send {
        Send::Http {
            method: "POST",
            path: "/v1/metrics",
            content_type: Some("application/x-protobuf"),
            content_encoding: None,
            body,
        }
    }

    /// OTLP/HTTP JSON.
    pub(crate) fn json(body: &str) -> Send {
        Send::Http {
            method: "POST",
            path: "/v1/metrics",
            content_type: Some("application/json"),
            content_encoding: None,
            body: body.as_bytes().to_vec(),
        }
    }

    /// OTLP/gRPC, one message.
    pub(crate) fn grpc(req: &ExportMetricsServiceRequest) -> Send {
        Send::Grpc(vec![req.encode_to_vec()])
    }
}

/// The exact answer a case expects.
pub(crate) enum Expect {
    /// Success with no `partial_success` (or one rejecting nothing).
    Accepted,
    /// Success whose `partial_success` rejects exactly `rejected` points with a message holding
    /// `message`; `reason` is the `vigil_store_refused_points_total` label they count under.
    Partial {
        /// `rejected_data_points`.
        rejected: i64,
        /// A substring of `error_message`.
        message: &'static str,
        /// The self-telemetry reason.
        reason: &'static str,
    },
    /// An HTTP answer with this status and a body holding `body`.
    Status {
        /// The status code.
        status: u16,
        /// A substring of the body (for protobuf `Status` bodies, of its message).
        body: &'static str,
    },
    /// A gRPC error with this code and a message holding `message`.
    Grpc {
        /// The code.
        code: tonic::Code,
        /// A substring of the message.
        message: &'static str,
    },
}

/// What came back, in one shape for all transports.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A success with its partial success, if any: `(rejected, message)`.
    Ok(Option<(i64, String)>),
    /// An HTTP error status and its body as text (a protobuf `Status` decoded to its message).
    Status(u16, String),
    /// A gRPC error.
    Grpc(tonic::Code, String),
}

/// Sends `send` to the collector; any transport failure panics (a collector that stops
/// answering is a failed case).
pub(crate) async fn send(send: &Send, http: SocketAddr, grpc: SocketAddr) -> Answer {
    match send {
        Send::Http {
            method,
            path,
            content_type,
            content_encoding,
            body,
        } => {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("reqwest client");
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = client
                .request(method, format!("http://{http}{path}"))
                .body(body.clone());
            if let Some(ct) = content_type {
                req = req.header("content-type", *ct);
            }
            if let Some(ce) = content_encoding {
                req = req.header("content-encoding", *ce);
            }
            let resp = req.send().await.expect("the OTLP/HTTP port answers");
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bytes = resp.bytes().await.expect("the answer's body");
            http_answer(status, &ct, &bytes)
        }
        Send::Grpc(messages) => grpc_send(messages.clone(), grpc).await,
        Send::Tcp(bytes) => tcp_send(bytes, http, true).await,
        Send::TcpOpen(bytes) => tcp_send(bytes, http, false).await,
    }
}

fn http_answer(status: u16, content_type: &str, body: &[u8]) -> Answer {
    if status == 200 {
        let resp = if content_type.starts_with("application/json") {
            serde_json::from_slice::<ExportMetricsServiceResponse>(body).expect("a JSON response")
        } else {
            ExportMetricsServiceResponse::decode(body).expect("a protobuf response")
        };
        return Answer::Ok(
            resp.partial_success
                .map(|p| (p.rejected_data_points, p.error_message)),
        );
    }
    let text = if content_type.starts_with("application/x-protobuf") {
        vigil_collector::rpc::RpcStatus::decode(body)
            .map(|s| s.message)
            .unwrap_or_else(|e| format!("<not a Status: {e}>"))
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    Answer::Status(status, text)
}

async fn grpc_send(messages: Vec<Vec<u8>>, addr: SocketAddr) -> Answer {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("the OTLP/gRPC port accepts a connection");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    );
    let stream = tonic::codegen::tokio_stream::iter(messages.into_iter().map(Bytes::from));
    match grpc
        .client_streaming(tonic::Request::new(stream), path, RawCodec)
        .await
    {
        Ok(resp) => Answer::Ok(
            resp.into_inner()
                .partial_success
                .map(|p| (p.rejected_data_points, p.error_message)),
        ),
        Err(status) => Answer::Grpc(status.code(), status.message().to_owned()),
    }
}

async fn tcp_send(bytes: &[u8], addr: SocketAddr, half_close: bool) -> Answer {
    let work = async {
        let mut sock = tokio::net::TcpStream::connect(addr).await?;
        sock.write_all(bytes).await?;
        if half_close {
            sock.shutdown().await?;
        }
        let mut out = Vec::new();
        sock.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let text = match tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .expect("the raw TCP exchange ends within 30 s")
    {
        Ok(out) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("<{:?}: {e}>", e.kind()),
    };
    // "HTTP/1.1 400 Bad Request\r\n…": the status, then everything as the body.
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer::Status(status, text)
}

/// Asserts that `answer` is what `expect` says.
pub(crate) fn check(name: &str, expect: &Expect, answer: &Answer) {
    let ok = match (expect, answer) {
        (Expect::Accepted, Answer::Ok(None)) => true,
        (Expect::Accepted, Answer::Ok(Some((0, m)))) => m.is_empty(),
        (
            Expect::Partial {
                rejected, message, ..
            },
            Answer::Ok(Some((r, m))),
        ) => r == rejected && m.contains(message),
        (Expect::Status { status, body }, Answer::Status(s, b)) => s == status && b.contains(body),
        (Expect::Grpc { code, message }, Answer::Grpc(c, m)) => c == code && m.contains(message),
        _ => false,
    };
    assert!(ok, "case {name:?}: got {answer:?}");
}

/// Sends protobuf bytes as they are; decodes the response with prost.
#[derive(Clone, Copy)]
struct RawCodec;

struct RawEncoder;
struct ResponseDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportMetricsServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = ExportMetricsServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportMetricsServiceResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ExportMetricsServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

//! Sends one pre-encoded OTLP metrics request over gRPC or HTTP and reports
//! how it went: accepted (with the points the target said it rejected), or
//! failed with a kind that the report can count.
//!
//! The body arrives already encoded; this module only frames it (tonic for
//! gRPC, a plain POST for OTLP/HTTP, <https://opentelemetry.io/docs/specs/otlp/>)
//! and gzips it when asked. It never retries: a closed-loop load generator
//! counts failures instead of hiding them.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use crate::codec::Raw;

const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Where the load goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// OTLP/gRPC at `HOST:PORT`.
    Grpc(String),
    /// OTLP/HTTP protobuf; requests go to `{base}/v1/metrics`.
    Http(String),
}

impl Target {
    /// How the report names the target.
    pub fn describe(&self) -> String {
        match self {
            Target::Grpc(addr) => format!("grpc://{addr}"),
            Target::Http(url) => format!("{}/v1/metrics", url.trim_end_matches('/')),
        }
    }
}

/// The result of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered OK; `rejected` points came back as a partial success.
    Accepted {
        /// `partial_success.rejected_data_points`.
        rejected: u64,
    },
    /// The target refused it, or it never got an answer. The kind names it for
    /// the report: `grpc UNAVAILABLE`, `http 503`, `timeout`, `transport`.
    Failed(String),
}

/// A connection to the target, cheap to clone (clones share connections).
#[derive(Clone, Debug)]
pub enum Sender {
    /// A tonic channel: one HTTP/2 connection, requests multiplexed on it.
    Grpc {
        /// The tonic client.
        client: tonic::client::Grpc<Channel>,
        /// Per-request deadline.
        timeout: Duration,
    },
    /// A reqwest client with a connection pool.
    Http {
        /// The reqwest client.
        client: reqwest::Client,
        /// `{base}/v1/metrics`.
        url: String,
        /// Gzip each body.
        gzip: bool,
        /// Per-request deadline.
        timeout: Duration,
    },
}

impl Sender {
    /// Connects (gRPC) or prepares a pool (HTTP). Fails when a gRPC target refuses the connection.
    pub async fn connect(target: &Target, gzip: bool, timeout: Duration) -> anyhow::Result<Sender> {
        match target {
            Target::Grpc(addr) => {
                let channel = Endpoint::from_shared(format!("http://{addr}"))
                    .with_context(|| format!("{addr:?} is not HOST:PORT"))?
                    .tcp_nodelay(true)
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to OTLP/gRPC at {addr}"))?;
                let mut client = tonic::client::Grpc::new(channel)
                    .max_decoding_message_size(16 << 20)
                    .max_encoding_message_size(usize::MAX);
                if gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                Ok(Sender::Grpc { client, timeout })
            }
            Target::Http(_) => {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .tcp_nodelay(true)
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build()
                    .context("cannot build the HTTP client")?;
                Ok(Sender::Http {
                    client,
                    url: target.describe(),
                    gzip,
                    timeout,
                })
            }
        }
    }

    /// Sends one encoded `ExportMetricsServiceRequest`.
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match self {
            Sender::Grpc { client, timeout } => {
                let call = async {
                    client.ready().await.map_err(|e| {
                        tonic::Status::unavailable(format!("channel not ready: {e}"))
                    })?;
                    let path = PathAndQuery::from_static(METRICS_PATH);
                    client.unary(tonic::Request::new(body), path, Raw).await
                };
                match tokio::time::timeout(*timeout, call).await {
                    Err(_) => Outcome::Failed("timeout".into()),
                    Ok(Err(status)) => {
                        Outcome::Failed(format!("grpc {}", code_name(status.code())))
                    }
                    Ok(Ok(response)) => accepted(response.into_inner().as_ref()),
                }
            }
            Sender::Http {
                client,
                url,
                gzip,
                timeout,
            } => {
                let mut request = client
                    .post(url.as_str())
                    .timeout(*timeout)
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                let body = if *gzip {
                    request = request.header(http::header::CONTENT_ENCODING, "gzip");
                    match gzip_bytes(&body) {
                        Ok(b) => b,
                        Err(_) => return Outcome::Failed("gzip".into()),
                    }
                } else {
                    body
                };
                let response = match request.body(body).send().await {
                    Ok(r) => r,
                    Err(e) if e.is_timeout() => return Outcome::Failed("timeout".into()),
                    Err(_) => return Outcome::Failed("transport".into()),
                };
                let status = response.status();
                if !status.is_success() {
                    return Outcome::Failed(format!("http {}", status.as_u16()));
                }
                match response.bytes().await {
                    Ok(b) => accepted(&b),
                    Err(e) if e.is_timeout() => Outcome::Failed("timeout".into()),
                    Err(_) => Outcome::Failed("transport".into()),
                }
            }
        }
    }
}

/// An OK answer: read the partial success, if the body is a protobuf response.
/// An empty or JSON body counts as all accepted.
fn accepted(body: &[u8]) -> Outcome {
    let rejected = ExportMetricsServiceResponse::decode(body)
        .ok()
        .and_then(|r| r.partial_success)
        .map_or(0, |p| p.rejected_data_points.max(0) as u64);
    Outcome::Accepted { rejected }
}

/// Gzip at the default level (what tonic uses for gRPC, so both transports cost the same).
pub fn gzip_bytes(body: &[u8]) -> std::io::Result<Bytes> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    enc.write_all(body)?;
    Ok(Bytes::from(enc.finish()?))
}

/// The canonical gRPC status name (`UNAVAILABLE`), as collectors log it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
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

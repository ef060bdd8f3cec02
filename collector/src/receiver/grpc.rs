//! OTLP/gRPC receiver (default `127.0.0.1:4317`): the metrics, trace and logs services, gzip
//! accepted, messages over the configured size refused by tonic: `OUT_OF_RANGE` when the length
//! prefix is over the limit, `RESOURCE_EXHAUSTED` when a compressed message inflates past it.
//!
//! The services are written by hand over tonic's server machinery rather than generated, for
//! one reason: the request message is taken as raw bytes (`RawCodec`), checked and counted by
//! `pipeline::scan`, and forwarded as received; it is decoded only where a pipeline needs the
//! messages. Responses are the ordinary `Export*ServiceResponse` messages. A request that does not
//! scan as the signal's message is answered `INVALID_ARGUMENT`.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use crate::extensions::auth::Authenticator;
use crate::receiver::config::DEFAULT_MAX_CONCURRENT_STREAMS;
use crate::server::conn::{Incoming, Limits};
use crate::server::tls::ServerTls;
use bytes::{Buf, Bytes};
use prost::Message;
use tokio::net::TcpListener;
use tonic::Streaming;
use tonic::body::Body as TonicBody;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{ClientStreamingService, NamedService};
use tonic::{Request, Response, Status};

use super::{Error, Logs, Metrics, Pipeline, Signal, Traces};
use crate::pipeline::BoxFuture;
use crate::pipeline::Tenant;
use crate::rpc;

/// The gRPC receiver.
pub struct Grpc {
    pipeline: Pipeline,
    max_message_size: usize,
    limits: Limits,
    max_concurrent_streams: u32,
    tls: Option<Arc<ServerTls>>,
    auth: Option<Arc<Authenticator>>,
}

impl Grpc {
    /// A receiver feeding `pipeline`, refusing messages over `max_message_size` bytes.
    pub fn new(pipeline: Pipeline, max_message_size: usize) -> Self {
        Grpc {
            pipeline,
            max_message_size,
            limits: Limits::GRPC,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            tls: None,
            auth: None,
        }
    }

    /// Every call must carry credentials `auth` accepts (`UNAUTHENTICATED` otherwise).
    pub fn with_auth(mut self, auth: Option<Arc<Authenticator>>) -> Self {
        self.auth = auth;
        self
    }

    /// Served over `tls` (which offers `h2`).
    pub fn with_tls(mut self, tls: Option<Arc<ServerTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// The listener's `limits` (connection cap, idle rule, call timeout) and the calls one
    /// connection may carry at once.
    pub fn with_limits(mut self, limits: Limits, max_concurrent_streams: u32) -> Self {
        self.limits = limits;
        self.max_concurrent_streams = max_concurrent_streams;
        self
    }

    /// Serve on a bound listener until `shutdown` resolves; `on_ready` runs once serving.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
        on_ready: impl FnOnce(),
    ) -> Result<(), Error> {
        let limit = self.max_message_size;
        on_ready();
        tonic::transport::Server::builder()
            .timeout(self.limits.read_timeout)
            .max_concurrent_streams(self.max_concurrent_streams)
            .add_service(Export::<Metrics>::new(
                self.pipeline.clone(),
                limit,
                self.auth.clone(),
            ))
            .add_service(Export::<Traces>::new(
                self.pipeline.clone(),
                limit,
                self.auth.clone(),
            ))
            .add_service(Export::<Logs>::new(self.pipeline, limit, self.auth))
            // Small responses to large requests: without TCP_NODELAY, Nagle's algorithm and the
            // peer's delayed ACK stall a response by up to 40 ms.
            // The connection cap and idle rule (and TCP_NODELAY): `conn::Incoming`.
            .serve_with_incoming_shutdown(Incoming::new(listener, self.limits, self.tls), shutdown)
            .await?;
        Ok(())
    }
}

/// One OTLP service (`…MetricsService`, `…TraceService`, `…LogsService`).
struct Export<S> {
    pipeline: Pipeline,
    limit: usize,
    auth: Option<Arc<Authenticator>>,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for Export<S> {
    fn clone(&self) -> Self {
        Export {
            pipeline: self.pipeline.clone(),
            limit: self.limit,
            auth: self.auth.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: Signal> Export<S> {
    fn new(pipeline: Pipeline, limit: usize, auth: Option<Arc<Authenticator>>) -> Self {
        Export {
            pipeline,
            limit,
            auth,
            signal: PhantomData,
        }
    }
}

impl NamedService for Export<Metrics> {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}
impl NamedService for Export<Traces> {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}
impl NamedService for Export<Logs> {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

impl<S, B> tower_service::Service<http::Request<B>> for Export<S>
where
    S: Signal,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != S::SIGNAL.grpc_path() {
            let path = req.uri().path().to_owned();
            return Box::pin(async move {
                Ok(Status::unimplemented(format!("no method {path}")).into_http())
            });
        }
        let mut tenant = None;
        if let Some(auth) = &self.auth {
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match auth.authenticate(presented) {
                Ok(t) => tenant = t,
                Err(_) => {
                    return Box::pin(async {
                        Ok(Status::unauthenticated("unauthenticated").into_http())
                    });
                }
            }
        }
        let handler = Handler::<S> {
            pipeline: self.pipeline.clone(),
            tenant,
            signal: PhantomData,
        };
        let limit = self.limit;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec::<S::Response>::default())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit);
            // Served as a client stream so that a second message on a unary call is seen
            // and refused, instead of being dropped unread.
            Ok(grpc.client_streaming(handler, req).await)
        })
    }
}

struct Handler<S> {
    pipeline: Pipeline,
    /// The sender's tenant, from its credential.
    tenant: Tenant,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> ClientStreamingService<Bytes> for Handler<S> {
    type Response = S::Response;
    type Future = BoxFuture<'static, Result<Response<S::Response>, Status>>;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let pipeline = self.pipeline.clone();
        let tenant = self.tenant.clone();
        Box::pin(async move {
            let mut messages = request.into_inner();
            let refuse = |message: &str| {
                pipeline
                    .counters
                    .bad_requests
                    .fetch_add(1, Ordering::Relaxed);
                pipeline
                    .counters
                    .log_refusal(S::SIGNAL, 0, &format!("{message} (OTLP/gRPC)"));
                Status::invalid_argument(message)
            };
            let Some(body) = messages.message().await? else {
                return Err(refuse("the Export call carried no request message"));
            };
            if messages.message().await?.is_some() {
                return Err(refuse(
                    "the Export call carried more than one request message (it is unary)",
                ));
            }
            let work = match pipeline.receive(S::SIGNAL, body) {
                Ok(mut work) => {
                    work.tenant = tenant;
                    work
                }
                Err(e) => {
                    return Err(refuse(&format!("malformed protobuf: {e}")));
                }
            };
            match pipeline.consume(work).await {
                Ok(accepted) => Ok(Response::new(S::response(accepted))),
                Err(refused) if refused.permanent => Err(Status::invalid_argument(refused.reason)),
                Err(refused) => Err(rpc::unavailable(&refused.reason, refused.retry_after)),
            }
        })
    }
}

/// Takes the request message as raw bytes and encodes the response message with prost.
struct RawCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for RawCodec<R> {
    fn default() -> Self {
        RawCodec(PhantomData)
    }
}

impl<R: Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ResponseEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ResponseEncoder<R>(PhantomData<fn() -> R>);

impl<R: Message> Encoder for ResponseEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

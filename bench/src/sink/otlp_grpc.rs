//! The sink's OTLP/gRPC side: the metrics, trace and logs `Export` methods,
//! served by tonic with a pass-through codec so the sink decides whether to
//! decode (tonic still handles framing, gzip, size limits and trailers).

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use prost::Message;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

use super::{FailStatus, Logs, Metrics, Refusal, Signal, State, Traces, rpc_status};
use crate::codec::Raw;

/// Largest accepted message after decompression (forwarders batch generously).
const MAX_MESSAGE: usize = 256 << 20;

/// Serves the three OTLP services on `listener` until the future is dropped.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(Export::<Metrics>::new(state.clone()))
        .add_service(Export::<Traces>::new(state.clone()))
        .add_service(Export::<Logs>::new(state))
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await
}

/// One signal's gRPC service (its only method is `Export`).
struct Export<S> {
    state: Arc<State>,
    signal: PhantomData<fn() -> S>,
}

impl<S> Export<S> {
    fn new(state: Arc<State>) -> Self {
        Export {
            state,
            signal: PhantomData,
        }
    }
}

impl<S> Clone for Export<S> {
    fn clone(&self) -> Self {
        Export::new(self.state.clone())
    }
}

impl<S: Signal> NamedService for Export<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S: Signal> tonic::codegen::Service<http::Request<tonic::body::Body>> for Export<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            if !req.uri().path().ends_with("/Export") {
                let status = Status::unimplemented(format!("{} has only Export", S::GRPC_SERVICE));
                return Ok(status.into_http());
            }
            let mut grpc = tonic::server::Grpc::new(Raw)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_MESSAGE);
            Ok(grpc
                .unary(
                    Handle::<S> {
                        state,
                        signal: PhantomData,
                    },
                    req,
                )
                .await)
        })
    }
}

/// Counts one decoded (decompressed) message.
struct Handle<S> {
    state: Arc<State>,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> tonic::server::UnaryService<Bytes> for Handle<S> {
    type Response = Bytes;
    type Future = Ready<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let body = request.into_inner();
        // Every Export*ServiceResponse with no partial success encodes to zero bytes.
        ready(match self.state.accept::<S>(&body, false) {
            Ok(()) => Ok(tonic::Response::new(Bytes::new())),
            Err(refusal) => Err(status(&refusal, &self.state)),
        })
    }
}

/// The gRPC status for a refusal, with `RetryInfo` for injected failures when configured.
fn status(refusal: &Refusal, state: &State) -> Status {
    match refusal {
        Refusal::Malformed(e) => {
            Status::invalid_argument(format!("cannot decode the request: {e}"))
        }
        Refusal::Injected(fail) => {
            let code = match fail {
                FailStatus::Unavailable => Code::Unavailable,
                FailStatus::TooManyRequests => Code::ResourceExhausted,
                FailStatus::BadRequest => Code::InvalidArgument,
            };
            let message = "vigil-load sink: failing this request as told (--fail-first)";
            match state.retry_after {
                Some(d) => {
                    let details = rpc_status(code, message, Some(d)).encode_to_vec();
                    Status::with_details(code, message, Bytes::from(details))
                }
                None => Status::new(code, message),
            }
        }
    }
}

//! OTLP/gRPC receiver (default `127.0.0.1:4317`): the metrics, trace and logs
//! services, gzip accepted, messages over the configured size refused by
//! tonic: `OUT_OF_RANGE` when the length prefix is over the limit,
//! `RESOURCE_EXHAUSTED` when a compressed message inflates past it.
//!
//! Malformed protobuf is answered by tonic's codec before our code runs; we
//! cannot turn its status into `INVALID_ARGUMENT`, and document that as the
//! one place the receiver's status differs from the HTTP receiver's 400.

use std::future::Future;
use std::sync::atomic::Ordering;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::{Error, Logs, Metrics, Pipeline, Signal, Traces};

/// The gRPC receiver.
pub struct Grpc {
    pipeline: Pipeline,
    max_message_size: usize,
}

impl Grpc {
    /// A receiver feeding `pipeline`, refusing messages over `max_message_size` bytes.
    pub fn new(pipeline: Pipeline, max_message_size: usize) -> Self {
        Grpc {
            pipeline,
            max_message_size,
        }
    }

    /// Serve on a bound listener until `shutdown` resolves; `on_ready` runs once serving.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
        on_ready: impl FnOnce(),
    ) -> Result<(), Error> {
        let limit = self.max_message_size;
        let handler = Handler(self.pipeline);
        let metrics = MetricsServiceServer::new(handler.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        let traces = TraceServiceServer::new(handler.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        let logs = LogsServiceServer::new(handler)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        on_ready();
        tonic::transport::Server::builder()
            .add_service(metrics)
            .add_service(traces)
            .add_service(logs)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await?;
        Ok(())
    }
}

#[derive(Clone)]
struct Handler(Pipeline);

impl Handler {
    async fn run<S: Signal>(&self, req: S::Request) -> Result<Response<S::Response>, Status> {
        let pipeline = self.0.clone();
        // Ingest is CPU work under the store's lock; keep it off the async workers.
        match tokio::task::spawn_blocking(move || S::handle(&pipeline, req)).await {
            Ok(resp) => Ok(Response::new(resp)),
            Err(e) => {
                self.0.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "ingest task failed");
                Err(Status::internal(
                    "the collector failed to process this request",
                ))
            }
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Handler {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.run::<Metrics>(request.into_inner()).await
    }
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.run::<Traces>(request.into_inner()).await
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.run::<Logs>(request.into_inner()).await
    }
}

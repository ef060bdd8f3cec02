//! Receivers under back-pressure: a full queue is told to the sender as retryable, with a
//! delay, over both transports; a signal no pipeline takes is acknowledged and counted as
//! dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use tower::ServiceExt;

use super::grpc::Grpc;
use super::{Counters, Pipeline, bind, http};
use crate::pipeline::graph::{self, Target};
use crate::pipeline::memory_queue::MemoryQueue;
use crate::pipeline::{Entry, Queue, Signal};
use crate::rpc::{RETRY_INFO_TYPE, RetryInfo, RpcStatus};
use crate::test_support::{int_point, logs_request, request_with, sum};

/// A receiver whose only metrics pipeline ends in a queue that is already full.
async fn full_pipeline() -> (Pipeline, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(1));
    let permit = queue.try_reserve().unwrap();
    let filler = crate::pipeline::Batch {
        signal: Signal::Metrics,
        body: Default::default(),
        items: 0,
        tenant: None,
    };
    queue.push(permit, filler).await.unwrap();
    let mut entry = Entry::default();
    entry.add(
        Signal::Metrics,
        graph::fanout(
            "metrics".into(),
            vec![Arc::new(Target::Queue {
                id: "otlp".into(),
                queue: queue.clone(),
            })],
        ),
        false,
    );
    let pipeline = Pipeline {
        entry: Arc::new(entry),
        counters: Arc::new(Counters::default()),
    };
    (pipeline, queue)
}

fn body() -> Vec<u8> {
    request_with(vec![sum("jobs", vec![int_point(1, vec![])])]).encode_to_vec()
}

#[tokio::test]
async fn a_full_queue_is_http_503_with_retry_after() {
    let (pipeline, _queue) = full_pipeline().await;
    let req = Request::post("/v1/metrics")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(body()))
        .unwrap();
    let resp = http::router(pipeline.clone(), 1 << 20)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let status = RpcStatus::decode(bytes).unwrap();
    assert_eq!(status.code, 14, "UNAVAILABLE");
    assert!(
        status.message.contains("sending queue is full"),
        "{}",
        status.message
    );
    assert_eq!(pipeline.counters.metrics.refused.load(Ordering::Relaxed), 1);
    assert_eq!(
        pipeline.counters.metrics.accepted.load(Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn a_full_queue_is_grpc_unavailable_with_retry_info() {
    let (pipeline, _queue) = full_pipeline().await;
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = Grpc::new(pipeline, 1 << 20);
    let task = tokio::spawn(server.serve(listener, stop.clone().cancelled_owned(), || {}));
    let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let request = request_with(vec![sum("jobs", vec![int_point(1, vec![])])]);
    let status = client.export(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let details = RpcStatus::decode(status.details()).unwrap();
    assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE);
    let info = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
    assert_eq!(info.retry_delay.map(|d| d.seconds), Some(5));
    drop(client);
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_signal_without_a_pipeline_is_acknowledged_and_counted_as_dropped() {
    let (pipeline, queue) = full_pipeline().await;
    let req = Request::post("/v1/logs")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(logs_request(3).encode_to_vec()))
        .unwrap();
    let resp = http::router(pipeline.clone(), 1 << 20)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(pipeline.counters.logs.accepted.load(Ordering::Relaxed), 3);
    assert_eq!(pipeline.counters.logs.dropped.load(Ordering::Relaxed), 3);
    assert_eq!(queue.len(), 1, "nothing reached the metrics queue");
}

#[tokio::test]
async fn malformed_protobuf_over_grpc_is_invalid_argument() {
    let (pipeline, _queue) = full_pipeline().await;
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let counters = pipeline.counters.clone();
    let task = tokio::spawn(Grpc::new(pipeline, 1 << 20).serve(
        listener,
        stop.clone().cancelled_owned(),
        || {},
    ));
    // A raw unary call whose message is a truncated length-delimited field.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = ::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    );
    let result: Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
        >,
        tonic::Status,
    > = grpc
        .unary(
            tonic::Request::new(TruncatedMessage),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with("malformed protobuf"),
        "{}",
        status.message()
    );
    assert_eq!(counters.bad_requests.load(Ordering::Relaxed), 1);
    stop.cancel();
    let _ = task.await;
}

/// Encodes as field 1 (resource_metrics), length 5, followed by only 1 byte.
#[derive(Clone, Debug, Default, PartialEq)]
struct TruncatedMessage;

impl Message for TruncatedMessage {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&[0x0a, 0x05, 0x01]);
    }
    fn merge_field(
        &mut self,
        _tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, _tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        3
    }
    fn clear(&mut self) {}
}

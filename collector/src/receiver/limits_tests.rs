//! The listeners' connection limits on real sockets: slowloris and idle connections are closed
//! by their timeouts, a stalled body gets 408, a declared oversize body 413 before it is read,
//! a full listener turns new connections away while a normal client is served once a slot frees,
//! and a gzip body of several members is read whole.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{self, Running};
use crate::config::Config;
use crate::test_support::{int_point, kv, request_with, sum};

async fn collector(http: &str, grpc: &str) -> Running {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n{grpc}      http:\n        endpoint: 127.0.0.1:0\n{http}\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    );
    let config = Config::from_yaml_str(&yaml, "limits test").unwrap();
    app::start(&config).await.unwrap()
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
async fn until_closed(tcp: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {within:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

fn body() -> Vec<u8> {
    request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "a")])])]).encode_to_vec()
}

fn post(addr: SocketAddr, body_len: usize, extra: &str) -> String {
    format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {body_len}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn slowloris_headers_are_cut_at_read_header_timeout() {
    let vigil = collector("        read_header_timeout: 300ms\n", "").await;
    let addr = vigil.http_addr.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    vigil.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_idle_timeout() {
    let vigil = collector("        idle_timeout: 300ms\n", "").await;
    let addr = vigil.http_addr.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let b = body();
    tcp.write_all(post(addr, b.len(), "").as_bytes())
        .await
        .unwrap();
    tcp.write_all(&b).await.unwrap();
    let (answer, took) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    vigil.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_at_read_timeout() {
    let vigil = collector("        read_timeout: 300ms\n", "").await;
    let addr = vigil.http_addr.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(post(addr, 100, "").as_bytes()).await.unwrap();
    tcp.write_all(&[0u8; 10]).await.unwrap();
    let (answer, _) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("did not arrive within 300ms (read_timeout)"),
        "{answer}"
    );
    vigil.shutdown().await;
}

#[tokio::test]
async fn a_declared_oversize_body_is_refused_before_it_is_read() {
    let vigil = collector("        max_request_body_size: 1000\n", "").await;
    let addr = vigil.http_addr.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // 10 GB declared, nothing sent: the answer comes at once.
    tcp.write_all(post(addr, 10_000_000_000, "").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf))
        .await
        .expect("an answer without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    vigil.shutdown().await;
}

#[tokio::test]
async fn a_full_listener_turns_connections_away_and_serves_again_when_a_slot_frees() {
    let vigil = collector(
        "        max_connections: 2\n",
        "        max_connections: 1\n",
    )
    .await;
    let (http, grpc) = (vigil.http_addr.unwrap(), vigil.grpc_addr.unwrap());
    let idle1 = TcpStream::connect(http).await.unwrap();
    let _idle2 = TcpStream::connect(http).await.unwrap();
    // Give the accept loop time to take both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(http).await.unwrap();
    let (answer, took) = until_closed(&mut third, Duration::from_secs(3)).await;
    assert_eq!(answer, "");
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(idle1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{http}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // gRPC: one slot, held; the next connection is closed at once.
    let _held = TcpStream::connect(grpc).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = TcpStream::connect(grpc).await.unwrap();
    let (answer, _) = until_closed(&mut second, Duration::from_secs(3)).await;
    assert_eq!(answer, "");
    vigil.shutdown().await;
}

#[tokio::test]
async fn an_idle_grpc_connection_is_closed_at_max_connection_idle() {
    let vigil = collector(
        "",
        "        keepalive:\n          server_parameters:\n            max_connection_idle: 300ms\n",
    )
    .await;
    let mut tcp = TcpStream::connect(vigil.grpc_addr.unwrap()).await.unwrap();
    let (_, took) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    vigil.shutdown().await;
}

#[tokio::test]
async fn every_member_of_a_gzip_body_is_read() {
    let vigil = collector("", "").await;
    let addr = vigil.http_addr.unwrap();
    // Two requests, each its own gzip member: together one request with both points.
    let first = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "a")])])]);
    let second = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "b")])])]);
    let mut gz = Vec::new();
    for part in [first.encode_to_vec(), second.encode_to_vec()] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&part).unwrap();
        gz.extend(e.finish().unwrap());
    }
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 2);
    vigil.shutdown().await;
}

#[test]
fn zero_and_out_of_range_limits_are_refused_with_their_key() {
    let err = |protocols: &str| {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n{protocols}exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
        );
        Config::from_yaml_str(&yaml, "t").unwrap_err().to_string()
    };
    let e = err("      http:\n        idle_timeout: 0s\n");
    assert!(
        e.contains("receivers.otlp.protocols.http.idle_timeout")
            && e.contains("must be more than 0"),
        "{e}"
    );
    let e = err("      grpc:\n        max_connections: 0\n");
    assert!(
        e.contains("receivers.otlp.protocols.grpc.max_connections")
            && e.contains("0 is out of range (1 to 65536)"),
        "{e}"
    );
    let e = err("      grpc:\n        max_concurrent_streams: 0\n");
    assert!(
        e.contains("receivers.otlp.protocols.grpc.max_concurrent_streams")
            && e.contains("must be at least 1"),
        "{e}"
    );
    let e = err("      http:\n        read_timeout: soon\n");
    assert!(
        e.contains("receivers.otlp.protocols.http.read_timeout"),
        "{e}"
    );
}

/// Calls Export with `messages` request messages on one stream.
async fn export_stream(
    addr: SocketAddr,
    messages: Vec<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
) -> Result<(), tonic::Status> {
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
    let response: Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
        >,
        tonic::Status,
    > = grpc
        .client_streaming(
            tonic::Request::new(tokio_stream_iter(messages)),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await;
    response.map(drop)
}

fn tokio_stream_iter<T: Send + 'static>(
    items: Vec<T>,
) -> impl futures_core::Stream<Item = T> + Send {
    struct Iter<T>(std::vec::IntoIter<T>);
    impl<T> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    impl<T> Unpin for Iter<T> {}
    Iter(items.into_iter())
}

#[tokio::test]
async fn a_second_message_on_a_unary_call_is_refused_not_dropped() {
    let vigil = collector("", "").await;
    let addr = vigil.grpc_addr.unwrap();
    let one = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "a")])])]);
    let two = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "b")])])]);
    let status = export_stream(addr, vec![one.clone(), two])
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.message(),
        "the Export call carried more than one request message (it is unary)"
    );
    assert_eq!(
        vigil.store.as_deref().unwrap().series_count(),
        0,
        "nothing half-taken"
    );
    let status = export_stream(addr, vec![]).await.unwrap_err();
    assert_eq!(
        status.message(),
        "the Export call carried no request message"
    );
    export_stream(addr, vec![one]).await.unwrap();
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 1);
    vigil.shutdown().await;
}

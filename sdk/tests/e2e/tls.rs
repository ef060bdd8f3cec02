//! The OTLP exporters over TLS (issue 12, item 3): a CA made at test time,
//! receivers that record what they got, and the SDK configured with the
//! builder's TLS methods.
//!
//! - gRPC: tonic's server with `ServerTlsConfig` and opentelemetry-proto's
//!   generated `MetricsServiceServer`;
//! - HTTP: hyper over tokio-rustls answering `POST /v1/metrics`.
//!
//! Each receiver runs on a runtime of its own; the SDK is built, flushed and
//! shut down from the test thread, as an application's `main` would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use vigil::init::Protocol;

use crate::pki::Pki;

/// Metric names a receiver got, in order.
type Received = Arc<Mutex<Vec<String>>>;

fn names(request: &ExportMetricsServiceRequest) -> Vec<String> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect()
}

/// A receiver and the runtime serving it (dropped with it).
struct Receiver {
    addr: SocketAddr,
    received: Received,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn got(&self, name: &str) -> bool {
        self.received
            .lock()
            .expect("receiver lock")
            .iter()
            .any(|n| n == name)
    }
}

#[derive(Clone)]
struct Grpc(Received);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("receiver lock")
            .extend(names(request.get_ref()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver over TLS, demanding a client certificate when `mtls`.
fn grpc_receiver(pki: &Pki, mtls: bool) -> Receiver {
    // tonic's server builds its rustls configuration with the process-wide
    // provider. Test-only: the SDK's clients name theirs and need none.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("test receiver");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("test receiver");
    let addr = listener.local_addr().expect("test receiver");
    let mut tls =
        ServerTlsConfig::new().identity(Identity::from_pem(&pki.server_pem, &pki.server_key_pem));
    if mtls {
        tls = tls.client_ca_root(Certificate::from_pem(&pki.ca_pem));
    }
    let received = Received::default();
    let server = tonic::transport::Server::builder()
        .tls_config(tls)
        .expect("test receiver")
        .add_service(MetricsServiceServer::new(Grpc(received.clone())))
        .serve_with_incoming(TcpIncoming::from(listener));
    runtime.spawn(server);
    Receiver {
        addr,
        received,
        _runtime: runtime,
    }
}

/// An OTLP/HTTP receiver over TLS (`POST /v1/metrics`, protobuf),
/// demanding a client certificate when `mtls`.
fn http_receiver(pki: &Pki, mtls: bool) -> Receiver {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("test receiver");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("test receiver");
    let addr = listener.local_addr().expect("test receiver");
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.rustls_server(mtls, &[b"http/1.1"]));
    let received = Received::default();
    let sink = received.clone();
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let sink = sink.clone();
            tokio::spawn(async move {
                // A refused handshake is the point of some tests.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    let sink = sink.clone();
                    async move { Ok::<_, hyper::Error>(handle(request, &sink).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Receiver {
        addr,
        received,
        _runtime: runtime,
    }
}

async fn handle(
    request: hyper::Request<Incoming>,
    sink: &Received,
) -> hyper::Response<Full<Bytes>> {
    let path_ok = request.uri().path() == "/v1/metrics";
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    let status = match (path_ok, body.map(ExportMetricsServiceRequest::decode)) {
        (true, Ok(Ok(export))) => {
            sink.lock().expect("receiver lock").extend(names(&export));
            200
        }
        _ => 400,
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(
        ExportMetricsServiceResponse::default().encode_to_vec(),
    )));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("test receiver");
    response.headers_mut().insert(
        "content-type",
        "application/x-protobuf".parse().expect("test receiver"),
    );
    response
}

/// What the client side is given.
#[derive(Clone, Copy)]
struct Client {
    protocol: Protocol,
    ca: bool,
    identity: bool,
}

/// Builds the SDK against `receiver`, records `name`, and flushes: the
/// flush's outcome, message included.
fn export(pki: &Pki, receiver: &Receiver, client: Client, name: &str) -> Result<(), String> {
    let mut builder = vigil::builder()
        .with_protocol(client.protocol)
        .with_endpoint(format!("https://{}", receiver.addr))
        .with_shutdown_timeout(Duration::from_secs(20));
    if client.ca {
        builder = builder.with_certificate(pki.ca_file());
    }
    if client.identity {
        builder = builder
            .with_client_certificate(pki.client_cert_file())
            .with_client_key(pki.client_key_file());
    }
    let guard = builder.build().map_err(|e| format!("build: {e:?}"))?;
    guard
        .meter()
        .u64_counter(name.to_string())
        .build()
        .add(1, &[]);
    let flushed = guard.force_flush().map_err(|e| e.to_string());
    drop(guard);
    flushed
}

const GRPC: Protocol = Protocol::Grpc;
const HTTP: Protocol = Protocol::HttpProtobuf;

#[test]
fn grpc_exports_over_tls_trusting_a_custom_ca() {
    let pki = Pki::new();
    let receiver = grpc_receiver(&pki, false);
    let client = Client {
        protocol: GRPC,
        ca: true,
        identity: false,
    };
    export(&pki, &receiver, client, "vigil.e2e.grpc_tls").expect("test receiver");
    assert!(
        receiver.got("vigil.e2e.grpc_tls"),
        "{:?}",
        receiver.received
    );
}

#[test]
fn grpc_without_the_ca_is_refused_because_the_system_roots_do_not_know_it() {
    let pki = Pki::new();
    let receiver = grpc_receiver(&pki, false);
    let client = Client {
        protocol: GRPC,
        ca: false,
        identity: false,
    };
    let error = export(&pki, &receiver, client, "vigil.e2e.grpc_untrusted").unwrap_err();
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(receiver.received.lock().expect("receiver lock").is_empty());
}

#[test]
fn grpc_mutual_tls_needs_the_client_certificate() {
    let pki = Pki::new();
    let receiver = grpc_receiver(&pki, true);
    let with = Client {
        protocol: GRPC,
        ca: true,
        identity: true,
    };
    export(&pki, &receiver, with, "vigil.e2e.grpc_mtls").expect("test receiver");
    assert!(
        receiver.got("vigil.e2e.grpc_mtls"),
        "{:?}",
        receiver.received
    );

    let without = Client {
        identity: false,
        ..with
    };
    let error = export(&pki, &receiver, without, "vigil.e2e.grpc_anonymous").unwrap_err();
    assert!(error.contains("metrics"), "{error}");
    assert!(!receiver.got("vigil.e2e.grpc_anonymous"));
}

#[test]
fn http_exports_over_tls_trusting_a_custom_ca_and_is_refused_without_it() {
    let pki = Pki::new();
    let receiver = http_receiver(&pki, false);
    let with = Client {
        protocol: HTTP,
        ca: true,
        identity: false,
    };
    export(&pki, &receiver, with, "vigil.e2e.http_tls").expect("test receiver");
    assert!(
        receiver.got("vigil.e2e.http_tls"),
        "{:?}",
        receiver.received
    );

    let without = Client { ca: false, ..with };
    let error = export(&pki, &receiver, without, "vigil.e2e.http_untrusted").unwrap_err();
    // The transport's own reason, not only opentelemetry-otlp's "network error".
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(!receiver.got("vigil.e2e.http_untrusted"));
}

#[test]
fn http_mutual_tls_needs_the_client_certificate() {
    let pki = Pki::new();
    let receiver = http_receiver(&pki, true);
    let with = Client {
        protocol: HTTP,
        ca: true,
        identity: true,
    };
    export(&pki, &receiver, with, "vigil.e2e.http_mtls").expect("test receiver");
    assert!(
        receiver.got("vigil.e2e.http_mtls"),
        "{:?}",
        receiver.received
    );

    let without = Client {
        identity: false,
        ..with
    };
    let error = export(&pki, &receiver, without, "vigil.e2e.http_anonymous").unwrap_err();
    assert!(error.contains("metrics"), "{error}");
    assert!(!receiver.got("vigil.e2e.http_anonymous"));
}

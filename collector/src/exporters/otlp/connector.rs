//! Opens the gRPC channel's connections: TCP, then TLS with the exporter's own rustls
//! configuration when the endpoint is `https`.
//!
//! tonic's built-in TLS cannot skip verification, and its TLS features would make every
//! `https` endpoint without tonic's own TLS settings fail ("Connecting to HTTPS without TLS
//! enabled"), so they stay off and this connector does the handshake itself. It is handed to
//! [`tonic::transport::Endpoint::connect_with_connector_lazy`], which applies the connect
//! timeout around it (handshake included) and reconnects through it after a failure.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::exporters::common::TlsSettings;

/// A connection: plaintext or TLS.
pub(super) type Io = TokioIo<Either<TcpStream, TlsStream<TcpStream>>>;

/// Connects to the URI tonic asks for, with TLS when configured.
#[derive(Clone)]
pub(super) struct Connector {
    tls: Option<TlsConnector>,
    /// `tls.server_name_override`: the SNI and name to verify, instead of the URI's host.
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    /// A connector that uses `tls` when given.
    pub(super) fn new(tls: Option<&TlsSettings>) -> Connector {
        Connector {
            tls: tls.map(|t| TlsConnector::from(Arc::clone(&t.client_config))),
            server_name: tls.and_then(|t| t.server_name_override.clone()),
        }
    }
}

impl tower::Service<Uri> for Connector {
    type Response = Io;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Io, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "endpoint has no host")
            })?;
            // An IPv6 literal comes bracketed (`[::1]`).
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri
                .port_u16()
                .unwrap_or(if tls.is_some() { 443 } else { 80 });
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let Some(tls) = tls else {
                return Ok(TokioIo::new(Either::Left(tcp)));
            };
            let name = match server_name {
                Some(name) => name,
                None => ServerName::try_from(host).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("endpoint host: {e}"))
                })?,
            };
            let stream = tls.connect(name, tcp).await?;
            Ok(TokioIo::new(Either::Right(stream)))
        })
    }
}

//! Opens the forwarding exporters' connections: TCP, then TLS with the exporter's own rustls
//! configuration when the URI is `https`.
//!
//! One connector serves both clients: tonic's channel (through
//! [`tonic::transport::Endpoint::connect_with_connector_lazy`], which wraps it in the connect
//! timeout and reconnects through it) and hyper-util's pooled HTTP/1.1 client. Neither client's
//! own TLS is used: tonic's cannot skip verification and its TLS features would make every
//! `https` endpoint without tonic's own TLS settings fail; reqwest's rustls features would make
//! every other reqwest client in the build (the SDK's OTLP/HTTP exporter) panic for want of a
//! process-wide crypto provider. Doing the handshake here also lets `server_name_override` set
//! the SNI for both.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::TlsSettings;

/// Connects to the URIs its client asks for, with TLS for `https`.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: Option<TlsConnector>,
    /// TLS whenever `tls` is set, whatever the URI's scheme (see [`Connector::always`]).
    always: bool,
    /// `tls.server_name_override`: the SNI and name to verify, instead of the URI's host.
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    /// A connector that uses `tls` for `https` URIs (which fail without it).
    pub(crate) fn new(tls: Option<&TlsSettings>) -> Connector {
        Connector {
            tls: tls.map(|t| TlsConnector::from(Arc::clone(&t.client_config))),
            always: false,
            server_name: tls.and_then(|t| t.server_name_override.clone()),
        }
    }

    /// A connector that uses `tls`, when set, for every URI. The gRPC exporter hands tonic
    /// `http://` URIs: once any crate in the build enables tonic's own TLS features (the SDK's
    /// exporters do), tonic refuses to give an `https` URI to a custom connector.
    pub(crate) fn always(tls: Option<&TlsSettings>) -> Connector {
        Connector {
            always: true,
            ..Connector::new(tls)
        }
    }
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https") || (self.always && self.tls.is_some());
        let tls = self.tls.clone();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| invalid("the endpoint has no host"))?;
            // An IPv6 literal comes bracketed (`[::1]`).
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            if !https {
                return Ok(TokioIo::new(Stream::Plain(tcp)));
            }
            let tls = tls.ok_or_else(|| invalid("an https endpoint without TLS settings"))?;
            let name = match server_name {
                Some(name) => name,
                None => ServerName::try_from(host)
                    .map_err(|e| invalid(&format!("the endpoint's host: {e}")))?,
            };
            let stream = tls.connect(name, tcp).await?;
            Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
        })
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

// === impl Stream ===

/// A connection, plaintext or TLS.
pub(crate) enum Stream {
    /// `http`.
    Plain(TcpStream),
    /// `https`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        // The HTTP client offers only http/1.1 over TLS, so there is no `h2` to report.
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

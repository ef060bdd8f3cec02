//! Connection limits for every listener: how many connections one listener holds, how long a
//! client may take to send its headers, and how long a connection may sit without a byte moving.
//!
//! Without them a client can hold a socket forever (slowloris, idle keep-alive, a body that
//! never ends), and enough such sockets exhaust the process' file descriptors, after which no
//! port answers. So each listener accepts at most `max_connections` at once (one more is
//! accepted and closed at once, so it fails fast instead of waiting in the backlog, and the first
//! refusal of a burst is logged); headers must arrive within `read_header_timeout`; and a
//! connection on which nothing is read or written for `idle_timeout` is closed ([`Idle`]). The
//! gRPC receiver uses the same cap and idle rule through [`Incoming`]; request bodies are bounded
//! in time by their receivers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::tls::ServerTls;

/// A listener's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections held at once.
    pub max_connections: usize,
    /// Time for a client to send a request's headers (HTTP/1).
    pub read_header_timeout: Duration,
    /// Time without a byte read or written after which a connection is closed.
    pub idle_timeout: Duration,
    /// Time for a whole request (its body read, for HTTP; the call, for gRPC).
    pub read_timeout: Duration,
}

/// Connections per listener by default: three listeners stay well under a 1,024 descriptor limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Headers must arrive within this, by default.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP connection idle this long is closed, by default (the OpenTelemetry Collector's 1m).
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A gRPC connection idle this long is closed, by default: longer than an SDK's 60 s export
/// interval, so a client exporting every minute keeps its connection.
pub const DEFAULT_GRPC_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A request must be read (HTTP body) or answered (gRPC call) within this, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Limits {
    /// The defaults for an HTTP listener.
    pub const HTTP: Limits = Limits {
        max_connections: DEFAULT_MAX_CONNECTIONS,
        read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
        idle_timeout: DEFAULT_HTTP_IDLE_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };

    /// The defaults for a gRPC listener.
    pub const GRPC: Limits = Limits {
        max_connections: DEFAULT_MAX_CONNECTIONS,
        read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
        idle_timeout: DEFAULT_GRPC_IDLE_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };
}

/// Serves `router` over HTTP/1.1 and HTTP/2 on `listener` within `limits`, until `shutdown`;
/// then stops accepting and lets open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let shutdown = stop;
    let gate = Gate::new(limits.max_connections);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout);
    let builder = Arc::new(builder);
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or similar: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(permit) = gate.admit() else { continue };
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Some(io) = establish(tcp, limits, tls.as_deref()).await else {
                return;
            };
            let io = TokioIo::new(io);
            let conn = builder.serve_connection(io, service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

/// Admission of connections to one listener.
#[derive(Clone)]
pub struct Gate {
    slots: Arc<Semaphore>,
    max: usize,
    refused: Arc<AtomicU64>,
}

impl Gate {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A slot for one more connection, or `None` when the listener is full (the caller drops
    /// the connection). The first refusal after a quiet spell is logged.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.refused.store(0, Ordering::Relaxed);
                Some(permit)
            }
            Err(_) => {
                if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        max_connections = self.max,
                        "connection refused: the listener holds its maximum of connections"
                    );
                }
                None
            }
        }
    }
}

/// A connection's socket: plain, or TLS over it; either way under the idle rule.
pub enum Conn {
    /// Plaintext.
    Plain(Idle<TcpStream>),
    /// TLS.
    Tls(Box<tokio_rustls::server::TlsStream<Idle<TcpStream>>>),
}

/// The socket of an accepted connection, after the TLS handshake when the listener has TLS
/// (bounded by `read_header_timeout`); `None` when the handshake failed.
async fn establish(tcp: TcpStream, limits: Limits, tls: Option<&ServerTls>) -> Option<Conn> {
    let _ = tcp.set_nodelay(true);
    let io = Idle::new(tcp, limits.idle_timeout);
    let Some(tls) = tls else {
        return Some(Conn::Plain(io));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    match tokio::time::timeout(limits.read_header_timeout, acceptor.accept(io)).await {
        Ok(Ok(stream)) => Some(Conn::Tls(Box::new(stream))),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake did not finish within read_header_timeout");
            None
        }
    }
}

/// Accepts gRPC connections within `limits` (cap, idle rule, TLS handshake off the accept
/// path), as tonic's incoming stream.
pub struct Incoming {
    ready: tokio::sync::mpsc::Receiver<Admitted>,
}

impl Incoming {
    /// Connections from `listener` within `limits`, over `tls` when given.
    pub fn new(listener: TcpListener, limits: Limits, tls: Option<Arc<ServerTls>>) -> Incoming {
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let gate = Gate::new(limits.max_connections);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(permit) = gate.admit() else { continue };
                let (tx, tls) = (tx.clone(), tls.clone());
                tokio::spawn(async move {
                    if let Some(io) = establish(tcp, limits, tls.as_deref()).await {
                        let _ = tx
                            .send(Admitted {
                                io,
                                _permit: permit,
                            })
                            .await;
                    }
                });
            }
        });
        Incoming { ready }
    }
}

impl futures_core::Stream for Incoming {
    type Item = io::Result<Admitted>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.ready.poll_recv(cx).map(|next| next.map(Ok))
    }
}

/// An admitted gRPC connection: its socket and its slot.
pub struct Admitted {
    io: Conn,
    _permit: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Admitted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.io {
            Conn::Plain(idle) => idle.io.connect_info(),
            Conn::Tls(tls) => tls.get_ref().0.io.connect_info(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }
    // Vectored writes are forwarded by every wrapper here: hyper writes a response body in
    // place only through a socket that says it takes several buffers at once, and copies
    // each body into its own buffer first through one that does not.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(io) => io.is_write_vectored(),
            Conn::Tls(io) => io.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_flush(cx),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Conn::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A socket that fails its reads once nothing was read or written for `idle`, which ends the
/// connection that is reading it.
pub struct Idle<T> {
    io: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    /// Wraps `io`.
    pub fn new(io: T, idle: Duration) -> Idle<T> {
        Idle {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn active(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                ready!(self.deadline.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle past idle_timeout",
                )))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write(cx, buf));
        if matches!(written, Ok(n) if n > 0) {
            self.active();
        }
        Poll::Ready(written)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs));
        if matches!(written, Ok(n) if n > 0) {
            self.active();
        }
        Poll::Ready(written)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// hyper writes a response body in place only through a socket that says it can take
    /// several buffers at once; a wrapper that hid that made it copy every page first.
    #[tokio::test]
    async fn wrappers_keep_the_sockets_vectored_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(server.is_write_vectored());
        let mut conn = Conn::Plain(Idle::new(server, Duration::from_secs(5)));
        assert!(conn.is_write_vectored());
        let parts = [IoSlice::new(b"hello, "), IoSlice::new(b"page")];
        let mut written = 0;
        while written < 11 {
            let rest: Vec<IoSlice<'_>> = match written {
                0 => parts.to_vec(),
                n if n < 7 => vec![IoSlice::new(&b"hello, "[n..]), parts[1]],
                n => vec![IoSlice::new(&b"page"[n - 7..])],
            };
            written += conn.write_vectored(&rest).await.unwrap();
        }
        conn.shutdown().await.unwrap();
        let mut got = String::new();
        let mut client = client;
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "hello, page");
    }
}

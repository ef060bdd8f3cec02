//! The `http_service` example's service: an axum router with a path
//! parameter, a WebSocket endpoint and a 404 fallback, and the pending-uploads
//! store its garbage-collecting sweeper works on.
//!
//! It is the Go platform's hand-written `/metrics` surface rebuilt on Vigil:
//! the request counters keyed by route template come from
//! [`vigil::http::layer`], the active-WebSocket gauge from
//! [`vigil::connections::Connections`], and the GC counters by
//! `outcome={acked,expired,error}` from a [`vigil::sweep::Sweeper`] running
//! [`Uploads::collect`]. The example binary (`examples/http_service.rs`)
//! wires these together; [`client`] is the few lines of HTTP/1.1 and
//! WebSocket handshake it uses to drive itself, so that no HTTP client crate
//! is needed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use vigil::connections::Connections;
use vigil::sweep::Items;

vigil::label! {
    /// What the GC did with each pending upload it looked at.
    pub enum Gc = "outcome" {
        /// The client acknowledged the upload: its pending record is dropped.
        Acked = "acked",
        /// Never acknowledged within the TTL: blob and record deleted.
        Expired = "expired",
        /// Deleting the blob failed; the upload is retried on the next run.
        Error = "error",
    }
}

/// What the router's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Pending uploads, swept by the GC.
    pub uploads: Arc<Uploads>,
    /// Open WebSockets (`platform.connections.active{connection.kind="websocket"}`).
    pub websockets: Arc<Connections>,
    /// Cancelled at shutdown: open WebSockets close.
    pub shutdown: CancellationToken,
}

/// The service's routes, wrapped in Vigil's HTTP metrics layer.
///
/// The layer is added last so that it wraps every route and the fallback,
/// and reads the template axum matched (`/workspaces/{id}`), never the raw
/// path. The fallback's 404s are recorded without `http.route`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/workspaces/{id}", get(workspace))
        .route("/uploads", post(create_upload))
        .route("/uploads/{id}/ack", post(ack_upload))
        .route("/ws", get(websocket))
        .fallback(not_found)
        .with_state(state)
        .layer(
            vigil::http::MetricsLayer::builder()
                .with_route(|parts| {
                    parts
                        .extensions
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                })
                .build(),
        )
}

#[derive(Serialize)]
struct Workspace {
    id: u64,
    name: String,
}

async fn workspace(Path(id): Path<u64>) -> Json<Workspace> {
    Json(Workspace {
        id,
        name: format!("workspace-{id}"),
    })
}

#[derive(Serialize)]
struct Created {
    id: u64,
}

async fn create_upload(State(state): State<AppState>) -> (StatusCode, Json<Created>) {
    let id = state.uploads.create(SystemTime::now());
    (StatusCode::CREATED, Json(Created { id }))
}

async fn ack_upload(State(state): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    if state.uploads.ack(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "no such route\n")
}

async fn websocket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| echo(socket, state))
}

/// Echoes text and binary messages until the client closes or the service
/// shuts down. The guard keeps the connection counted for exactly as long as
/// this task runs, whichever way it ends.
async fn echo(mut socket: WebSocket, state: AppState) {
    let _open = state.websockets.open(());
    loop {
        let message = tokio::select! {
            () = state.shutdown.cancelled() => break,
            message = socket.recv() => message,
        };
        match message {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
}

// === impl Uploads ===

/// Pending uploads: created by `POST /uploads`, acknowledged by
/// `POST /uploads/{id}/ack`, and removed by the GC once acknowledged or past
/// their TTL.
#[derive(Debug)]
pub struct Uploads {
    ttl: Duration,
    next_id: AtomicU64,
    pending: Mutex<BTreeMap<u64, Upload>>,
}

#[derive(Debug)]
struct Upload {
    created: SystemTime,
    acked: bool,
    /// The blob store refuses the next delete of this upload (once).
    fail_next_delete: bool,
}

impl Uploads {
    /// An empty store whose uploads expire `ttl` after creation.
    pub fn new(ttl: Duration) -> Self {
        Uploads {
            ttl,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// What the service finds at start-up, left over from before: two
    /// acknowledged uploads, three past their TTL, and one past its TTL
    /// whose blob delete fails once (counted `error`, then `expired` on the
    /// next run).
    pub fn seed(&self, now: SystemTime) {
        let stale = now
            .checked_sub(self.ttl * 2)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for (acked, created, fail_next_delete) in [
            (true, now, false),
            (true, now, false),
            (false, stale, false),
            (false, stale, false),
            (false, stale, false),
            (false, stale, true),
        ] {
            self.insert(Upload {
                created,
                acked,
                fail_next_delete,
            });
        }
    }

    /// Adds an upload created at `now`; returns its id.
    pub fn create(&self, now: SystemTime) -> u64 {
        self.insert(Upload {
            created: now,
            acked: false,
            fail_next_delete: false,
        })
    }

    /// Acknowledges upload `id`; `false` if it is not pending.
    pub fn ack(&self, id: u64) -> bool {
        match self.lock().get_mut(&id) {
            Some(upload) => {
                upload.acked = true;
                true
            }
            None => false,
        }
    }

    /// Uploads still pending.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no upload is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One GC pass at `now`: drops acknowledged uploads, deletes expired
    /// ones, and keeps those whose delete failed for the next pass.
    pub fn collect(&self, now: SystemTime) -> Items<Gc> {
        let mut items = Items::new();
        let ttl = self.ttl;
        self.lock().retain(|_, upload| {
            if upload.acked {
                items.add(Gc::Acked, 1);
                return false;
            }
            let age = now.duration_since(upload.created).unwrap_or(Duration::ZERO);
            if age <= ttl {
                return true;
            }
            if std::mem::take(&mut upload.fail_next_delete) {
                items.add(Gc::Error, 1);
                return true;
            }
            items.add(Gc::Expired, 1);
            false
        });
        items
    }

    fn insert(&self, upload: Upload) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, upload);
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Upload>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Just enough of an HTTP/1.1 client and a WebSocket handshake to drive the
/// service from inside the example, over a plain [`tokio::net::TcpStream`].
pub mod client {
    use std::net::SocketAddr;

    use anyhow::{Context as _, bail};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Sends `method path` with an empty body and `Connection: close`;
    /// returns the status code and the body.
    pub async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
    ) -> anyhow::Result<(u16, String)> {
        let mut stream = TcpStream::connect(addr).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let status =
            status_of(&text).with_context(|| format!("{method} {path}: bad response {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        Ok((status, body.to_string()))
    }

    /// Opens a WebSocket on `path`: sends the upgrade request, checks for
    /// `101 Switching Protocols`, and returns the open stream. Send a close
    /// frame with [`close`] before dropping it.
    pub async fn open_websocket(addr: SocketAddr, path: &str) -> anyhow::Result<TcpStream> {
        let mut stream = TcpStream::connect(addr).await?;
        // The key is any 16 bytes, base64; this is RFC 6455's sample.
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        // Byte by byte up to the blank line, so no frame is read past the head.
        while !raw.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await? == 0 {
                bail!("{path}: connection closed during the handshake");
            }
            raw.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&raw);
        if status_of(&text) != Some(101) {
            bail!("{path}: expected 101 Switching Protocols, got {text:?}");
        }
        Ok(stream)
    }

    /// Sends a masked, empty close frame (clients must mask) and waits for
    /// the server to close the connection.
    pub async fn close(mut stream: TcpStream) -> anyhow::Result<()> {
        stream
            .write_all(&[0x88, 0x80, 0x12, 0x34, 0x56, 0x78])
            .await?;
        // The server answers with its own close frame and ends the connection;
        // a reset instead is just as closed.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        Ok(())
    }

    fn status_of(head: &str) -> Option<u16> {
        head.split(' ').nth(1)?.parse().ok()
    }
}

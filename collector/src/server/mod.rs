//! The collector's own HTTP surface (default `127.0.0.1:9464`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics 1.0 when `Accept` asks for it |
//! | `GET /api/v1/snapshot` | the JSON snapshot; `?service=NAME`, `?metric=PREFIX`, `?format=otlp` |
//! | `GET /api/v1/self` | the collector's own metrics as the same JSON snapshot (see `crate::telemetry`) |
//! | `GET /healthz` | 200 while the process is alive |
//! | `GET /readyz` | 200 once the receivers are bound and serving, 503 before |
//! | `GET /debug/pprof/*` | profiling, with the `pprof` extension started without an endpoint |
//! | `GET /` | the live dashboard (see [`dashboard`]) |
//!
//! Every handler takes a snapshot of the store (a short copy under each shard's lock)
//! and renders it with the locks released, on a blocking thread, sending the page in
//! pieces as it is written; at most [`MAX_RENDERS`] at once, so concurrent reads cannot
//! multiply memory without bound.

pub mod conn;
pub mod dashboard;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::export::prometheus::Format;
use crate::export::{self, Encoder};
use crate::exporters::prometheus::tenants::Tenants;
use crate::extensions::auth::Authenticated;
use crate::pipeline::Tenant;
use crate::receiver::Readiness;
use crate::store::{Filter, Store};
use crate::telemetry::{RenderTimes, Telemetry};

/// Shared state of the admin routes.
#[derive(Clone)]
pub struct AppState {
    /// The store (the implicit tenant's).
    pub store: Arc<Store>,
    /// Every tenant's store, when the exporter keeps tenants apart: a reader whose credential
    /// names a tenant sees that tenant's store.
    pub tenants: Option<Arc<Tenants>>,
    /// Receiver readiness.
    pub readiness: Arc<Readiness>,
    /// Renders allowed at once (see [`MAX_RENDERS`]).
    pub renders: Arc<tokio::sync::Semaphore>,
    /// How long a read waits for a render slot ([`RENDER_WAIT`]).
    pub render_wait: std::time::Duration,
    /// Credentials the pages require (`/healthz` and `/readyz` stay open).
    pub auth: Option<Arc<crate::extensions::auth::Authenticator>>,
    /// The collector's own telemetry, for `/api/v1/self` (404 without).
    pub telemetry: Option<Arc<Telemetry>>,
    /// Where render times are recorded.
    pub render_times: Arc<RenderTimes>,
    /// The `pprof` extension's routes, when it is started without an endpoint of its own.
    pub pprof: Option<crate::extensions::pprof::Limits>,
}

/// Pages rendered at once. A render holds a copy of the part of the store it shows while it
/// formats it, so concurrent reads multiply memory: past this many, a read waits up to
/// [`RENDER_WAIT`], then gets 503 with `Retry-After`.
pub const MAX_RENDERS: usize = 2;
/// How long a read waits for a render slot.
pub const RENDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl AppState {
    /// The state of one store's pages.
    pub fn new(store: Arc<Store>, readiness: Arc<Readiness>) -> AppState {
        AppState {
            store,
            tenants: None,
            readiness,
            renders: Arc::new(tokio::sync::Semaphore::new(MAX_RENDERS)),
            render_wait: RENDER_WAIT,
            auth: None,
            telemetry: None,
            render_times: Arc::default(),
            pprof: None,
        }
    }
}

/// The admin routes.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/self", get(self_telemetry))
        .merge(dashboard::router());
    let pages = match state.pprof {
        Some(limits) => pages.merge(crate::extensions::pprof::router(limits)),
        None => pages,
    };
    let pages = match &state.auth {
        Some(auth) => crate::extensions::auth::require(pages, auth.clone()),
        None => pages,
    };
    pages
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /api/v1/snapshot, /api/v1/self, /healthz or /readyz\n",
            )
        })
        .with_state(state)
}

/// Serve the admin routes on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`] over `tls` when given.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<Arc<tls::ServerTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The same connection cap and timeouts as an OTLP/HTTP receiver's defaults.
    conn::serve(listener, router(state), conn::Limits::HTTP, tls, shutdown).await
}

/// Which store a page shows.
enum Source {
    /// The data: the store of the reader's tenant (the implicit tenant's without one).
    Data(Tenant),
    /// The collector's own figures, refreshed first.
    SelfTelemetry(Arc<Telemetry>),
}

async fn render(
    state: &AppState,
    source: Source,
    filter: Filter,
    format: &'static str,
    encoder: impl Encoder + Send + 'static,
) -> Response {
    let slot = tokio::time::timeout(state.render_wait, state.renders.clone().acquire_owned()).await;
    let Ok(Ok(_slot)) = slot else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many reads at once; retry later\n",
        )
            .into_response();
    };
    let store = match (&source, &state.tenants) {
        (Source::Data(tenant), Some(tenants)) => tenants.for_read(tenant),
        _ => state.store.clone(),
    };
    let times = state.render_times.clone();
    let content_type = encoder.content_type();
    let (tx, rx) = tokio::sync::mpsc::channel(PIECES_IN_FLIGHT);
    // Whether the page was large, and who is done with it: the heap is trimmed once, by
    // whichever of the render (its snapshot freed) and the body (its pieces freed) ends last.
    let end = Arc::new(PageEnd::default());
    let pieces = Pieces {
        rx,
        end: end.clone(),
    };
    // The page is written on a blocking thread and sent piece by piece as it is written: the
    // first bytes leave before the last are written, and only PIECES_IN_FLIGHT pieces of it
    // are ever in memory. The render slot is held until the last piece is handed over.
    tokio::task::spawn_blocking(move || {
        let _slot = _slot;
        let started = std::time::Instant::now();
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let snap = match source {
                Source::Data(_) => store.snapshot(&filter),
                Source::SelfTelemetry(telemetry) => {
                    telemetry.refresh();
                    telemetry.store().snapshot(&filter)
                }
            };
            encoder.encode_chunked(&snap, RENDER_PIECE, &mut |piece| {
                tx.blocking_send(Ok(bytes::Bytes::from(piece))).is_ok()
            });
            snap.series.len()
        }));
        if written.is_err() {
            tracing::error!("rendering failed; the response is cut short");
            // An error ends the body abruptly, so the reader sees a failed read, not a page
            // that merely looks short.
            let _ = tx.blocking_send(Err(std::io::Error::other("rendering failed")));
        }
        times.record(format, started.elapsed());
        // The snapshot of a large store is freed by now, but the allocator keeps freed pages
        // for reuse, per thread arena: a read flood would leave its peak resident for good.
        // Give them back after a large page (a few milliseconds, against a render of hundreds),
        // once the body is complete (`tx` gone), so the reader does not wait for it.
        if written
            .as_ref()
            .is_ok_and(|series| *series >= TRIM_AFTER_SERIES)
        {
            end.large.store(true, Ordering::Relaxed);
        }
        drop(tx);
        end.finish();
    });
    let body = axum::body::Body::from_stream(pieces);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Bytes of page text handed to the connection at a time.
const RENDER_PIECE: usize = 256 * 1024;
/// Pieces written ahead of the connection.
const PIECES_IN_FLIGHT: usize = 4;
/// Series in a page past which the allocator is asked to give freed memory back afterwards.
const TRIM_AFTER_SERIES: usize = 10_000;

/// A rendered page as it is written, piece by piece.
struct Pieces {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    end: Arc<PageEnd>,
}

impl Drop for Pieces {
    fn drop(&mut self) {
        self.end.finish();
    }
}

/// The end of one page: set `large` when it was, and `finish` from both its render and its
/// body; the second to finish trims the heap of a large page.
#[derive(Default)]
struct PageEnd {
    large: AtomicBool,
    done: AtomicU8,
}

impl PageEnd {
    fn finish(&self) {
        if self.done.fetch_add(1, Ordering::AcqRel) != 1 || !self.large.load(Ordering::Relaxed) {
            return;
        }
        // A few milliseconds of work, off the async workers when there is a runtime (there is
        // none when a body is dropped at shutdown).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(crate::extensions::pprof::allocator::trim)),
            Err(_) => crate::extensions::pprof::allocator::trim(),
        }
    }
}

impl futures_core::Stream for Pieces {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The reader's tenant, when the pages require credentials (see `auth::require`).
fn tenant(auth: Option<Extension<Authenticated>>) -> Tenant {
    auth.and_then(|Extension(Authenticated(tenant))| tenant)
}

async fn metrics(
    State(state): State<AppState>,
    auth: Option<Extension<Authenticated>>,
    headers: HeaderMap,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let name = match format {
        Format::Text => "prometheus",
        Format::OpenMetrics => "openmetrics",
    };
    render(
        &state,
        Source::Data(tenant(auth)),
        Filter::default(),
        name,
        export::Prometheus(format),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct SnapshotQuery {
    service: Option<String>,
    metric: Option<String>,
    format: Option<String>,
}

async fn snapshot(
    State(state): State<AppState>,
    auth: Option<Extension<Authenticated>>,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let source = Source::Data(tenant(auth));
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad query: {e}\n")).into_response(),
    };
    let filter = Filter {
        service: q.service,
        metric_prefix: q.metric,
    };
    match q.format.as_deref() {
        None | Some("vigil") => render(&state, source, filter, "json", export::Json).await,
        Some("otlp") => render(&state, source, filter, "otlp_json", export::OtlpJson).await,
        Some(other) => (
            StatusCode::BAD_REQUEST,
            format!(
                "unknown format {other:?}: use format=otlp, or leave it out for Vigil's snapshot\n"
            ),
        )
            .into_response(),
    }
}

async fn self_telemetry(State(state): State<AppState>) -> Response {
    match state.telemetry.clone() {
        Some(telemetry) => {
            let source = Source::SelfTelemetry(telemetry);
            render(&state, source, Filter::default(), "json", export::Json).await
        }
        None => (
            StatusCode::NOT_FOUND,
            "this collector runs without self-telemetry\n",
        )
            .into_response(),
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.readiness.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "receivers not serving yet\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_page_larger_than_its_pieces_arrives_whole() {
        use crate::store::{AttrValue, Kind, Number, NumberPoint};
        let store = Arc::new(Store::new(crate::store::Options::default()));
        {
            let mut ingest = store.ingest();
            let r = ingest
                .resource(&[("service.name", AttrValue::Str("svc"))][..], "")
                .unwrap();
            let none: &[(&str, AttrValue<'_>)] = &[];
            let s = ingest.scope(r, "", "", "", none).unwrap();
            let m = ingest.metric(s, "g", "", "", Kind::Gauge).unwrap();
            // About 2 MB of page: eight pieces and more.
            let pad = "x".repeat(240);
            for i in 0..9_000i64 {
                let id = format!("{pad}{i}");
                let point = NumberPoint {
                    start: 0,
                    time: 0,
                    value: Number::Int(i),
                };
                ingest
                    .number(m, &[("k", AttrValue::Str(&id))][..], point, false, &[])
                    .unwrap();
            }
        }
        let expected =
            crate::export::prometheus::render(&store.snapshot(&Filter::default()), Format::Text);
        assert!(expected.len() > 8 * RENDER_PIECE, "{}", expected.len());
        let app = router(AppState::new(store, Arc::new(Readiness::waiting_for(0))));
        let request = axum::http::Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body.len(), expected.len());
        assert!(body == expected.as_bytes());
    }

    #[tokio::test]
    async fn reads_past_the_render_slots_get_503_and_health_stays_up() {
        let store = Arc::new(Store::new(crate::store::Options::default()));
        let state = AppState {
            renders: Arc::new(tokio::sync::Semaphore::new(1)),
            render_wait: std::time::Duration::from_millis(50),
            ..AppState::new(store, Arc::new(Readiness::waiting_for(0)))
        };
        // The one slot is taken (a slow render elsewhere).
        let _held = state.renders.clone().acquire_owned().await.unwrap();
        let app = router(state.clone());
        let get = |path: &str| {
            axum::http::Request::builder()
                .uri(path)
                .body(Body::empty())
                .unwrap()
        };
        let response = app.clone().oneshot(get("/metrics")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let response = app.clone().oneshot(get("/api/v1/snapshot")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = app.clone().oneshot(get("/healthz")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        drop(_held);
        let response = app.oneshot(get("/metrics")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

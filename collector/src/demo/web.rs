//! The HTTP family: a tiny axum server on 127.0.0.1 (port chosen by the
//! system) wrapped in [`vigil::http::MetricsLayer`], and the client the demo
//! uses to hit it, with a request mix that yields 2xx, 4xx and 5xx answers.
//!
//! The same server answers the health probes (`/healthz/{dependency}`, see
//! `health.rs`), as a service's own dependency checks would. Beside the
//! SDK's layer sits the demo's own tally of the responses, keyed as the SDK
//! keys its series (method, route template, status), so a test can compare
//! the two exactly. Both layers record when the response is ready, and a
//! request dropped before that is recorded by neither.
//!
//! Everything is bounded: routes are templates, statuses a handful, and the
//! client holds at most a few pooled keep-alive connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::metrics::Meter;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::HttpKey;
use super::health::{FAILING, TARGETS};
use super::rng::{Rng, wave};

/// How long one request may take before the client gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long stopping waits for requests in flight.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The report the backend cannot produce (500 every time).
const BROKEN_REPORT: &str = "quarterly";
/// Reports that exist.
const REPORTS: [&str; 3] = ["daily", "weekly", BROKEN_REPORT];

/// Responses by (method, route, status), as the server sent them.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally(Arc<Mutex<BTreeMap<HttpKey, u64>>>);

impl Tally {
    fn add(&self, key: HttpKey) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default() += 1;
    }

    pub(super) fn snapshot(&self) -> BTreeMap<HttpKey, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

// === impl Server ===

/// The running server; stops (gracefully) on [`Server::stop`] or drop.
pub(super) struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
    tally: Tally,
}

impl Server {
    /// Binds 127.0.0.1:0 and serves.
    pub(super) async fn start(meter: Meter) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let tally = Tally::default();
        let metrics = vigil::http::MetricsLayer::builder()
            .with_meter(meter)
            .with_route(|parts| {
                parts
                    .extensions
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
            })
            .build();
        let app = Router::new()
            .route("/api/orders", post(create_order))
            .route("/api/orders/{id}", get(order))
            .route("/api/reports/{name}", get(report))
            .route("/healthz/{dependency}", get(dependency))
            .fallback(no_route)
            // Layers run outside in: the SDK's layer, then the tally.
            .layer(from_fn_with_state(tally.clone(), count))
            .layer(metrics);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
        Ok(Server {
            addr,
            stop,
            task: Some(task),
            tally,
        })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits (bounded) for requests in flight, and returns
    /// what was served.
    pub(super) async fn stop(mut self) -> BTreeMap<HttpKey, u64> {
        self.stop.cancel();
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(STOP_TIMEOUT, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "demo HTTP server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "demo HTTP server task failed"),
                Err(_) => {
                    tracing::warn!("demo HTTP server did not stop within {STOP_TIMEOUT:?}");
                    task.abort();
                }
            }
        }
        self.tally.snapshot()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn count(State(tally): State<Tally>, request: Request, next: Next) -> Response {
    let method = vigil::http::normalize_method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    tally.add(HttpKey {
        method,
        route,
        status: response.status().as_u16(),
    });
    response
}

async fn order(Path(id): Path<u64>) -> (StatusCode, &'static str) {
    if id % 10 == 0 {
        (StatusCode::NOT_FOUND, "no such order\n")
    } else {
        (StatusCode::OK, "order\n")
    }
}

async fn create_order(body: String) -> (StatusCode, &'static str) {
    if body.trim().is_empty() || body.contains("bad") {
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid order\n")
    } else {
        (StatusCode::CREATED, "created\n")
    }
}

async fn report(Path(name): Path<String>) -> (StatusCode, &'static str) {
    match name.as_str() {
        BROKEN_REPORT => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "report backend crashed\n",
        ),
        n if REPORTS.contains(&n) => (StatusCode::OK, "report\n"),
        _ => (StatusCode::NOT_FOUND, "no such report\n"),
    }
}

async fn dependency(Path(name): Path<String>) -> (StatusCode, &'static str) {
    match name.as_str() {
        FAILING => (StatusCode::SERVICE_UNAVAILABLE, "connection refused\n"),
        n if TARGETS.contains(&n) => (StatusCode::OK, "ok\n"),
        _ => (StatusCode::NOT_FOUND, "no such dependency\n"),
    }
}

async fn no_route() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "no route\n")
}

// === impl Client ===

/// The demo's HTTP client: pooled keep-alive connections, a timeout per request.
#[derive(Clone, Debug)]
pub(super) struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

impl Client {
    pub(super) fn new(addr: SocketAddr) -> Self {
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(4)
            .build_http();
        Client { inner, addr }
    }

    /// Sends one request and reads the whole answer; the status, or why
    /// there is none.
    pub(super) async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: &'static str,
    ) -> Result<StatusCode, String> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok(status)
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }

    /// One burst of traffic: between 2 and 10 requests, more at the wave's
    /// crest, from a mix of routes.
    pub(super) async fn burst(&self, rng: &mut Rng, tick: u64) {
        let n = 2 + (8.0 * wave(tick, 90)).round() as u64;
        for _ in 0..n {
            let (method, path, body) = pick(rng);
            if let Err(e) = self.send(method, &path, body).await {
                tracing::debug!(%path, error = %e, "demo request failed");
            }
        }
    }
}

/// One request of the mix.
fn pick(rng: &mut Rng) -> (http::Method, String, &'static str) {
    let r = rng.unit();
    if r < 0.55 {
        // One id in ten is unknown: 404 on a matched route.
        (
            http::Method::GET,
            format!("/api/orders/{}", rng.range(1, 60)),
            "",
        )
    } else if r < 0.72 {
        let body = if rng.chance(0.15) {
            "bad"
        } else {
            "{\"sku\":1}"
        };
        (http::Method::POST, "/api/orders".to_owned(), body)
    } else if r < 0.92 {
        let name = REPORTS[rng.index(REPORTS.len())];
        (http::Method::GET, format!("/api/reports/{name}"), "")
    } else {
        // No route: 404 without `http.route`.
        (
            http::Method::GET,
            format!("/static/{}", rng.range(1, 5)),
            "",
        )
    }
}

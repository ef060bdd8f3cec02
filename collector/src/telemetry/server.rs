//! The telemetry address (default `127.0.0.1:8888`, as the OpenTelemetry Collector's): the
//! collector's own metrics as Prometheus text or OpenMetrics, refreshed on every scrape, and
//! `/healthz`. It has no auth and binds to loopback by default, like the data pages' defaults;
//! expose it beyond the host the same way as those (TLS and auth on the `prometheus` exporter's
//! address, where the same figures are at `/api/v1/self`).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::Telemetry;
use crate::export::prometheus::Format;
use crate::export::{self, Encoder};
use crate::server::conn;
use crate::store::Filter;

/// The telemetry address's routes.
pub fn router(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: the collector's own metrics are at /metrics\n",
            )
        })
        .with_state(telemetry)
}

/// Serves the telemetry address on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(
        listener,
        router(telemetry),
        conn::Limits::HTTP,
        None,
        shutdown,
    )
    .await
}

async fn metrics(State(telemetry): State<Arc<Telemetry>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let encoder = export::Prometheus(Format::from_accept(accept));
    let content_type = encoder.content_type();
    let body = tokio::task::spawn_blocking(move || {
        telemetry.refresh();
        encoder.encode(&telemetry.store().snapshot(&Filter::default()))
    })
    .await;
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the self-telemetry failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering failed; see the collector's log\n",
            )
                .into_response()
        }
    }
}

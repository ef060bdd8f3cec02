//! Embedded mode: a service serves its own metrics, with no collector, through the
//! collector's own store and renderers (`vigil-store`).
//!
//! [`serve`] starts Vigil as [`init`](fn@crate::init) does, but instead of exporting OTLP it reads
//! the meter provider on every scrape (a manual reader, cumulative), turns what it read into
//! the same OTLP request a collector would receive, ingests it into a `vigil_store::Store`,
//! and renders that store with the collector's renderers. So a page served here is byte for
//! byte the page the collector would serve for the same data (`tests/embedded.rs` checks it).
//!
//! Routes: `GET /metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0 when `Accept` asks for
//! it), `GET /api/v1/snapshot` (Vigil's JSON snapshot), `GET /` (the collector's live
//! dashboard, same documents), `GET /healthz`. Reads are served one
//! at a time. It binds exactly the address given: pass `127.0.0.1:PORT` unless the page must
//! be reachable from elsewhere, and put it behind your own auth then.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use tokio_util::sync::CancellationToken;
use vigil_store::export::prometheus::Format;
use vigil_store::export::{self, Encoder};
use vigil_store::{Filter, Options, Store};

use crate::{Builder, Guard, InitError};

/// Why [`serve`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is not `IP:PORT`.
    #[error("{value:?} is not an address to serve metrics on: write IP:PORT, e.g. 127.0.0.1:9464")]
    Address {
        /// As written.
        value: String,
    },
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Telemetry could not start.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The server's own runtime could not start.
    #[error("cannot start the metrics server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Serves this process's metrics on `addr` (e.g. `"127.0.0.1:9464"`), with Vigil set up from
/// the environment as by [`init`](fn@crate::init). Keep the returned value alive: dropping it
/// stops the server and shuts telemetry down.
pub fn serve(addr: &str) -> Result<Serving, ServeError> {
    serve_with(crate::builder(), addr)
}

/// [`serve`] with a [`Builder`] for what the environment does not set (service name, ...).
/// Any OTLP exporter the builder would make is left out: embedded mode is pull only.
pub fn serve_with(builder: Builder, addr: &str) -> Result<Serving, ServeError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| ServeError::Address {
        value: addr.to_owned(),
    })?;
    let listener = std::net::TcpListener::bind(parsed)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Bind {
            addr: parsed,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: parsed,
        source,
    })?;
    let page = Arc::new(Page {
        reader: Arc::new(ManualReader::builder().build()),
        store: Store::new(Options::default()),
        last: Mutex::new(None),
    });
    let guard = builder
        .with_reader(SharedReader(page.reader.clone()))
        .build()?;
    let stop = CancellationToken::new();
    let app = router(page.clone());
    let serving = stop.clone();
    let run = async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(serving.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics server stopped");
                }
            }
            Err(e) => tracing::error!(error = %e, "the metrics server cannot use its socket"),
        }
    };
    // Inside a tokio runtime (an async service) the server joins it; otherwise it gets a
    // thread and a small runtime of its own.
    let thread = match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(run);
            None
        }
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ServeError::Runtime)?;
            let thread = std::thread::Builder::new()
                .name("vigil-metrics".into())
                .spawn(move || runtime.block_on(run))
                .map_err(ServeError::Runtime)?;
            Some(thread)
        }
    };
    Ok(Serving {
        addr: local,
        page,
        guard: Some(guard),
        stop,
        thread,
    })
}

/// A running metrics server; see [`serve`].
pub struct Serving {
    addr: SocketAddr,
    page: Arc<Page>,
    guard: Option<Guard>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// The address served (the port resolved when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The telemetry guard (warnings, flush).
    pub fn guard(&self) -> Option<&Guard> {
        self.guard.as_ref()
    }

    /// What the last read of the meter provider gave, as the OTLP request a collector would
    /// receive: to forward it, or to compare this page with a collector's.
    pub fn last_request(&self) -> Option<ExportMetricsServiceRequest> {
        self.page
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the server and shuts telemetry down.
    pub fn shutdown(mut self) -> Result<(), InitError> {
        self.stop_server();
        match self.guard.take() {
            Some(guard) => guard.shutdown(),
            None => Ok(()),
        }
    }

    fn stop_server(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            // The thread ends once the server has drained (graceful shutdown).
            let _ = thread.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// The meter provider's reader, shared between the provider (which owns readers) and the
/// page (which collects on each read).
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The store a page is rendered from, filled from the reader on each read.
struct Page {
    reader: Arc<ManualReader>,
    store: Store,
    last: Mutex<Option<ExportMetricsServiceRequest>>,
}

impl Page {
    /// Reads the meter provider into the store (one read at a time), then renders.
    fn render(&self, encoder: &dyn Encoder) -> Vec<u8> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut metrics = ResourceMetrics::default();
        match self.reader.collect(&mut metrics) {
            Ok(()) => {
                let request = ExportMetricsServiceRequest::from(&metrics);
                let report = vigil_store::store::otlp::ingest_request(&self.store, &request);
                if report.rejected > 0 {
                    tracing::warn!(
                        "the metrics page left out points: {}",
                        report.partial_success_message()
                    );
                }
                *last = Some(request);
            }
            Err(e) => tracing::warn!(error = %e, "reading the meter provider failed"),
        }
        encoder.encode(&self.store.snapshot(&Filter::default()))
    }
}

fn router(page: Arc<Page>) -> Router {
    // The collector's dashboard, the same documents (it shows "collector figures
    // unavailable": there is no collector here).
    let dashboard = vigil_store::dashboard::ASSETS.iter().fold(
        Router::new(),
        |router, &(path, content_type, body)| {
            router.route(
                path,
                get(move || async move {
                    let [a, b, c, d] = vigil_store::dashboard::HEADERS;
                    (
                        [(header::CONTENT_TYPE.as_str(), content_type), a, b, c, d],
                        body,
                    )
                }),
            )
        },
    );
    dashboard
        .route("/metrics", get(metrics))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: try /, /metrics, /api/v1/snapshot or /healthz\n",
            )
        })
        .with_state(page)
}

async fn render(page: Arc<Page>, encoder: impl Encoder + Send + 'static) -> Response {
    let content_type = encoder.content_type();
    match tokio::task::spawn_blocking(move || page.render(&encoder)).await {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the metrics page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n").into_response()
        }
    }
}

async fn metrics(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    render(page, export::Prometheus(Format::from_accept(accept))).await
}

async fn snapshot(State(page): State<Arc<Page>>) -> Response {
    render(page, export::Json).await
}

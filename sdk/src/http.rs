//! A tower layer recording the HTTP server metrics of the OpenTelemetry
//! [semantic conventions]: `http.server.request.duration` (seconds) and
//! `http.server.active_requests`, for axum, hyper or any tower service over
//! `http::Request`.
//!
//! It exists because the services Vigil replaces counted requests by hand,
//! keyed by route *template* so that `/workspaces/42` and `/workspaces/43`
//! share a series. The layer keeps that discipline: `http.route` comes only
//! from a route hook ([`MetricsLayer::with_route`]) that returns the template
//! the router matched; without a hook, or when the hook finds none (a 404 from
//! the fallback), the attribute is left out. The raw path is never used, as
//! the conventions require ("the URI path can NOT substitute it").
//!
//! The SDK does not depend on axum, so the hook is a closure. With axum, read
//! the `MatchedPath` extension the router sets before calling a route:
//!
//! ```
//! use axum::extract::MatchedPath;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/workspaces/{id}", axum::routing::get(|| async { "ok" }))
//!     .layer(
//!         vigil::http::MetricsLayer::builder()
//!             .with_route(|parts| parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str))
//!             .build(),
//!     );
//! ```
//!
//! (`MatchedPath` needs axum's `matched-path` feature, on by default.)
//!
//! `Router::layer` wraps every route and the fallback set with
//! `Router::fallback`, so unmatched requests are recorded too (without
//! `http.route`; axum's built-in 404 is not wrapped); `Router::route_layer`
//! wraps matched routes only. Either way the layer runs after routing, which
//! is what makes `MatchedPath` visible to it. Add it after the routes.
//!
//! # Attributes and cardinality
//!
//! - `http.request.method`: the method if it is known, else `_OTHER`. Known
//!   by default are [`KNOWN_METHODS`] (RFC 9110 and PATCH), compared
//!   case-sensitively as the conventions say; [`Builder::with_known_methods`]
//!   replaces the list (the conventions' required override, offered in code
//!   rather than through `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`).
//! - `url.scheme`: the request target's scheme when it has one (HTTP/2's
//!   `:scheme`, an absolute-form target), else the layer's
//!   ([`Builder::with_url_scheme`], default `http`). Forwarding headers are
//!   not trusted.
//! - `network.protocol.version`: `0.9`, `1.0`, `1.1`, `2`, `3`.
//! - `http.route`: see above. Routes are templates the application
//!   registered, so they are bounded by its code.
//! - `http.response.status_code`: the status sent. `http::StatusCode` admits
//!   only 100–999, so at most 900 values; in practice a handful per route.
//! - `error.type`: the status code as a string for statuses from 500 up (4xx
//!   are the client's errors, not the server's, per the conventions' span
//!   status rules), and `_OTHER` when the inner service fails without a
//!   response (its error type has no stable, low-cardinality name).
//!
//! `http.server.active_requests` (`{request}`) carries only the method and
//! scheme, as the conventions list. It is incremented when the request
//! reaches the layer and decremented exactly once, by a guard, when the
//! response future completes or is dropped (client gone, outer timeout,
//! panic). A dropped request is *not* recorded in the duration histogram: it
//! has no status, and its "duration" is when someone gave up, not the
//! server's latency. The duration runs to the response head; streaming a
//! body (SSE) is not included — count those with
//! [`Connections`](crate::connections::Connections).
//!
//! The metric names are the conventions' own and are never namespaced.
//!
//! [semantic conventions]: https://opentelemetry.io/docs/specs/semconv/http/http-metrics/

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::request::Parts;
use http::{Request, Response};
use opentelemetry::metrics::Meter;

use crate::views;
use recorder::{Pending, Shared};

/// The request-duration histogram's name.
pub const DURATION: &str = "http.server.request.duration";
/// The in-flight-requests up-down counter's name.
pub const ACTIVE_REQUESTS: &str = "http.server.active_requests";
/// Methods known by default: those of RFC 9110 and PATCH (RFC 5789).
pub const KNOWN_METHODS: &[&str] = &[
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];
/// The value of `http.request.method` for a method that is not known.
pub const OTHER_METHOD: &str = "_OTHER";

/// `error.type` when the inner service fails without a response.
const OTHER_ERROR: &str = "_OTHER";
/// Most methods [`Builder::with_known_methods`] keeps, to bound the series.
const MAX_KNOWN_METHODS: usize = 64;
/// Attribute lists cached when no cardinality limit is set: the SDK's default.
const DEFAULT_CACHE_LIMIT: usize = 2000;

crate::label! {
    /// `url.scheme`.
    pub enum UrlScheme = "url.scheme" {
        /// Plain HTTP.
        Http = "http",
        /// HTTP over TLS.
        Https = "https",
    }
}

/// The value of `http.request.method` for `method` under the default
/// [`KNOWN_METHODS`]: the method itself if known, else [`OTHER_METHOD`].
pub fn normalize_method(method: &http::Method) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|known| **known == method.as_str())
        .copied()
        .unwrap_or(OTHER_METHOD)
}

/// Configures a [`MetricsLayer`]; from [`MetricsLayer::builder`].
#[derive(Default)]
#[must_use = "call build() to get the layer"]
pub struct Builder {
    meter: Option<Meter>,
    scheme: Option<UrlScheme>,
    known_methods: Option<Vec<String>>,
    cardinality_limit: Option<usize>,
    route: Option<RouteHook>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("scheme", &self.scheme)
            .field("known_methods", &self.known_methods)
            .field("cardinality_limit", &self.cardinality_limit)
            .field("route", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Default settings: [`crate::init::meter`], scheme `http`, [`KNOWN_METHODS`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The meter to create the instruments from (default [`crate::init::meter`]).
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// `url.scheme` for requests whose target has none, the usual case on a
    /// server (default `http`; say `https` when this server terminates TLS).
    pub fn with_url_scheme(mut self, scheme: UrlScheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// Replaces [`KNOWN_METHODS`]: methods listed here are recorded as they
    /// are (case-sensitive), others as `_OTHER`. Empty, duplicate and
    /// `_OTHER` entries are ignored; at most 64 are kept.
    pub fn with_known_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: AsRef<str>,
    {
        let mut known: Vec<String> = Vec::new();
        for method in methods {
            let method = method.as_ref().trim();
            if method.is_empty() || method == OTHER_METHOD || known.iter().any(|k| k == method) {
                continue;
            }
            if known.len() == MAX_KNOWN_METHODS {
                break;
            }
            known.push(method.to_string());
        }
        self.known_methods = Some(known);
        self
    }

    /// Most series kept per instrument before the SDK folds the rest into
    /// its overflow series (default: the SDK's 2000).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Reads `http.route` with `route` (see [`MetricsLayer::with_route`]).
    pub fn with_route<F>(mut self, route: F) -> Self
    where
        F: for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync + 'static,
    {
        self.route = Some(Arc::new(route));
        self
    }

    /// Registers the stream settings and creates both instruments.
    ///
    /// Settings are registered by instrument name, process-wide: when
    /// several layers are built, the largest limit applies to all.
    pub fn build(self) -> MetricsLayer {
        let meter = self.meter.unwrap_or_else(crate::init::meter);
        register(DURATION, self.cardinality_limit);
        register(ACTIVE_REQUESTS, self.cardinality_limit);
        let duration = meter
            .f64_histogram(DURATION)
            .with_unit("s")
            .with_boundaries(views::HTTP_DURATION_BOUNDARIES.to_vec())
            .with_description("Duration of HTTP server requests.")
            .build();
        let active = meter
            .i64_up_down_counter(ACTIVE_REQUESTS)
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .build();
        let known: Vec<String> = match self.known_methods {
            Some(known) => known,
            None => KNOWN_METHODS.iter().map(|m| m.to_string()).collect(),
        };
        let shared = Shared::new(
            duration,
            active,
            known,
            self.scheme.unwrap_or(UrlScheme::Http),
            self.cardinality_limit.unwrap_or(DEFAULT_CACHE_LIMIT),
        );
        MetricsLayer {
            shared: Arc::new(shared),
            route: self.route,
        }
    }
}

/// Registers `name`'s cardinality limit. The registry is keyed by name and
/// shared by every instance, so a limit only grows: the largest one asked
/// for wins, and an instance that asks for none keeps the current one.
fn register(name: &str, limit: Option<usize>) {
    if let Some(limit) = limit {
        views::register(name, views::Spec::cardinality(limit));
    }
}

/// The route hook: the template the router matched, if any.
type RouteHook = Arc<dyn for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync>;

/// A tower [`Layer`](tower::Layer) recording the HTTP server metrics; see
/// the [module docs](self). Clones share the instruments and caches.
#[derive(Clone)]
pub struct MetricsLayer {
    shared: Arc<Shared>,
    route: Option<RouteHook>,
}

impl MetricsLayer {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// This layer (sharing its instruments and caches) reading `http.route`
    /// with `route`, which gets the request head (its extensions hold what
    /// the router left there) and returns the matched route *template*, or
    /// `None` when no route matched. An empty string counts as `None`. Never
    /// return the raw path: it would make a series per URL. Also a builder
    /// setting, [`Builder::with_route`].
    pub fn with_route<F>(mut self, route: F) -> Self
    where
        F: for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync + 'static,
    {
        self.route = Some(Arc::new(route));
        self
    }
}

impl fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("known_methods", &self.shared.known)
            .field("url_scheme", &self.shared.scheme)
            .field("route", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            shared: self.shared.clone(),
            route: self.route.clone(),
        }
    }
}

/// The service [`MetricsLayer`] wraps around an inner one.
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    shared: Arc<Shared>,
    route: Option<RouteHook>,
}

impl<S: fmt::Debug> fmt::Debug for MetricsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for MetricsService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let route = self.route.as_ref().and_then(|hook| hook(&parts));
        let pending = Pending::start(&self.shared, &parts, route);
        ResponseFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            pending: Some(pending),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`MetricsService`]: the inner one, plus the
    /// request's measurement, taken when it completes.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            pending.finish(result.as_ref().ok().map(|r| r.status().as_u16()));
        }
        Poll::Ready(result)
    }
}

mod recorder;

#[cfg(test)]
mod tests;

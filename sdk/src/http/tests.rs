use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::routing::get;
use http::StatusCode;
use tower::{Layer as _, Service as _, ServiceExt as _};

use super::recorder::RouteRef;
use super::*;
use crate::testing::Harness;

fn metrics(h: &Harness) -> MetricsLayer {
    Builder::new().with_meter(h.meter()).build()
}

fn axum_route(parts: &Parts) -> Option<&str> {
    parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
}

fn app(layer: MetricsLayer) -> Router {
    Router::new()
        .route("/workspaces/{id}", get(|| async { "ok" }))
        .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(layer.with_route(axum_route))
}

fn request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("valid request")
}

/// A recorded label set, sorted by key, as `Harness::series` returns it.
fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn active(h: &Harness, method: &str) -> Option<f64> {
    h.counter(
        ACTIVE_REQUESTS,
        &[("http.request.method", method), ("url.scheme", "http")],
    )
}

#[test]
fn methods_are_normalized_to_the_known_list() {
    let cases = [
        ("GET", "GET"),
        ("HEAD", "HEAD"),
        ("POST", "POST"),
        ("PUT", "PUT"),
        ("DELETE", "DELETE"),
        ("CONNECT", "CONNECT"),
        ("OPTIONS", "OPTIONS"),
        ("TRACE", "TRACE"),
        ("PATCH", "PATCH"),
        ("get", "_OTHER"),
        ("PROPFIND", "_OTHER"),
        ("QUERY", "_OTHER"),
        ("_OTHER", "_OTHER"),
    ];
    for (method, expected) in cases {
        let method = http::Method::from_bytes(method.as_bytes()).expect("valid method");
        assert_eq!(normalize_method(&method), expected, "{method}");
    }
}

#[tokio::test]
async fn known_methods_can_be_replaced() {
    let h = Harness::new();
    let layer = Builder::new()
        .with_meter(h.meter())
        .with_known_methods(["GET", "QUERY", "", "GET", "_OTHER"])
        .build();
    assert_eq!(
        layer.shared.known,
        vec!["GET".to_string(), "QUERY".to_string()]
    );
    let svc = layer.layer(tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    }));
    for method in ["QUERY", "POST"] {
        svc.clone()
            .oneshot(request(method, "/x"))
            .await
            .expect("response");
    }
    let methods: Vec<String> = h
        .series(DURATION)
        .into_iter()
        .filter_map(|set| set.into_iter().find(|(k, _)| k == "http.request.method"))
        .map(|(_, v)| v)
        .collect();
    assert!(methods.contains(&"QUERY".to_string()), "{methods:?}");
    assert!(
        methods.contains(&"_OTHER".to_string()),
        "POST is no longer known: {methods:?}"
    );
    assert_eq!(active(&h, "QUERY"), Some(0.0));
}

#[tokio::test]
async fn records_the_route_template_never_the_raw_path() {
    let h = Harness::new();
    let response = app(metrics(&h))
        .oneshot(request("GET", "/workspaces/42"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.series(DURATION),
        vec![labels(&[
            ("http.request.method", "GET"),
            ("url.scheme", "http"),
            ("network.protocol.version", "1.1"),
            ("http.route", "/workspaces/{id}"),
            ("http.response.status_code", "200"),
        ])]
    );
    let hist = h.histogram(DURATION, &[]);
    assert!(hist.is_none(), "labels must match exactly");
    assert_eq!(active(&h, "GET"), Some(0.0));
}

#[tokio::test]
async fn unmatched_requests_have_no_route() {
    let h = Harness::new();
    app(metrics(&h))
        .oneshot(request("DELETE", "/nowhere/7"))
        .await
        .expect("infallible");
    assert_eq!(
        h.series(DURATION),
        vec![labels(&[
            ("http.request.method", "DELETE"),
            ("url.scheme", "http"),
            ("network.protocol.version", "1.1"),
            ("http.response.status_code", "404"),
        ])]
    );
}

#[tokio::test]
async fn server_errors_get_error_type_and_client_errors_do_not() {
    let h = Harness::new();
    let app = app(metrics(&h));
    app.clone()
        .oneshot(request("GET", "/down"))
        .await
        .expect("infallible");
    app.oneshot(request("GET", "/teapot"))
        .await
        .expect("infallible");
    let mut series = h.series(DURATION);
    series.sort();
    let mut expected = vec![
        labels(&[
            ("http.request.method", "GET"),
            ("url.scheme", "http"),
            ("network.protocol.version", "1.1"),
            ("http.route", "/down"),
            ("http.response.status_code", "503"),
            ("error.type", "503"),
        ]),
        labels(&[
            ("http.request.method", "GET"),
            ("url.scheme", "http"),
            ("network.protocol.version", "1.1"),
            ("http.route", "/teapot"),
            ("http.response.status_code", "418"),
        ]),
    ];
    expected.sort();
    assert_eq!(series, expected);
}

#[tokio::test]
async fn a_failed_service_records_error_type_without_status() {
    let h = Harness::new();
    let svc = metrics(&h)
        .with_route(|_| Some("/rpc"))
        .layer(tower::service_fn(|_: Request<Body>| async {
            Err::<Response<Body>, _>("connection reset")
        }));
    let scheme_request = Request::builder()
        .method("POST")
        .uri("https://example.com/rpc")
        .version(http::Version::HTTP_2)
        .body(Body::empty())
        .expect("valid request");
    assert!(svc.oneshot(scheme_request).await.is_err());
    assert_eq!(
        h.series(DURATION),
        vec![labels(&[
            ("http.request.method", "POST"),
            ("url.scheme", "https"),
            ("network.protocol.version", "2"),
            ("http.route", "/rpc"),
            ("error.type", "_OTHER"),
        ])]
    );
}

#[tokio::test]
async fn active_requests_count_while_in_flight() {
    let h = Harness::new();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = std::sync::Mutex::new(Some(released));
    let svc = metrics(&h).layer(tower::service_fn(move |_: Request<Body>| {
        let wait = released.lock().expect("lock").take();
        async move {
            if let Some(wait) = wait {
                let _ = wait.await;
            }
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }
    }));
    let task = tokio::spawn(svc.oneshot(request("PUT", "/slow")));
    while active(&h, "PUT") != Some(1.0) {
        tokio::task::yield_now().await;
    }
    release.send(()).expect("task waits");
    task.await.expect("task").expect("infallible");
    assert_eq!(active(&h, "PUT"), Some(0.0));
}

#[tokio::test]
async fn a_dropped_request_is_no_longer_active_and_not_timed() {
    let h = Harness::new();
    let mut svc = metrics(&h).layer(tower::service_fn(|_: Request<Body>| {
        std::future::pending::<Result<Response<Body>, Infallible>>()
    }));
    let future = svc.call(request("GET", "/hang"));
    assert_eq!(active(&h, "GET"), Some(1.0));
    let timed_out = tokio::time::timeout(Duration::from_millis(10), future).await;
    assert!(timed_out.is_err(), "the handler never answers");
    assert_eq!(active(&h, "GET"), Some(0.0));
    h.assert_nothing_recorded(DURATION);
}

#[tokio::test]
async fn a_panicking_handler_is_no_longer_active() {
    let h = Harness::new();
    let svc = metrics(&h).layer(tower::service_fn(|_: Request<Body>| async {
        if true {
            panic!("handler bug");
        }
        Ok::<Response<Body>, Infallible>(Response::new(Body::empty()))
    }));
    let joined = tokio::spawn(svc.oneshot(request("PATCH", "/boom"))).await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(active(&h, "PATCH"), Some(0.0));
    h.assert_nothing_recorded(DURATION);
}

#[tokio::test]
async fn routes_past_the_cache_limit_are_still_recorded() {
    let h = Harness::new();
    let mut layer = metrics(&h);
    // Set the cache limit alone: a cardinality limit is registered by
    // instrument name, process-wide, and would reach the other tests.
    Arc::get_mut(&mut layer.shared)
        .expect("sole owner")
        .cache_limit = 1;
    let svc = layer
        .with_route(|parts| Some(parts.uri.path()))
        .layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    for path in ["/a", "/b", "/b"] {
        svc.clone()
            .oneshot(request("GET", path))
            .await
            .expect("infallible");
    }
    let mut routes: Vec<String> = h
        .series(DURATION)
        .into_iter()
        .filter_map(|set| set.into_iter().find(|(k, _)| k == "http.route"))
        .map(|(_, v)| v)
        .collect();
    routes.sort();
    assert_eq!(routes, ["/a", "/b"]);
}

#[test]
fn empty_routes_are_left_out() {
    let h = Harness::new();
    let layer = metrics(&h);
    assert!(matches!(layer.shared.intern(""), RouteRef::None));
    assert!(matches!(layer.shared.intern("/x"), RouteRef::Interned(0)));
    assert!(matches!(layer.shared.intern("/x"), RouteRef::Interned(0)));
}

#[test]
fn duration_uses_the_conventions_boundaries() {
    let h = Harness::new();
    let layer = metrics(&h);
    layer.shared.duration.record(0.2, &[]);
    let hist = h.histogram(DURATION, &[]).expect("recorded");
    assert_eq!(hist.bounds, views::HTTP_DURATION_BOUNDARIES.to_vec());
}

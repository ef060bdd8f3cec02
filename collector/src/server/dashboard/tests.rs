use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;
use crate::extensions::auth::BearerConfig;
use crate::receiver::Readiness;
use crate::server::{AppState, router as admin};
use crate::store::{Options, Store};

fn state() -> AppState {
    AppState::new(
        Arc::new(Store::new(Options::default())),
        Arc::new(Readiness::waiting_for(0)),
    )
}

fn get(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    request.body(Body::empty()).unwrap()
}

async fn body(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn serves_the_page_script_and_style_with_strict_headers() {
    let app = admin(state());
    for (path, content_type, expected) in [
        ("/", "text/html; charset=utf-8", PAGE),
        ("/dashboard.js", "text/javascript; charset=utf-8", SCRIPT),
        ("/dashboard.css", "text/css; charset=utf-8", STYLE),
    ] {
        let response = app.clone().oneshot(get(path, None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(body(response).await, expected, "{path}");
    }
}

#[tokio::test]
async fn needs_the_same_credentials_as_the_snapshot_when_auth_is_on() {
    let auth = BearerConfig {
        token: Some("s3cret".into()),
        ..Default::default()
    }
    .validate("bearertokenauth")
    .unwrap();
    let app = admin(AppState {
        auth: Some(Arc::new(auth)),
        ..state()
    });
    for path in ["/", "/dashboard.js", "/dashboard.css", "/api/v1/snapshot"] {
        for wrong in [None, Some("Bearer nope")] {
            let response = app.clone().oneshot(get(path, wrong)).await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path} {wrong:?}");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(body(response).await, "unauthenticated\n");
        }
        let response = app
            .clone()
            .oneshot(get(path, Some("Bearer s3cret")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // Health stays open for probes.
    let response = app.oneshot(get("/healthz", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The page loads nothing from elsewhere: no absolute or protocol-relative
/// URL, no `@import`/`url()`, no inline script, handler or style (which the
/// policy would block anyway), and its script writes no markup.
#[test]
fn the_page_refers_only_to_its_own_origin_and_writes_no_markup() {
    for (name, text) in [
        ("page.html", PAGE),
        ("dashboard.js", SCRIPT),
        ("dashboard.css", STYLE),
    ] {
        for forbidden in [
            "://",
            "src=\"//",
            "href=\"//",
            "url(",
            "@import",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "style=",
            "onclick",
            "onload",
            "fetch('/",
            "fetch(\"/",
        ] {
            assert!(
                !text.contains(forbidden),
                "{name} contains {forbidden:?}"
            );
        }
    }
    // The page's only subresources, relative to wherever it is mounted.
    let script_tags: Vec<&str> = PAGE.match_indices("<script").map(|(i, _)| &PAGE[i..]).collect();
    assert_eq!(script_tags.len(), 1);
    assert!(script_tags[0].starts_with("<script src=\"dashboard.js\" defer></script>"));
    assert!(PAGE.contains("<link rel=\"stylesheet\" href=\"dashboard.css\">"));
    // The script polls exactly these two documents, relatively.
    let mut fetched: Vec<&str> = SCRIPT
        .match_indices("getJson('")
        .map(|(i, m)| {
            let rest = &SCRIPT[i + m.len()..];
            &rest[..rest.find('\'').unwrap()]
        })
        .collect();
    fetched.sort_unstable();
    assert_eq!(fetched, ["api/v1/self", "api/v1/snapshot"]);
}

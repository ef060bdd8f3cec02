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
    let paths: Vec<&str> = ASSETS.iter().map(|a| a.0).collect();
    assert_eq!(
        paths,
        [
            "/",
            "/common.js",
            "/views.js",
            "/dashboard.js",
            "/dashboard.css"
        ]
    );
    for (path, content_type, expected) in ASSETS {
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
    let paths = ASSETS.iter().map(|a| a.0).chain(["/api/v1/snapshot"]);
    for path in paths {
        for wrong in [None, Some("Bearer nope")] {
            let response = app.clone().oneshot(get(path, wrong)).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {wrong:?}"
            );
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
    for (name, _, text) in ASSETS {
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
            assert!(!text.contains(forbidden), "{name} contains {forbidden:?}");
        }
    }
    // The page's only subresources, relative to wherever it is mounted, and
    // no inline script.
    let page = ASSETS[0].2;
    let scripts: Vec<&str> = page
        .match_indices("<script")
        .map(|(i, _)| &page[i..])
        .collect();
    assert_eq!(scripts.len(), 3);
    for (tag, file) in scripts
        .iter()
        .zip(["common.js", "views.js", "dashboard.js"])
    {
        assert!(
            tag.starts_with(&format!("<script src=\"{file}\" defer></script>")),
            "{tag}"
        );
    }
    assert!(page.contains("<link rel=\"stylesheet\" href=\"dashboard.css\">"));
    // The scripts poll exactly these two documents, relatively.
    let mut fetched: Vec<&str> = ASSETS
        .iter()
        .flat_map(|a| {
            a.2.match_indices("getJson('")
                .map(|(i, m)| &a.2[i + m.len()..])
        })
        .map(|rest| &rest[..rest.find('\'').unwrap()])
        .collect();
    fetched.sort_unstable();
    assert_eq!(fetched, ["api/v1/self", "api/v1/snapshot"]);
    let fetches: usize = ASSETS.iter().map(|a| a.2.matches("fetch(").count()).sum();
    assert_eq!(fetches, 1, "one fetch call, in getJson");
}

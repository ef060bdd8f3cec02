//! The live dashboard at `GET /`: one self-contained page that polls the
//! JSON snapshot (`/api/v1/snapshot`) and the collector's own figures
//! (`/api/v1/self`) every 2 s and draws them in the browser.
//!
//! The page, its scripts and its style sheet live in `vigil_store::dashboard` (the SDK's
//! embedded mode serves the same documents) and are compiled into the binary: no CDN, no web
//! font, no image, so it works on a machine with no network. The script uses relative URLs
//! only, so it works behind a reverse proxy that mounts the collector under a path, and it
//! builds the DOM with `textContent`, never `innerHTML`, so no string from a sender can
//! become markup.
//!
//! The routes sit in the server's `pages` group: when auth is on they need the
//! same credentials as `/metrics` and the snapshot. A browser sends Basic
//! credentials it was challenged for with the page's own `fetch` calls too;
//! a bearer token needs a proxy or a client that sets the header.
//!
//! Nothing here renders data on the server: the page reads the same
//! documents any client reads, so the dashboard cannot show what the API
//! does not.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

pub use vigil_store::dashboard::{ASSETS, CONTENT_SECURITY_POLICY};

/// The dashboard's routes (the page, its scripts and style sheet), to be
/// merged into the server's auth-gated pages.
pub fn router() -> Router<AppState> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { asset(content_type, body) }))
        })
}

/// One embedded document with the headers every dashboard answer carries:
/// never cached (a new binary serves a new page at once, and an
/// authenticated page stays out of shared caches), never type-sniffed,
/// never sending a referrer.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let [a, b, c, d] = vigil_store::dashboard::HEADERS;
    (
        [(header::CONTENT_TYPE.as_str(), content_type), a, b, c, d],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;

//! The live dashboard at `GET /`: one self-contained page that polls the
//! JSON snapshot (`/api/v1/snapshot`) and the collector's own figures
//! (`/api/v1/self`) every 2 s and draws them in the browser.
//!
//! The page, its scripts and its style sheet are compiled into the binary
//! (`include_str!`) and served from this address only: no CDN, no web font,
//! no image, so it works on a machine with no network. They are separate
//! documents rather than one so the Content-Security-Policy can forbid every
//! inline script and style (`default-src 'self'` with nothing relaxed) instead
//! of listing hashes that every edit of the page would have to update; the
//! script is three files (helpers, SDK views, polling and layout) to keep
//! each one readable, run in order in one scope with no bundler. The
//! script uses relative URLs only, so it works behind a reverse proxy that
//! mounts the collector under a path, and it builds the DOM with
//! `textContent`, never `innerHTML`, so no string from a sender can become
//! markup.
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

/// The page's Content-Security-Policy: everything from this origin only, no
/// inline script or style, no plugin, no framing, no form posting anywhere,
/// no `<base>` that could redirect relative URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The documents of the page: path, content type, body. The scripts run in
/// this order and share one scope (see `common.js`).
const ASSETS: [(&str, &str, &str); 5] = [
    ("/", HTML, include_str!("page.html")),
    ("/common.js", JS, include_str!("common.js")),
    ("/views.js", JS, include_str!("views.js")),
    ("/dashboard.js", JS, include_str!("dashboard.js")),
    (
        "/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard.css"),
    ),
];
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

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
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;

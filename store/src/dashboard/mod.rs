//! The live dashboard's documents: one page, three scripts and a style sheet, compiled in
//! (`include_str!`), for any server that serves a store's snapshot (the collector at `GET /`,
//! the SDK's embedded mode). The page polls `api/v1/snapshot` and `api/v1/self` every 2 s
//! with relative URLs and draws everything in the browser with `textContent`, never
//! `innerHTML`; no CDN, web font or image, so it works with no network.
//!
//! They are separate documents rather than one so the Content-Security-Policy can forbid every
//! inline script and style ([`CONTENT_SECURITY_POLICY`]) instead of listing hashes that every
//! edit would have to update; the scripts run in order in one scope with no bundler. Serve each
//! with [`HEADERS`].

/// The page's Content-Security-Policy: everything from this origin only, no inline script or
/// style, no plugin, no framing, no form posting anywhere, no `<base>` that could redirect
/// relative URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers every dashboard document carries besides its content type: the policy; never
/// type-sniffed; never cached (a new binary serves a new page at once, and an authenticated
/// page stays out of shared caches); never sending a referrer.
pub const HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The documents: path, content type, body. The scripts run in this order and share one scope
/// (see `common.js`).
pub const ASSETS: [(&str, &str, &str); 5] = [
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

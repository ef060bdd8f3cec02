//! Extensions `bearertokenauth` and `basicauth`: who may send data and read the pages.
//!
//! In the OpenTelemetry Collector's shape: an extension holds the credentials, and a receiver
//! protocol (`receivers.otlp.protocols.<grpc|http>.auth.authenticator`) or the `prometheus`
//! exporter's pages (`exporters.prometheus.auth.authenticator`) names it. `/healthz` and
//! `/readyz` stay open. A request without valid credentials gets HTTP 401 (with
//! `WWW-Authenticate`) or gRPC `UNAUTHENTICATED`, with no detail of what was wrong; failures are
//! counted and logged at most once a minute per authenticator.
//!
//! * `bearertokenauth`: `token`, or `filename` (re-read when the file changes, checked at most
//!   once a second), and `scheme` (default `Bearer`). The comparison takes the same time
//!   whatever matches.
//! * `basicauth`: `htpasswd.inline` and/or `htpasswd.file` (`user:password` lines; the password
//!   in clear or as a bcrypt hash, `htpasswd -B`). A bcrypt check costs tens of milliseconds, so a
//!   credential that passed is remembered (a keyed hash of it, never the text; at most
//!   [`REMEMBERED`] of them) and not checked again.

mod config;
#[cfg(test)]
mod tests;

pub use config::{AuthRef, BasicConfig, BearerConfig, Htpasswd};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::pipeline::Tenant;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Credentials remembered after a bcrypt check passed.
pub const REMEMBERED: usize = 1024;

/// A configured authenticator.
pub struct Authenticator {
    id: String,
    kind: Kind,
    /// Requests refused.
    pub failures: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

enum Kind {
    Bearer {
        scheme: String,
        /// The implicit tenant's token, if any.
        token: Option<TokenSource>,
        /// Tenants' tokens.
        tenants: Vec<(Arc<str>, String)>,
    },
    Basic {
        users: Vec<(String, Secret)>,
        /// Credentials that passed, by keyed hash, with the tenant they stand for.
        passed: Mutex<HashMap<u64, Tenant>>,
        keys: ahash::RandomState,
        user_is_tenant: bool,
    },
}

/// Credentials that were not accepted (missing, malformed or wrong: the sender is not told
/// which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unauthenticated;

/// The tenant of an authenticated request, put into its extensions by [`require`] for the
/// handler.
#[derive(Clone, Debug, Default)]
pub struct Authenticated(pub Tenant);

enum TokenSource {
    Inline(String),
    File {
        path: PathBuf,
        state: Mutex<(String, Option<SystemTime>, Instant)>,
    },
}

/// A password as written in an htpasswd line.
pub(crate) enum Secret {
    Plain(String),
    Bcrypt(String),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        let kind = match self.kind {
            Kind::Bearer { .. } => "bearertokenauth",
            Kind::Basic { .. } => "basicauth",
        };
        write!(f, "Authenticator({kind} {})", self.id)
    }
}

/// Equal-length-independent, data-independent comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

impl Authenticator {
    pub(crate) fn bearer(
        id: &str,
        scheme: String,
        token: Option<String>,
        file: Option<PathBuf>,
        tenants: Vec<(Arc<str>, String)>,
    ) -> Result<Authenticator, String> {
        let token = match (token, file) {
            (Some(t), None) => Some(TokenSource::Inline(t)),
            (None, Some(path)) => {
                let (text, modified) = read_token(&path)?;
                Some(TokenSource::File {
                    path,
                    state: Mutex::new((text, modified, Instant::now())),
                })
            }
            (None, None) if !tenants.is_empty() => None,
            _ => return Err("token: set token or filename (one of them)".to_owned()),
        };
        Ok(Authenticator::new(
            id,
            Kind::Bearer {
                scheme,
                token,
                tenants,
            },
        ))
    }

    pub(crate) fn basic(
        id: &str,
        users: Vec<(String, Secret)>,
        user_is_tenant: bool,
    ) -> Authenticator {
        Authenticator::new(
            id,
            Kind::Basic {
                users,
                passed: Mutex::new(HashMap::new()),
                keys: ahash::RandomState::new(),
                user_is_tenant,
            },
        )
    }

    fn new(id: &str, kind: Kind) -> Authenticator {
        Authenticator {
            id: id.to_owned(),
            kind,
            failures: AtomicU64::new(0),
            last_log: Mutex::new(None),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge(&self) -> &'static str {
        match self.kind {
            Kind::Bearer { .. } => "Bearer",
            Kind::Basic { .. } => "Basic realm=\"vigil\"",
        }
    }

    /// Whether the `Authorization` header value `header` is accepted; a refusal is counted and
    /// logged (at most once a minute).
    pub fn check(&self, header: Option<&str>) -> bool {
        self.authenticate(header).is_ok()
    }

    /// The tenant the `Authorization` header value `header` stands for, or [`Unauthenticated`];
    /// a refusal is counted and logged (at most once a minute).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Tenant, Unauthenticated> {
        let verdict = header.and_then(|h| self.verify(h));
        if verdict.is_none() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                *last = Some(Instant::now());
                tracing::warn!(
                    authenticator = %self.id,
                    failures = self.failures.load(Ordering::Relaxed),
                    "request refused: missing or wrong credentials (logged at most once a minute)"
                );
            }
        }
        verdict.ok_or(Unauthenticated)
    }

    /// `Some(tenant)` when `header` is accepted.
    fn verify(&self, header: &str) -> Option<Tenant> {
        match &self.kind {
            Kind::Bearer {
                scheme,
                token,
                tenants,
            } => {
                let (s, presented) = header.trim().split_once(' ')?;
                if !s.eq_ignore_ascii_case(scheme) {
                    return None;
                }
                let presented = presented.trim().as_bytes();
                // Every token is compared, so the time does not say which one matched.
                let mut found: Option<Tenant> = None;
                if let Some(token) = token
                    && same(presented, token.current().as_bytes())
                {
                    found = Some(None);
                }
                for (tenant, token) in tenants {
                    if same(presented, token.as_bytes()) {
                        found = Some(Some(tenant.clone()));
                    }
                }
                found
            }
            Kind::Basic {
                users,
                passed,
                keys,
                user_is_tenant,
            } => {
                let (s, encoded) = header.trim().split_once(' ')?;
                if !s.eq_ignore_ascii_case("basic") {
                    return None;
                }
                let key = keys.hash_one(encoded.trim());
                if let Some(tenant) = passed.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                    return Some(tenant.clone());
                }
                let decoded = config::base64_decode(encoded.trim())?;
                let decoded = String::from_utf8(decoded).ok()?;
                let (user, password) = decoded.split_once(':')?;
                // Every entry is looked at, so the time does not say which user exists.
                let mut ok = false;
                for (name, secret) in users {
                    let user_matches = same(name.as_bytes(), user.as_bytes());
                    let password_matches = match secret {
                        Secret::Plain(p) => same(p.as_bytes(), password.as_bytes()),
                        Secret::Bcrypt(h) => {
                            user_matches && bcrypt::verify(password, h).unwrap_or(false)
                        }
                    };
                    ok |= user_matches && password_matches;
                }
                if !ok {
                    return None;
                }
                let tenant: Tenant = user_is_tenant.then(|| Arc::from(user));
                let mut passed = passed.lock().unwrap_or_else(|p| p.into_inner());
                if passed.len() >= REMEMBERED {
                    passed.clear();
                }
                passed.insert(key, tenant.clone());
                Some(tenant)
            }
        }
    }
}

impl TokenSource {
    fn current(&self) -> String {
        match self {
            TokenSource::Inline(t) => t.clone(),
            TokenSource::File { path, state } => {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                if state.2.elapsed() >= Duration::from_secs(1) {
                    state.2 = Instant::now();
                    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                    if modified != state.1 {
                        match read_token(path) {
                            Ok((text, modified)) => {
                                state.0 = text;
                                state.1 = modified;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the token file changed but cannot be read; the previous token stays")
                            }
                        }
                    }
                }
                state.0.clone()
            }
        }
    }
}

fn read_token(path: &PathBuf) -> Result<(String, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("filename: cannot read {}: {e}", path.display()))?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(format!("filename: {} holds no token", path.display()));
    }
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((token, modified))
}

/// `router` with every route behind `auth`: a request without accepted credentials gets 401
/// with the challenge, and reaches no handler; an accepted one carries its tenant in an
/// [`Authenticated`] extension.
pub fn require<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    auth: std::sync::Arc<Authenticator>,
) -> axum::Router<S> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let auth = auth.clone();
            async move {
                let presented = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                if let Ok(tenant) = auth.authenticate(presented) {
                    let mut request = request;
                    request.extensions_mut().insert(Authenticated(tenant));
                    next.run(request).await
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, auth.challenge())],
                        "unauthenticated\n",
                    )
                        .into_response()
                }
            }
        },
    ))
}

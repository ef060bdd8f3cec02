//! The extension's HTTP routes, under `/debug/pprof/` as in Go's `net/http/pprof`:
//!
//! | route | answer |
//! |---|---|
//! | `GET /debug/pprof/` | the list of routes (text) |
//! | `GET /debug/pprof/profile?seconds=N` | a CPU profile of N seconds (default 30), gzipped `profile.proto` |
//! | `GET /debug/pprof/allocator` | the allocator's heap statistics and the resident set (JSON) |
//!
//! Go's other profiles (`heap`, `goroutine`, `block`, `mutex`, ...) describe the Go runtime and
//! answer 404 with a message naming what exists. Authentication is the caller's: these routes are
//! merged into a router that applies it.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{allocator, cpu};

/// A profile's length when `seconds` is not given (Go's default).
pub const DEFAULT_SECONDS: u64 = 30;
/// The longest profile on the extension's own listener.
pub const MAX_SECONDS: u64 = 300;

/// What the routes need to know about where they are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest profile this listener can carry: a connection on which nothing moves for the
    /// listener's `idle_timeout` is closed, and a profile sends nothing until it is done.
    pub max_seconds: u64,
}

/// The routes, for any router state (they carry their own).
pub fn router<S: Clone + Send + Sync + 'static>(limits: Limits) -> Router<S> {
    Router::new()
        .route("/debug/pprof/", get(index))
        .route("/debug/pprof/profile", get(profile))
        .route("/debug/pprof/allocator", get(allocator_stats))
        .route("/debug/pprof/{*other}", get(unknown))
        .with_state(limits)
}

pub(super) const INDEX: &str = "Vigil profiling (the pprof extension)\n\n\
    /debug/pprof/profile?seconds=N  CPU profile of the whole process for N seconds (default 30), \
    pprof format: go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30\n\
    /debug/pprof/allocator          heap statistics of the allocator and the resident set (JSON)\n";

async fn index() -> &'static str {
    INDEX
}

async fn unknown() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: Vigil serves /debug/pprof/profile (CPU) and /debug/pprof/allocator (heap \
         statistics); Go's other profiles describe the Go runtime\n",
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    seconds: Option<String>,
}

/// `seconds` as a whole number from 1 to `max`.
pub fn parse_seconds(value: Option<&str>, max: u64) -> Result<u64, String> {
    let Some(text) = value else {
        return Ok(DEFAULT_SECONDS.min(max));
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "seconds={text:?}: give a whole number of seconds from 1 to {max}{}\n",
            if max < MAX_SECONDS {
                " on this address (its idle_timeout closes a connection sooner); give the pprof \
                 extension an endpoint of its own for profiles up to 300 s"
            } else {
                ""
            }
        )),
    }
}

async fn profile(
    State(limits): State<Limits>,
    query: Result<Query<ProfileQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad query: {e}\n")).into_response(),
    };
    let seconds = match parse_seconds(query.seconds.as_deref(), limits.max_seconds) {
        Ok(s) => s,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let Some(claim) = cpu::Claim::try_new(Duration::from_secs(seconds)) else {
        let remaining = cpu::Claim::remaining();
        let retry = (remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0))
            .max(1)
            .to_string();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry)],
            "a CPU profile is already being taken (one at a time per process); retry after it\n",
        )
            .into_response();
    };
    // Dropping the sender (this future dropped: the client went away) ends the sampling early.
    let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
    let taken = tokio::task::spawn_blocking(move || {
        cpu::profile(claim, Duration::from_secs(seconds), cancelled)
    })
    .await;
    drop(cancel);
    match taken {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile\"",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "CPU profile failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "CPU profile failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the CPU profile failed; see the collector's log\n",
            )
                .into_response()
        }
    }
}

async fn allocator_stats() -> Response {
    // mallinfo2 takes the arenas' locks: off the async workers, like any call that may wait.
    match tokio::task::spawn_blocking(allocator::stats).await {
        Ok(stats) => match serde_json::to_vec_pretty(&stats) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        },
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

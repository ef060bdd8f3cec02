//! The sink's OTLP/HTTP side: `POST /v1/metrics`, `/v1/traces`, `/v1/logs`
//! with protobuf or JSON bodies, gzip accepted. Errors follow the OTLP/HTTP
//! specification: a `google.rpc.Status` body, `Retry-After` on throttling.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use flate2::read::GzDecoder;
use prost::Message;

use super::{FailStatus, Logs, Metrics, Refusal, Signal, State, Traces, rpc_status};

/// Largest accepted body, before and after decompression.
const MAX_BODY: usize = 256 << 20;

/// The OTLP/HTTP routes.
pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/metrics", post(export::<Metrics>))
        .route("/v1/traces", post(export::<Traces>))
        .route("/v1/logs", post(export::<Logs>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn export<S: Signal>(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        let mut out = Vec::with_capacity(body.len() * 4);
        let read = GzDecoder::new(&body[..])
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut out);
        match read {
            Ok(n) if n <= MAX_BODY => Bytes::from(out),
            Ok(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body inflates past the limit",
                    None,
                    json,
                );
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("bad gzip body: {e}"),
                    None,
                    json,
                );
            }
        }
    } else {
        body
    };
    match state.accept::<S>(&body, json) {
        Ok(()) if json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Bytes::new(),
        )
            .into_response(),
        Err(Refusal::Malformed(e)) => error(
            StatusCode::BAD_REQUEST,
            &format!("cannot decode the request: {e}"),
            None,
            json,
        ),
        Err(Refusal::Injected(fail)) => {
            let status = match fail {
                FailStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                FailStatus::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
                FailStatus::BadRequest => StatusCode::BAD_REQUEST,
            };
            let message = "vigil-load sink: failing this request as told (--fail-first)";
            error(status, message, state.retry_after, json)
        }
    }
}

/// An OTLP/HTTP error: `google.rpc.Status` in the request's encoding, `Retry-After` in
/// whole seconds (rounded up) when a delay is given.
fn error(
    status: StatusCode,
    message: &str,
    retry_after: Option<std::time::Duration>,
    json: bool,
) -> Response {
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        _ => tonic::Code::InvalidArgument,
    };
    let mut response = if json {
        let body = serde_json::json!({ "code": code as i32, "message": message });
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    } else {
        let body = rpc_status(code, message, None).encode_to_vec();
        (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            body,
        )
            .into_response()
    };
    if let Some(d) = retry_after {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

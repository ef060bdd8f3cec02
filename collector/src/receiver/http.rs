//! OTLP/HTTP receiver (default `127.0.0.1:4318`): `POST /v1/metrics`,
//! `/v1/traces`, `/v1/logs` with `application/x-protobuf` or
//! `application/json` bodies, optionally `Content-Encoding: gzip`.
//!
//! Status codes follow the OTLP/HTTP specification: 400 for a malformed body
//! or an unsupported encoding, 404 for an unknown path, 405 for a method other
//! than POST, 413 when the body (before or after decompression) is larger than
//! the limit, 415 for another media type. Errors carry a `google.rpc.Status`
//! in the request's media type (protobuf or JSON), or plain text when the
//! media type itself is the problem. A gzip body is inflated through a
//! bounded reader, so a small bomb cannot make the collector allocate more
//! than the limit.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::server::conn::Limits;
use crate::server::tls::ServerTls;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use tokio::net::TcpListener;

use super::{Error, Logs, Metrics, Pipeline, Signal, Traces};
use crate::pipeline::{Refused, Work};
use crate::rpc::RpcStatus;

/// The two OTLP/HTTP encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    fn from_headers(headers: &HeaderMap) -> Option<Encoding> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    message: String,
    encoding: Option<Encoding>,
    retry_after: Option<Duration>,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>, encoding: Option<Encoding>) -> Self {
        Rejection {
            status,
            message: message.into(),
            encoding,
            retry_after: None,
        }
    }

    /// How the pipelines' refusal is told over HTTP: 400 for data nobody can take, else 503
    /// with `Retry-After` (whole seconds, at least 1).
    fn refused(refused: Refused, encoding: Encoding) -> Self {
        if refused.permanent {
            Rejection::new(StatusCode::BAD_REQUEST, refused.reason, Some(encoding))
        } else {
            Rejection {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: refused.reason,
                encoding: Some(encoding),
                retry_after: refused.retry_after,
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        // gRPC codes: INVALID_ARGUMENT 3, NOT_FOUND 5, RESOURCE_EXHAUSTED 8, UNIMPLEMENTED 12, INTERNAL 13.
        let code = match self.status {
            StatusCode::NOT_FOUND => 5,
            StatusCode::PAYLOAD_TOO_LARGE => 8,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => 12,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            s if s.is_server_error() => 13,
            _ => 3,
        };
        let status = RpcStatus {
            code,
            message: self.message.clone(),
            details: Vec::new(),
        };
        let retry_after = self
            .retry_after
            .map(|d| d.as_secs_f64().ceil().max(1.0) as u64);
        let mut response = match self.encoding {
            Some(Encoding::Protobuf) => (
                self.status,
                [(header::CONTENT_TYPE, Encoding::Protobuf.content_type())],
                status.encode_to_vec(),
            )
                .into_response(),
            Some(Encoding::Json) => {
                let body = serde_json::to_vec(&status).unwrap_or_default();
                (
                    self.status,
                    [(header::CONTENT_TYPE, Encoding::Json.content_type())],
                    body,
                )
                    .into_response()
            }
            None => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message,
            )
                .into_response(),
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The receiver's routes, for serving or for `oneshot` tests.
pub fn router(pipeline: Pipeline, max_body: usize) -> Router {
    router_with(pipeline, max_body, Limits::HTTP.read_timeout)
}

/// [`router`] with the time a client has to send a whole body (`read_timeout`).
pub fn router_with(pipeline: Pipeline, max_body: usize, read_timeout: Duration) -> Router {
    let state = (pipeline, max_body, read_timeout);
    Router::new()
        .route(Metrics::PATH, axum::routing::any(export::<Metrics>))
        .route(Traces::PATH, axum::routing::any(export::<Traces>))
        .route(Logs::PATH, axum::routing::any(export::<Logs>))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(req: Request) -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        format!(
            "no OTLP endpoint at {}; use POST /v1/metrics, /v1/traces or /v1/logs",
            req.uri().path()
        ),
        None,
    )
}

async fn export<S: Signal>(
    State((pipeline, max_body, read_timeout)): State<(Pipeline, usize, Duration)>,
    req: Request,
) -> Response {
    match handle::<S>(&pipeline, max_body, read_timeout, req).await {
        Ok(resp) => resp,
        Err(rejection) => {
            pipeline
                .counters
                .bad_requests
                .fetch_add(1, Ordering::Relaxed);
            pipeline.counters.log_refusal(
                S::SIGNAL,
                0,
                &format!("{} (OTLP/HTTP {})", rejection.message, rejection.status),
            );
            rejection.into_response()
        }
    }
}

async fn handle<S: Signal>(
    pipeline: &Pipeline,
    max_body: usize,
    read_timeout: Duration,
    req: Request,
) -> Result<Response, Rejection> {
    if req.method() != Method::POST {
        let mut resp = Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} {} is not supported: OTLP/HTTP takes POST",
                req.method(),
                S::PATH
            ),
            None,
        )
        .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(resp);
    }
    let encoding = Encoding::from_headers(req.headers()).ok_or_else(|| {
        let got = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "none".into());
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {got:?}: use application/x-protobuf or application/json"
            ),
            None,
        )
    })?;
    let gzip = match req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim())
    {
        None | Some("") | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}: use gzip or none"),
                Some(encoding),
            ));
        }
    };
    // A declared length past the limit is refused before a byte of the body is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {max_body} bytes"),
            Some(encoding),
        ));
    }
    // Set by the authenticator (`auth::require`), when the protocol has one.
    let tenant = req
        .extensions()
        .get::<crate::extensions::auth::Authenticated>()
        .and_then(|a| a.0.clone());
    let body = tokio::time::timeout(read_timeout, read_body(req.into_body(), max_body, encoding))
        .await
        .map_err(|_| {
            Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {read_timeout:?} (read_timeout)"),
                Some(encoding),
            )
        })??;
    let body = if gzip {
        gunzip(&body, max_body, encoding)?
    } else {
        body
    };
    let mut work = match encoding {
        Encoding::Protobuf => pipeline.receive(S::SIGNAL, body).map_err(|e| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("malformed protobuf: {e}"),
                Some(encoding),
            )
        })?,
        Encoding::Json => {
            let request = S::decode_json(&body).map_err(|e| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    format!("malformed OTLP/JSON: {e}"),
                    Some(encoding),
                )
            })?;
            Work::decoded(S::into_request(request))
        }
    };
    work.tenant = tenant;
    let accepted = pipeline
        .consume(work)
        .await
        .map_err(|refused| Rejection::refused(refused, encoding))?;
    let response = S::response(accepted);
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).map_err(|e| {
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding the response: {e}"),
                Some(encoding),
            )
        })?,
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response())
}

async fn read_body(body: Body, max_body: usize, encoding: Encoding) -> Result<Bytes, Rejection> {
    axum::body::to_bytes(body, max_body).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the limit of {max_body} bytes"),
                Some(encoding),
            )
        } else {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("reading the request body: {e}"),
                Some(encoding),
            )
        }
    })
}

pub(crate) fn gunzip(body: &[u8], max_body: usize, encoding: Encoding) -> Result<Bytes, Rejection> {
    let mut out = Vec::new();
    // Every member: a body of concatenated gzip members is one stream (RFC 1952 §2.2).
    let mut reader = flate2::read::MultiGzDecoder::new(body).take(max_body as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("malformed gzip body: {e}"),
            Some(encoding),
        )
    })?;
    if out.len() > max_body {
        return Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed request body is larger than the limit of {max_body} bytes"),
            Some(encoding),
        ));
    }
    Ok(Bytes::from(out))
}

/// Decode an OTLP/JSON metrics request, refusing one whose metric data does not parse.
///
/// opentelemetry-proto reads `Metric.data` (the `gauge`/`sum`/... oneof)
/// through `#[serde(flatten)]` into an `Option`, and serde turns any error
/// inside a flattened `Option` into `None`: a metric whose points do not parse
/// (`"timeUnixNano": "yesterday"`) would decode as a metric without data and
/// be dropped with a 200 and no `partial_success`. A metric without data is
/// rare in real traffic, so only then is the body parsed a second time, each
/// data field on its own, to find the error and refuse the request with it.
/// (`NumberDataPoint.value` is flattened the same way: a double written as a
/// string is read by `json_numbers`; any other value that does not parse
/// becomes a point without a value, which the store rejects and reports, so it
/// is not lost silently.)
pub(super) fn decode_metrics_json(
    body: &[u8],
) -> Result<ExportMetricsServiceRequest, serde_json::Error> {
    let mut request: ExportMetricsServiceRequest = serde_json::from_slice(body)?;
    super::json_numbers::fill_string_doubles(&mut request, body);
    let dataless = request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .any(|m| m.data.is_none());
    if dataless {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        check_metric_data(&value)?;
    }
    Ok(request)
}

fn check_metric_data(request: &serde_json::Value) -> Result<(), serde_json::Error> {
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, Gauge, Histogram, Sum, Summary,
    };
    use serde::de::Error as _;
    use serde_json::Value;

    type Check = fn(&Value) -> Result<(), serde_json::Error>;
    fn check<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
        T::deserialize(v).map(drop)
    }
    const CHECKS: [(&str, Check); 5] = [
        ("gauge", check::<Gauge>),
        ("sum", check::<Sum>),
        ("histogram", check::<Histogram>),
        ("exponentialHistogram", check::<ExponentialHistogram>),
        ("summary", check::<Summary>),
    ];
    fn items<'v>(v: &'v Value, key: &str) -> &'v [Value] {
        match v.get(key) {
            Some(Value::Array(items)) => items,
            _ => &[],
        }
    }
    for rm in items(request, "resourceMetrics") {
        for sm in items(rm, "scopeMetrics") {
            for metric in items(sm, "metrics") {
                let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
                for (key, check) in CHECKS {
                    // `null` is "not set" in proto3 JSON.
                    if let Some(data) = metric.get(key).filter(|d| !d.is_null()) {
                        check(data).map_err(|e| {
                            serde_json::Error::custom(format!("metric {name:?}: {key}: {e}"))
                        })?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The HTTP receiver.
pub struct Http {
    router: Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
}

impl Http {
    /// A receiver feeding `pipeline`, refusing bodies over `max_body` bytes.
    pub fn new(pipeline: Pipeline, max_body: usize) -> Self {
        Http {
            router: router(pipeline, max_body),
            limits: Limits::HTTP,
            tls: None,
        }
    }

    /// The same receiver with the listener's `limits` (connections, timeouts).
    pub fn with_limits(pipeline: Pipeline, max_body: usize, limits: Limits) -> Self {
        Http {
            router: router_with(pipeline, max_body, limits.read_timeout),
            limits,
            tls: None,
        }
    }

    /// Served over `tls` (which offers `h2` and `http/1.1`).
    pub fn with_tls(mut self, tls: Option<Arc<ServerTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// Every request must carry credentials `auth` accepts (401 otherwise).
    pub fn with_auth(mut self, auth: Option<Arc<crate::extensions::auth::Authenticator>>) -> Self {
        if let Some(auth) = auth {
            self.router = crate::extensions::auth::require(self.router, auth);
        }
        self
    }

    /// Serve on a bound listener until `shutdown` resolves; `on_ready` runs once serving.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        on_ready: impl FnOnce(),
    ) -> Result<(), Error> {
        on_ready();
        // TCP_NODELAY (see the gRPC receiver), the connection cap and timeouts: `conn`.
        crate::server::conn::serve(listener, self.router, self.limits, self.tls, shutdown)
            .await
            .map_err(Error::Http)
    }
}

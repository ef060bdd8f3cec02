//! The OTLP/HTTP exporters' client: reqwest's blocking client for `http://`,
//! hyper with rustls for `https://`, both remembering their last transport
//! error.
//!
//! Why not reqwest for both: reqwest's TLS comes from its `rustls` features,
//! and Cargo unifies features across the build, so enabling them here would
//! switch every reqwest client in the application (and in this workspace) to
//! rustls, where those without a process-wide crypto provider panic. hyper
//! with `hyper-rustls` takes a ready rustls configuration (`ring`, see
//! `tls.rs`) and touches nobody else.
//!
//! hyper needs a tokio runtime, and the SDK's reader thread has none: the
//! request is spawned onto Vigil's own exporter runtime (see `export.rs`) and
//! awaited through a channel, which works from any thread or executor.
//!
//! `opentelemetry-otlp` reduces every transport failure to "network error";
//! [`Transport`] keeps the error's full chain (refused, TLS, DNS) in a slot
//! that the export reporter quotes in its warning.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::report::TransportError;

/// An [`HttpClient`] that records its last transport error and, for
/// clients that need tokio, runs requests on the exporters' runtime.
pub(crate) struct Transport {
    inner: Arc<dyn HttpClient>,
    runtime: Option<tokio::runtime::Handle>,
    last_error: TransportError,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("inner", &self.inner)
            .field("on_runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// reqwest's blocking client with `timeout`, for plaintext endpoints.
    ///
    /// Built on a thread of its own, as `opentelemetry-otlp` does: building
    /// it inside an async context panics.
    pub(crate) fn plaintext(timeout: Duration, last_error: TransportError) -> Result<Self, String> {
        let client = std::thread::Builder::new()
            .name("vigil-http-client".into())
            .spawn(move || {
                reqwest::blocking::Client::builder()
                    .timeout(timeout)
                    .build()
            })
            .map_err(|e| format!("could not start a thread for the HTTP client: {e}"))?
            .join()
            .map_err(|_| "the thread building the HTTP client panicked".to_string())?
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(Transport {
            inner: Arc::new(client),
            runtime: None,
            last_error,
        })
    }

    /// hyper over rustls with `config`, running on `runtime`.
    pub(crate) fn tls(
        config: rustls::ClientConfig,
        timeout: Duration,
        runtime: tokio::runtime::Handle,
        last_error: TransportError,
    ) -> Self {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Transport {
            inner: Arc::new(HyperClient::new(connector, timeout, None)),
            runtime: Some(runtime),
            last_error,
        }
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let result = match &self.runtime {
            Some(runtime) => {
                let inner = self.inner.clone();
                let (tx, rx) = tokio::sync::oneshot::channel();
                runtime.spawn(async move {
                    let _ = tx.send(inner.send_bytes(request).await);
                });
                rx.await
                    .unwrap_or_else(|_| Err("the exporters' runtime has stopped".into()))
            }
            None => self.inner.send_bytes(request).await,
        };
        if let Err(error) = &result {
            let mut slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(chain(error.as_ref()));
        }
        result
    }
}

/// `opentelemetry_http::HttpClient` is an `async_trait`; this is its
/// desugared signature, which spares a dependency on the macro crate.
impl HttpClient for Transport {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.send(request))
    }
}

/// An error and its sources, `: `-separated, without repeats (hyper and
/// reqwest often repeat the inner message in the outer one).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_quotes_every_cause_once() {
        let error = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(chain(&error), "error sending request: Connection refused");
    }
}

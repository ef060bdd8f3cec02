//! The OTLP exporters: their resolved configuration ([`Plan`]) and how they
//! are built, including the tokio runtime the gRPC transport needs.
//!
//! Runtime decision: gRPC exporters are always built inside a small runtime
//! that Vigil owns (one worker thread), never on the caller's runtime. tonic
//! spawns its connection task on whatever runtime is current when the channel
//! is built, and the SDK's reader thread waits on that task for every export.
//! On a current-thread runtime that task cannot run while the runtime's only
//! thread blocks in a synchronous `shutdown()` (a deadlock until the
//! deadline); on a multi-thread runtime with one worker the same happens, and
//! any runtime may be shut down before the guard is dropped. One extra thread
//! removes all three hazards. Plaintext OTLP/HTTP uses reqwest's blocking
//! client, which needs no runtime; OTLP/HTTP over TLS uses hyper, which runs
//! on the same runtime (`http_client.rs` says why).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_otlp::{
    MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};

use super::InitError;
use super::env::{self, Endpoint, Lookup, Protocol, Signal};
use super::http_client::Transport;
use super::report::{ExportLog, Recorded, Reporter, TransportError};
use super::selfmetrics::component_type;
use super::tls::{self, CodeTls, Tls};

/// The resolved exporter configuration of one signal.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    /// `Some` exactly when the endpoint is `https`.
    pub(crate) tls: Option<Tls>,
}

/// What the builder set in code for the exporters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CodeSettings<'a> {
    pub(crate) protocol: Option<Protocol>,
    pub(crate) endpoint: Option<&'a str>,
    pub(crate) tls: &'a CodeTls,
}

impl Target {
    /// Resolves one signal's configuration from code and the environment.
    pub(crate) fn resolve(
        signal: Signal,
        lookup: Lookup<'_>,
        code: CodeSettings<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Target, InitError> {
        let protocol = env::protocol(signal, lookup, code.protocol, warnings);
        let endpoint = env::endpoint(signal, protocol, lookup, code.endpoint, warnings)?;
        let tls = tls::resolve(signal, &endpoint, code.tls, lookup, warnings)?;
        Ok(Target {
            protocol,
            endpoint,
            headers: env::headers(signal, lookup)?,
            timeout: env::timeout(signal, lookup, warnings),
            tls,
        })
    }

    fn needs_runtime(&self) -> bool {
        self.protocol == Protocol::Grpc || self.tls.is_some()
    }
}

/// Both signals' exporter configuration.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) metrics: Target,
    pub(crate) traces: Target,
}

/// Built exporters, wrapped to report their outcomes, the reporters (to
/// attach self-metrics once the meter provider exists), and the runtime
/// that drives gRPC and TLS exports (dropped last, after the providers shut
/// down).
pub(crate) struct Exporters {
    pub(crate) metrics: Recorded<MetricExporter>,
    pub(crate) spans: Recorded<SpanExporter>,
    pub(crate) reporters: [Arc<Reporter>; 2],
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

impl Plan {
    /// Builds the exporters; starts the runtime if a signal uses gRPC or TLS.
    pub(crate) fn build(
        &self,
        metrics_log: Arc<ExportLog>,
        traces_log: Arc<ExportLog>,
    ) -> Result<Exporters, InitError> {
        let runtime = if self.metrics.needs_runtime() || self.traces.needs_runtime() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("vigil-otlp")
                .enable_all()
                .build()
                .map_err(InitError::runtime)?;
            Some(runtime)
        } else {
            None
        };
        let handle = runtime.as_ref().map(|rt| rt.handle().clone());
        let metrics_transport: TransportError = Arc::new(Mutex::new(None));
        let traces_transport: TransportError = Arc::new(Mutex::new(None));
        // Entering nests under a caller's runtime, if any, and restores it on drop.
        let entered = runtime.as_ref().map(|rt| rt.enter());
        let metrics = metric_exporter(&self.metrics, handle.clone(), metrics_transport.clone());
        let spans = span_exporter(&self.traces, handle, traces_transport.clone());
        drop(entered);
        let (metrics, spans) = match (metrics, spans) {
            (Ok(metrics), Ok(spans)) => (metrics, spans),
            (Err(error), _) | (_, Err(error)) => {
                if let Some(runtime) = runtime {
                    runtime.shutdown_background();
                }
                return Err(error);
            }
        };
        let reporter = |signal, target: &Target, log, transport| {
            Arc::new(Reporter::new(
                signal,
                component_type(signal, target.protocol),
                target.endpoint.clone(),
                log,
                (target.protocol == Protocol::HttpProtobuf).then_some(transport),
            ))
        };
        let metrics_reporter = reporter(
            Signal::Metrics,
            &self.metrics,
            metrics_log,
            metrics_transport,
        );
        let traces_reporter = reporter(Signal::Traces, &self.traces, traces_log, traces_transport);
        Ok(Exporters {
            metrics: Recorded::new(metrics, metrics_reporter.clone()),
            spans: Recorded::new(spans, traces_reporter.clone()),
            reporters: [metrics_reporter, traces_reporter],
            runtime,
        })
    }
}

// Headers for gRPC are passed by `opentelemetry-otlp` itself: it reads the
// same variables with the same precedence from the process environment, and
// building a `MetadataMap` with dynamic keys would need the `http` crate as a
// direct dependency. Vigil has validated them already (`env::headers`), so a
// malformed value fails `build()` instead of being dropped silently.

/// The OTLP/HTTP client of `target`: plaintext reqwest, or hyper + rustls
/// on the exporters' runtime.
fn http_client(
    target: &Target,
    signal: Signal,
    runtime: Option<tokio::runtime::Handle>,
    last_error: TransportError,
) -> Result<Transport, InitError> {
    let fail = |reason: String| InitError::exporter(signal.name(), &target.endpoint.url, reason);
    match (&target.tls, runtime) {
        (Some(tls), Some(runtime)) => {
            let config = tls.rustls().map_err(fail)?;
            Ok(Transport::tls(config, target.timeout, runtime, last_error))
        }
        (Some(_), None) => Err(fail("no runtime for the TLS client".to_string())),
        (None, _) => Transport::plaintext(target.timeout, last_error).map_err(fail),
    }
}

fn metric_exporter(
    target: &Target,
    runtime: Option<tokio::runtime::Handle>,
    last_error: TransportError,
) -> Result<MetricExporter, InitError> {
    let signal = Signal::Metrics;
    match target.protocol {
        Protocol::Grpc => {
            let builder = MetricExporter::builder()
                .with_tonic()
                .with_endpoint(target.endpoint.url.clone())
                .with_timeout(target.timeout);
            match &target.tls {
                Some(tls) => builder.with_tls_config(tls.tonic()).build(),
                None => builder.build(),
            }
        }
        Protocol::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(target.endpoint.url.clone())
            .with_timeout(target.timeout)
            .with_headers(header_map(&target.headers))
            .with_http_client(http_client(target, signal, runtime, last_error)?)
            .build(),
    }
    .map_err(|source| InitError::exporter(signal.name(), &target.endpoint.url, source))
}

fn span_exporter(
    target: &Target,
    runtime: Option<tokio::runtime::Handle>,
    last_error: TransportError,
) -> Result<SpanExporter, InitError> {
    let signal = Signal::Traces;
    match target.protocol {
        Protocol::Grpc => {
            let builder = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(target.endpoint.url.clone())
                .with_timeout(target.timeout);
            match &target.tls {
                Some(tls) => builder.with_tls_config(tls.tonic()).build(),
                None => builder.build(),
            }
        }
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(target.endpoint.url.clone())
            .with_timeout(target.timeout)
            .with_headers(header_map(&target.headers))
            .with_http_client(http_client(target, signal, runtime, last_error)?)
            .build(),
    }
    .map_err(|source| InitError::exporter(signal.name(), &target.endpoint.url, source))
}

fn header_map(headers: &[(String, String)]) -> HashMap<String, String> {
    headers.iter().cloned().collect()
}

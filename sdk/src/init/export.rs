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
//! removes all three hazards. OTLP/HTTP uses reqwest's blocking client, which
//! `opentelemetry-otlp` builds on its own thread and which needs no runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig};

use super::Error;
use super::env::{self, Lookup, Protocol, Signal};
use super::report::{ExportLog, Recorded};

/// The resolved exporter configuration of one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
}

impl Target {
    /// Resolves one signal's configuration from code and the environment.
    pub(crate) fn resolve(
        signal: Signal,
        lookup: Lookup<'_>,
        code_protocol: Option<Protocol>,
        code_endpoint: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Result<Target, Error> {
        let protocol = env::protocol(signal, lookup, code_protocol, warnings);
        Ok(Target {
            protocol,
            endpoint: env::endpoint(signal, protocol, lookup, code_endpoint, warnings)?,
            headers: env::headers(signal, lookup)?,
            timeout: env::timeout(signal, lookup, warnings),
        })
    }
}

/// Both signals' exporter configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) metrics: Target,
    pub(crate) traces: Target,
}

/// Built exporters, wrapped to record their outcomes, and the runtime that
/// drives the gRPC ones (dropped last, after the providers shut down).
pub(crate) struct Exporters {
    pub(crate) metrics: Recorded<MetricExporter>,
    pub(crate) spans: Recorded<SpanExporter>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

impl Plan {
    /// Builds the exporters; starts the gRPC runtime if a signal uses gRPC.
    pub(crate) fn build(
        &self,
        metrics_log: Arc<ExportLog>,
        traces_log: Arc<ExportLog>,
    ) -> Result<Exporters, Error> {
        let needs_runtime =
            self.metrics.protocol == Protocol::Grpc || self.traces.protocol == Protocol::Grpc;
        let runtime = if needs_runtime {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("vigil-otlp")
                .enable_all()
                .build()
                .map_err(Error::runtime)?;
            Some(runtime)
        } else {
            None
        };
        // Entering nests under a caller's runtime, if any, and restores it on drop.
        let entered = runtime.as_ref().map(|rt| rt.enter());
        let metrics = metric_exporter(&self.metrics);
        let spans = span_exporter(&self.traces);
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
        Ok(Exporters {
            metrics: Recorded::new(metrics, metrics_log),
            spans: Recorded::new(spans, traces_log),
            runtime,
        })
    }
}

// Headers for gRPC are passed by `opentelemetry-otlp` itself: it reads the
// same variables with the same precedence from the process environment, and
// building a `MetadataMap` with dynamic keys would need the `http` crate as a
// direct dependency. Vigil has validated them already (`env::headers`), so a
// malformed value fails `build()` instead of being dropped silently.

fn metric_exporter(target: &Target) -> Result<MetricExporter, Error> {
    let signal = Signal::Metrics.name();
    match target.protocol {
        Protocol::Grpc => MetricExporter::builder()
            .with_tonic()
            .with_endpoint(target.endpoint.clone())
            .with_timeout(target.timeout)
            .build(),
        Protocol::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(target.endpoint.clone())
            .with_timeout(target.timeout)
            .with_headers(header_map(&target.headers))
            .build(),
    }
    .map_err(|source| Error::exporter(signal, source))
}

fn span_exporter(target: &Target) -> Result<SpanExporter, Error> {
    let signal = Signal::Traces.name();
    match target.protocol {
        Protocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(target.endpoint.clone())
            .with_timeout(target.timeout)
            .build(),
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(target.endpoint.clone())
            .with_timeout(target.timeout)
            .with_headers(header_map(&target.headers))
            .build(),
    }
    .map_err(|source| Error::exporter(signal, source))
}

fn header_map(headers: &[(String, String)]) -> HashMap<String, String> {
    headers.iter().cloned().collect()
}

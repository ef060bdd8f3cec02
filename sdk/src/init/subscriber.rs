//! The global `tracing` subscriber Vigil installs when asked
//! ([`Builder::with_tracing`](super::Builder::with_tracing)): a `RUST_LOG`
//! filter, a fmt layer, and the OpenTelemetry layer exporting spans.
//!
//! Opt-in because a process has one global subscriber and the application
//! usually wants its own: Vigil's would make the application's fail to
//! install. When one is already installed, Vigil leaves it and warns; the
//! application joins span export with [`Guard::tracing_layer`](super::Guard::tracing_layer).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::env::{self, Lookup};

/// Targets whose spans must not reach the OpenTelemetry layer: the export
/// path itself, which would otherwise feed back into the exporter.
const EXPORT_PATH_TARGETS: &[&str] = &["h2", "hyper", "tonic", "tower", "reqwest", "opentelemetry"];

/// Installs `registry + EnvFilter(RUST_LOG, default info) + fmt + OTel layer`
/// as the global subscriber; warns instead if one is already installed.
pub(crate) fn install_subscriber(
    lookup: Lookup<'_>,
    tracer_provider: Option<&SdkTracerProvider>,
    warnings: &mut Vec<String>,
) {
    let filter = match env::var(lookup, "RUST_LOG") {
        Some(directives) => {
            tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|error| {
                warnings.push(format!(
                    "RUST_LOG={directives:?} is invalid ({error}); using info"
                ));
                tracing_subscriber::EnvFilter::new("info")
            })
        }
        None => tracing_subscriber::EnvFilter::new("info"),
    };
    let otel = tracer_provider.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer_with_scope(super::scope()))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                let target = meta.target();
                !EXPORT_PATH_TARGETS.iter().any(|t| {
                    target
                        .strip_prefix(t)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
                })
            }))
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer())
        .with(otel)
        .try_init();
    if installed.is_err() {
        warnings.push(
            "a global tracing subscriber is already installed; Vigil did not install its own \
             (use with_tracing(false) and Guard::tracing_layer to export spans)"
                .to_string(),
        );
    }
}

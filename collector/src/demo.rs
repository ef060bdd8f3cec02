//! `--demo`: an in-process service, instrumented with the OpenTelemetry SDK,
//! that exports OTLP/gRPC to this very collector, so a newcomer's first
//! command shows live metrics.
//!
//! It uses `opentelemetry_sdk` directly (the `vigil` SDK builds on the same
//! meter); the instruments cover each kind the collector translates: a
//! counter with a typed outcome label, a histogram in seconds with
//! second-scale boundaries, an up-down counter, and an observable gauge.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use tokio_util::sync::CancellationToken;

/// Demo errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OTLP exporter could not be built.
    #[error("building the demo's OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// How often the demo exports.
pub const EXPORT_INTERVAL: Duration = Duration::from_secs(2);

/// Run the demo service until `stop` is cancelled, exporting to `grpc` (the
/// collector's own OTLP/gRPC receiver). Must run inside a tokio runtime.
pub async fn run(grpc: SocketAddr, stop: CancellationToken) -> Result<(), Error> {
    let endpoint = format!("http://{grpc}");
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .build()?;
    let reader = PeriodicReader::builder(exporter)
        .with_interval(EXPORT_INTERVAL)
        .build();
    let resource = Resource::builder()
        .with_service_name("vigil-demo")
        .with_attributes([
            KeyValue::new("service.namespace", "vigil"),
            KeyValue::new("service.instance.id", "demo-1"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment.name", "demo"),
        ])
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();
    let meter = provider.meter_with_scope(
        opentelemetry::InstrumentationScope::builder("vigil.demo")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let jobs = meter
        .u64_counter("demo.jobs.processed")
        .with_unit("{job}")
        .with_description("Jobs processed by the demo worker, by outcome.")
        .build();
    let duration = meter
        .f64_histogram("demo.job.duration")
        .with_unit("s")
        .with_description("Time to process one job.")
        .with_boundaries(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])
        .build();
    let queue = meter
        .i64_up_down_counter("demo.queue.depth")
        .with_unit("{job}")
        .with_description("Jobs waiting in the demo queue.")
        .build();
    let heartbeat = Arc::new(AtomicU64::new(0));
    let seen = heartbeat.clone();
    let _uptime = meter
        .u64_observable_gauge("demo.worker.heartbeats")
        .with_unit("{heartbeat}")
        .with_description("Heartbeats the demo worker has sent.")
        .with_callback(move |obs| obs.observe(seen.load(Ordering::Relaxed), &[]))
        .build();

    let ok = [KeyValue::new("outcome", "ok")];
    let failed = [KeyValue::new("outcome", "error")];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                n += 1;
                heartbeat.store(n, Ordering::Relaxed);
                queue.add(if n % 3 == 0 { -1 } else { 1 }, &[]);
                let outcome = if n % 7 == 0 { &failed } else { &ok };
                jobs.add(1, outcome);
                duration.record(0.003 * (n % 50) as f64, &ok[..0]);
            }
        }
    }
    // The periodic reader blocks its caller while it exports; keep that off the async workers.
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!(error = %e, "demo service could not flush its last export");
    }
    Ok(())
}

//! End-to-end tests across crates: one binary, one module per area.
//!
//! Every test starts its own collector on `127.0.0.1:0` ports, talks to it
//! only over loopback, and stops it at the end. External tools (promtool,
//! Python's prometheus_client) come from `scripts/test`; a missing tool fails
//! the test with the hint that fixes it.

/// Starting a collector and fetching its pages.
mod support;

/// A throwaway CA and certificates for the TLS tests.
#[path = "common/pki.rs"]
mod pki;

/// The `opentelemetry-otlp` exporter (gRPC and HTTP) → collector → `/metrics`
/// and `/api/v1/snapshot`, asserted exactly and checked by promtool and
/// prometheus_client.
mod otlp_sdk;

/// The `vigil` SDK's typed instruments → OTLP (gRPC and HTTP) → collector.
mod sdk_e2e;

/// Expiry runs on its own timer: no scrape, no traffic needed.
mod expiry;

/// A real Prometheus server (Debian 2.42) scrapes the collector fed by the
/// `vigil` SDK: `up`, scrape errors, `rate()` and `histogram_quantile`
/// through its HTTP API, and the format it negotiated (OpenMetrics).
mod prometheus_server;

/// A client nobody here wrote: the OpenTelemetry Python SDK
/// (`scripts/otel_python_client.py`) over OTLP gRPC and HTTP, cumulative and
/// delta, asserted exactly in `/metrics` and in the snapshot.
mod python_client;

// The `--demo` binary test lives in collector/tests/demo.rs, where Cargo
// provides the binary's path.

/// Each example service in its short-running mode → collector: families,
/// label keys and the values its scenario makes certain.
mod examples;

/// The test peers on their own: the OpenTelemetry Go SDK client
/// (`tests/go-client`) → a real OpenTelemetry Collector (otlp receiver →
/// file exporter) over gRPC and HTTP, every point, span and log record
/// compared with what the client sent; `otelcol validate` on good and bad
/// configs. Proves the `vigil_tests::peers` harness.
mod otelcol_peer;

/// Vigil's pipelines against the real OpenTelemetry Collector and the Go
/// SDK: Vigil's `otlp`/`otlphttp` exporters (with `batch` and `resource`)
/// deliver every point, span and log record exactly; otelcol's
/// `otlp_grpc`/`otlp_http` exporters into Vigil give the exact `/metrics`
/// samples; every `otel-config/` file means the same to `otelcol validate`
/// and to Vigil; the otelcol docs' persistent-queue example runs unchanged;
/// a memory queue delivers exactly what it acknowledged through an outage.
mod forwarding;

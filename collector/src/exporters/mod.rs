//! Exporters: where a pipeline's batches go.
//!
//! * `prometheus`: the aggregated store, served as `/metrics` and `/api/v1/snapshot` (metrics).
//! * `otlp` (gRPC) and `otlphttp` (HTTP/protobuf): forward all three signals to any OTLP
//!   endpoint, each with its own sending queue ([`crate::pipeline::Queue`]), consumers and
//!   retries; the sender of each is a [`crate::pipeline::Sender`].
//! * `loadbalancing`: splits batches by service (or resource, metric, trace) over a tier of
//!   OTLP back-ends on a consistent-hash ring, one `otlp` lane per back-end.
//!
//! Each exporter is a folder with its configuration (the OpenTelemetry Collector's keys), its
//! logic and its tests. What the forwarding exporters share (TLS, retry and queue settings) is
//! in [`common`].

pub mod common;
pub mod loadbalancing;
pub mod otlp;
pub mod otlphttp;
pub mod prometheus;
pub mod prometheusremotewrite;

//! The `loadbalancing` exporter: a front tier of gateways that sends each service (or resource,
//! metric, trace) to one back-end collector of a tier, always the same one while the tier does
//! not change.
//!
//! Why: one collector holds a few million series. Beyond that a tier of Vigil collectors shares
//! the load, and since the store keeps per-series state (delta→cumulative sums, a service's
//! `target_info`), every point of a series must reach the same back-end. Each gateway hashes
//! the routing key onto a consistent-hash ring of the back-ends ([`ring`]); gateways built from
//! the same back-end list agree without talking to each other. The keys and their behaviour
//! are the OpenTelemetry Collector's `loadbalancing` exporter's
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/loadbalancingexporter>):
//!
//! * `routing_key`: `service` (the default for every signal), `resource`, `metric` (metrics
//!   only), `traceID` (traces and logs only). otelcol routes traces by `traceID` when the key is
//!   not set; here an unset key means `service` for traces too, because this tier exists to keep
//!   a service together; write `routing_key: traceID` for otelcol's behaviour. How each key cuts
//!   a request is in [`split`].
//! * `protocol.otlp`: the `otlp` exporter's keys, for every back-end (each has its own queue,
//!   consumers, retries, TLS, headers, compression, timeout), except `endpoint`.
//! * `resolver.static.hostnames` or `resolver.dns` (`hostname`, `port` 4317, `interval` 5s,
//!   `timeout` 1s): exactly one.
//!
//! **Admission** is all-or-nothing: a request is split by routing key into one part per
//! back-end, room is reserved in every one of those back-ends' queues, then the parts are
//! queued; a full queue refuses the whole request (`UNAVAILABLE`, retry later) and queues none.
//!
//! **A stopped back-end** does not keep its services' data: after a few failed sends and a
//! failed TCP probe it is marked down ([`health`]) and taken off the ring, so its keys move to
//! the next back-ends on the ring and no other key moves. Batches already in its queue are not
//! kept for it: its consumers split them again by the current ring and queue the parts for the
//! new owners, so data reaches the back-end that owns its keys when it is sent. A down back-end
//! is probed every second; once two probes in a row connect it goes back on the ring and its
//! keys return (again, only its keys). When every back-end is down, all stay on the ring and
//! batches wait in their queues (retried per `retry_on_failure`).
//!
//! **DNS**: the name is resolved every `interval`; a new address is a new back-end on the ring,
//! a gone address leaves the ring and its lane drains (by re-routing, as above) and closes. A
//! failed resolution keeps the last answer.
//!
//! **What a moved series does**: its new back-end has no state for it, so the cumulative sum it
//! serves starts from the first delta it receives (start time = that delta's start); the old
//! back-end's copy stops changing and expires after `metric_expiration`. To Prometheus this is a
//! counter reset, which `rate()` and `increase()` handle. Deltas the old back-end had accepted
//! but not yet exposed, or held in memory when it stopped, are lost with it; nothing the gateway
//! had queued is. A back-end that restarts empty does the same for every series it owns.
//! Cumulative data moves without loss of value (each point carries the whole sum).
//!
//! Not here: the Collector's `k8s`, `aws_cloud_map` and `dnssrvnoa` resolvers, its
//! exporter-level `timeout`/`retry_on_failure`/`sending_queue`, `routing_key` values other than
//! the four above, and a gRPC health check (a back-end that accepts connections but hangs is
//! treated as slow, not down).

mod backend;
mod balancer;
mod config;
pub mod health;
mod resolver;
pub mod ring;
pub mod split;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use backend::BackendStatus;
pub use config::{
    Backends, Config, DnsConfig, DnsSettings, MAX_BACKENDS, PortValue, ProtocolConfig,
    ResolverConfig, Settings, StaticConfig,
};
pub use resolver::Resolve;
pub use split::RoutingKey;

use crate::extensions::file_storage::Settings as StorageSettings;
use crate::pipeline::graph::{Accepted, Export, ExportFigures};
use crate::pipeline::{BoxFuture, Refused, Signal, Work};

/// A running `loadbalancing` exporter.
pub struct LoadBalancer {
    shared: Arc<balancer::Shared>,
}

impl LoadBalancer {
    /// Opens a lane per static back-end (or starts resolving the DNS name) and the prober.
    /// `storage` holds the queues when `sending_queue.storage` names a `file_storage`; `stop`
    /// is the exporters' stop token. Must run inside a tokio runtime.
    pub fn start(
        id: String,
        settings: &Settings,
        storage: Option<StorageSettings>,
        stop: &CancellationToken,
    ) -> Result<LoadBalancer, String> {
        Self::start_with(id, settings, storage, stop, None)
    }

    /// [`LoadBalancer::start`] with another way to resolve the DNS back-ends (tests).
    pub fn start_with(
        id: String,
        settings: &Settings,
        storage: Option<StorageSettings>,
        stop: &CancellationToken,
        resolve: Option<Resolve>,
    ) -> Result<LoadBalancer, String> {
        let shared = balancer::Shared::start(id, settings, storage, stop, resolve)?;
        Ok(LoadBalancer { shared })
    }

    /// Every current back-end (not those being retired), sorted by endpoint.
    pub fn backends(&self) -> Vec<BackendStatus> {
        self.shared.status()
    }

    /// The back-end that owns service `name` now (with `routing_key: service`).
    pub fn owner_of_service(&self, name: &str) -> Option<String> {
        self.shared.owner(split::service_hash(name))
    }
}

impl Export for LoadBalancer {
    fn id(&self) -> &str {
        self.shared.id()
    }

    fn decodes(&self, _: Signal) -> bool {
        true
    }

    fn export<'a>(&'a self, work: &'a mut Work) -> BoxFuture<'a, Result<Accepted, Refused>> {
        Box::pin(async move {
            self.shared.export(work).await?;
            Ok(Accepted::default())
        })
    }

    fn shutdown(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, ()> {
        Box::pin(self.shared.shutdown(deadline))
    }

    fn figures(&self) -> ExportFigures {
        self.shared.figures()
    }
}

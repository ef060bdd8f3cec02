//! Wiring: build the components the configuration's pipelines use, bind every listener, serve,
//! and stop in stages.
//!
//! [`start`] binds all sockets before serving anything, so a port already in use fails the
//! start with the address in the message, and the bound addresses (port 0 resolved) are known
//! to the caller. [`Running::shutdown`] stops in the order that loses nothing: receivers first
//! (no new data), then the batchers flush, then each queue is closed and its consumers drain it
//! within [`consumer::DRAIN_DEADLINE`]; what a persistent queue still holds is sent after the
//! next start, and what a memory queue still holds is counted and logged. The admin servers and
//! expiry timers stop last.

mod build;
#[cfg(test)]
mod loadbalancing_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use build::ForwardingExporter;

use crate::config::{ComponentId, Config, Receiver};
use crate::exporters::loadbalancing::LoadBalancer;
use crate::exporters::prometheus::tenants::Tenants;
use crate::pipeline::batch::Batcher;
use crate::pipeline::{Signal, consumer};
use crate::receiver::{self, Pipeline, Readiness, ReceiverCounters};
use crate::server::{self, AppState};
use crate::store::Store;
use crate::telemetry::{ExporterSource, Sources, Telemetry};

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] receiver::Error),
    /// An exporter could not be built.
    #[error("exporters.{id}: {message}")]
    Exporter {
        /// The exporter id.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// A receiver could not be built (its TLS files, read again at start).
    #[error("receivers.{id}: {message}")]
    Receiver {
        /// The receiver id.
        id: String,
        /// What went wrong.
        message: String,
    },
}

/// The addresses a receiver listens on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverAddrs {
    /// OTLP/gRPC, if served.
    pub grpc: Option<SocketAddr>,
    /// OTLP/HTTP, if served.
    pub http: Option<SocketAddr>,
}

/// A running collector.
pub struct Running {
    /// Where the receiver `otlp` (or else the first receiver) serves OTLP/gRPC.
    pub grpc_addr: Option<SocketAddr>,
    /// Where the receiver `otlp` (or else the first receiver) serves OTLP/HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Where the first `prometheus` exporter serves `/metrics`, the snapshot and health.
    pub listen_addr: Option<SocketAddr>,
    /// The first `prometheus` exporter's store.
    pub store: Option<Arc<Store>>,
    /// Every receiver's addresses.
    pub receivers: BTreeMap<ComponentId, ReceiverAddrs>,
    /// Where the `pprof` extension serves, when it has an endpoint of its own.
    pub pprof_addr: Option<SocketAddr>,
    /// Every receiver's counters, per transport.
    pub counters: BTreeMap<ComponentId, ReceiverCounters>,
    /// Where the collector's own metrics are served, when they are.
    pub telemetry_addr: Option<SocketAddr>,
    /// The collector's own telemetry.
    pub telemetry: Arc<Telemetry>,
    /// The forwarding exporters (queues and counters).
    pub forwarding: Vec<ForwardingExporter>,
    /// The `loadbalancing` exporters, for their back-ends' state.
    pub balancers: Vec<(ComponentId, Arc<LoadBalancer>)>,
    custom: Vec<Arc<dyn crate::pipeline::graph::Export>>,
    receivers_stop: CancellationToken,
    exporters_stop: CancellationToken,
    rest_stop: CancellationToken,
    receiver_tasks: Vec<JoinHandle<Result<(), receiver::Error>>>,
    batchers: Vec<Batcher>,
    rest: Vec<JoinHandle<()>>,
}

/// How often the expiry sweep runs for a given `expire_after`: often enough
/// that a series never outlives its expiry by more than a tenth of it.
pub fn sweep_interval(expire_after: Duration) -> Duration {
    (expire_after / 10).clamp(Duration::from_millis(50), Duration::from_secs(15))
}

/// Build, bind and start everything.
pub async fn start(config: &Config) -> Result<Running, Error> {
    let exporters_stop = CancellationToken::new();
    let built = build::build(config, &exporters_stop).await?;

    // Bind every receiver socket before serving anything.
    let mut bound = Vec::new();
    for (id, receiver) in &config.receivers {
        if !config.is_used(id) {
            tracing::info!(receiver = %id, "receiver is configured but no pipeline uses it; not started");
            continue;
        }
        let Receiver::Otlp(r) = receiver;
        let grpc = match &r.grpc {
            Some(g) => Some((receiver::bind(g.endpoint).await?, g.clone())),
            None => None,
        };
        let http = match &r.http {
            Some(h) => Some((receiver::bind(h.endpoint).await?, h.clone())),
            None => None,
        };
        bound.push((id.clone(), grpc, http));
    }
    let telemetry_listener = match config.telemetry.metrics_address {
        None => None,
        Some(crate::config::TelemetryAddress::Explicit(addr)) => Some(receiver::bind(addr).await?),
        Some(crate::config::TelemetryAddress::Default) => {
            let addr = crate::config::DEFAULT_TELEMETRY_ADDRESS;
            match receiver::bind(addr).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    tracing::warn!(
                        "the collector's own metrics are not served on {addr}: {e}; set \
                         service.telemetry.metrics.address to another address (they stay at \
                         /api/v1/self on the admin address)"
                    );
                    None
                }
            }
        }
    };

    let pprof = crate::extensions::pprof::bind(config).await?;
    let servers = bound
        .iter()
        .map(|(_, g, h)| usize::from(g.is_some()) + usize::from(h.is_some()))
        .sum();
    let readiness = Arc::new(Readiness::waiting_for(servers));
    let receivers_stop = CancellationToken::new();
    let mut receiver_tasks = Vec::new();
    let mut receivers = BTreeMap::new();
    let mut counters = BTreeMap::new();
    for (id, grpc, http) in bound {
        let entry = built.entries.get(&id).cloned().unwrap_or_default();
        for signal in Signal::ALL {
            if !entry.handles(signal) {
                tracing::warn!(
                    receiver = %id,
                    "{signal} sent to receiver {id} are accepted and dropped: no {signal} \
                     pipeline lists it (they are counted as dropped)"
                );
            }
        }
        let entry = Arc::new(entry);
        let transport_counters = ReceiverCounters::default();
        counters.insert(
            id.clone(),
            (transport_counters.clone(), grpc.is_some(), http.is_some()),
        );
        let mut addrs = ReceiverAddrs::default();
        if let Some((listener, g)) = grpc {
            let pipeline = Pipeline {
                entry: entry.clone(),
                counters: transport_counters.grpc.clone(),
            };
            addrs.grpc = listener.local_addr().ok();
            let tls = server_tls(&id, g.tls.as_ref(), &[b"h2"])?;
            let server = receiver::grpc::Grpc::new(pipeline.clone(), g.max_recv_msg_size)
                .with_limits(g.limits, g.max_concurrent_streams)
                .with_tls(tls)
                .with_auth(authenticator(config, g.auth.as_deref()));
            let stop = receivers_stop.clone();
            let ready = readiness.clone();
            receiver_tasks.push(tokio::spawn(async move {
                server
                    .serve(listener, stop.cancelled_owned(), move || ready.serving())
                    .await
            }));
        }
        if let Some((listener, h)) = http {
            let pipeline = Pipeline {
                entry: entry.clone(),
                counters: transport_counters.http.clone(),
            };
            addrs.http = listener.local_addr().ok();
            let tls = server_tls(&id, h.tls.as_ref(), &[b"h2", b"http/1.1"])?;
            let server = receiver::http::Http::with_limits(
                pipeline.clone(),
                h.max_request_body_size,
                h.limits,
            )
            .with_tls(tls)
            .with_auth(authenticator(config, h.auth.as_deref()));
            let stop = receivers_stop.clone();
            let ready = readiness.clone();
            receiver_tasks.push(tokio::spawn(async move {
                server
                    .serve(listener, stop.cancelled_owned(), move || ready.serving())
                    .await
            }));
        }
        receivers.insert(id, addrs);
    }

    let rest_stop = CancellationToken::new();
    let mut rest = Vec::new();
    let mut listen_addr = None;
    let mut first_store = None;

    let mut sources = Sources {
        receivers: counters.clone(),
        processors: built.processors.clone(),
        ..Sources::default()
    };
    for export in &built.custom {
        if let Some(id) = ComponentId::parse(export.id()) {
            sources
                .exporters
                .insert(id, ExporterSource::Custom(export.clone()));
        }
    }
    for exporter in &built.forwarding {
        sources
            .exporters
            .entry(exporter.id.clone())
            .or_insert_with(|| ExporterSource::Forwarding {
                stats: exporter.stats.clone(),
                queue: exporter.lane.as_ref().map(|lane| lane.queue.clone()),
            });
    }
    let mut render_times = BTreeMap::new();
    for exporter in &built.stores {
        sources.exporters.insert(
            exporter.id.clone(),
            ExporterSource::Store(exporter.tenants.clone()),
        );
        render_times.insert(exporter.id.clone(), Arc::default());
    }
    sources.renders = render_times.clone();
    let telemetry = Arc::new(Telemetry::new(sources));
    let telemetry_addr = telemetry_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok());
    if let Some(listener) = telemetry_listener {
        let telemetry = telemetry.clone();
        let stop = rest_stop.clone();
        rest.push(tokio::spawn(async move {
            let served =
                crate::telemetry::server::serve(listener, telemetry, stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the self-telemetry server failed");
            }
        }));
    }

    for exporter in built.stores {
        let addr = exporter.listener.local_addr().ok();
        listen_addr = listen_addr.or(addr);
        first_store.get_or_insert_with(|| exporter.store.clone());
        tracing::info!(exporter = %exporter.id, "metrics at http://{}/metrics", addr.map(|a| a.to_string()).unwrap_or_default());
        let mut state = AppState::new(exporter.store.clone(), readiness.clone());
        state.tenants = Some(exporter.tenants.clone());
        state.auth = exporter.auth.clone();
        state.telemetry = Some(telemetry.clone());
        if let Some(times) = render_times.get(&exporter.id) {
            state.render_times = times.clone();
        }
        state.pprof = pprof.as_ref().and_then(|p| p.on_admin());
        let stop = rest_stop.clone();
        let id = exporter.id.clone();
        rest.push(tokio::spawn(async move {
            if let Err(e) = server::serve_with(
                exporter.listener,
                state,
                exporter.tls,
                stop.cancelled_owned(),
            )
            .await
            {
                tracing::error!(exporter = %id, error = %e, "admin server failed");
            }
        }));
        rest.push(expiry(exporter.tenants, rest_stop.clone()));
    }

    let pprof_addr = pprof.as_ref().and_then(|p| p.local_addr());
    rest.extend(pprof.and_then(|p| p.serve(rest_stop.clone())));
    let main = ComponentId::parse("otlp")
        .and_then(|id| receivers.get(&id).copied())
        .or_else(|| receivers.values().next().copied())
        .unwrap_or_default();
    tracing::info!(
        "vigil-collector serving {} pipeline(s): {}",
        config.pipelines.len(),
        config
            .pipelines
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Running {
        grpc_addr: main.grpc,
        http_addr: main.http,
        listen_addr,
        store: first_store,
        receivers,
        pprof_addr,
        counters: counters
            .into_iter()
            .map(|(id, (c, _, _))| (id, c))
            .collect(),
        telemetry_addr,
        telemetry,
        forwarding: built.forwarding,
        balancers: built.balancers,
        custom: built.custom,
        receivers_stop,
        exporters_stop,
        rest_stop,
        receiver_tasks,
        batchers: built.batchers,
        rest,
    })
}

/// The authenticator extension `id` names (validation made sure it exists and is one).
fn authenticator(
    config: &Config,
    id: Option<&str>,
) -> Option<Arc<crate::extensions::auth::Authenticator>> {
    let id = ComponentId::parse(id?)?;
    match config.extensions.get(&id)? {
        crate::config::Extension::Auth(a) => Some(a.clone()),
        _ => None,
    }
}

/// A listener's TLS, loaded from its files at start.
fn server_tls(
    id: &ComponentId,
    settings: Option<&crate::server::tls::ServerTlsSettings>,
    alpn: &[&'static [u8]],
) -> Result<Option<Arc<crate::server::tls::ServerTls>>, Error> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    crate::server::tls::ServerTls::new(settings, alpn)
        .map(|tls| Some(Arc::new(tls)))
        .map_err(|message| Error::Receiver {
            id: id.to_string(),
            message,
        })
}

fn expiry(tenants: Arc<Tenants>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = sweep_interval(tenants.implicit().expire_after());
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    let now = Instant::now();
                    let dropped: usize = tenants.all().iter().map(|s| s.expire(now)).sum();
                    if dropped > 0 {
                        tracing::debug!(dropped, "expired series");
                    }
                }
            }
        }
    })
}

impl Running {
    /// Stop in stages: receivers; batchers flush; queues drain (bounded); admin servers.
    pub async fn shutdown(self) {
        const STAGE_DEADLINE: Duration = Duration::from_secs(5);
        self.receivers_stop.cancel();
        for task in self.receiver_tasks {
            match tokio::time::timeout(STAGE_DEADLINE, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "receiver stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "receiver task failed"),
                Err(_) => tracing::warn!("receiver did not stop within {STAGE_DEADLINE:?}"),
            }
        }
        for batcher in &self.batchers {
            if tokio::time::timeout(STAGE_DEADLINE, batcher.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("a batch processor did not flush within {STAGE_DEADLINE:?}");
            }
        }
        for lane in self.forwarding.iter().filter_map(|e| e.lane.as_ref()) {
            lane.close();
        }
        let deadline = tokio::time::Instant::now() + consumer::DRAIN_DEADLINE;
        // Exporters with lanes of their own close, drain and stop them concurrently, each
        // within the same deadline.
        let custom: Vec<_> = self
            .custom
            .iter()
            .map(|export| {
                let export = export.clone();
                tokio::spawn(async move { export.shutdown(deadline).await })
            })
            .collect();
        for lane in self.forwarding.iter().filter_map(|e| e.lane.as_ref()) {
            lane.drained(deadline).await;
        }
        for task in custom {
            if tokio::time::timeout(consumer::DRAIN_DEADLINE + STAGE_DEADLINE, task)
                .await
                .is_err()
            {
                tracing::warn!(
                    "an exporter did not stop within {STAGE_DEADLINE:?} of its drain deadline"
                );
            }
        }
        self.exporters_stop.cancel();
        for lane in self.forwarding.iter().filter_map(|e| e.lane.as_ref()) {
            lane.stop().await;
        }
        self.rest_stop.cancel();
        for task in self.rest {
            if tokio::time::timeout(STAGE_DEADLINE, task).await.is_err() {
                tracing::warn!("admin server did not stop within {STAGE_DEADLINE:?}");
            }
        }
    }
}

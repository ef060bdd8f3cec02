//! One back-end: its lane, whose sender reports to the back-end's health and re-routes while
//! the back-end is off the ring, and the prober that brings down back-ends back.
//!
//! Every back-end's lane is an ordinary lane (queue, consumers, `retry_on_failure`) whose
//! sender is a [`BackendSender`]: the `otlp` exporter's gRPC sender with two more duties. It
//! feeds the back-end's [`Health`] with the outcome of every send (probing after a run of
//! failures), and while its back-end is off the ring (down, or gone from DNS) it does not send
//! at all: it splits each batch its consumers take again, by the current ring, and queues the
//! parts for their owners now. So a batch goes to whoever owns its keys when it is sent, and
//! nothing waits for a back-end that is gone.

use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::balancer::Shared;
use super::health::{self, Health, PROBE_INTERVAL};
use crate::exporters::otlp::{self, GrpcSender};
use crate::pipeline::consumer::{Deliverer, ExporterStats};
use crate::pipeline::lane::{Lane, Storage};
use crate::pipeline::{Batch, BoxFuture, Outcome, Sender};

/// What one back-end looks like from outside, for tests and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendStatus {
    /// `host:port`.
    pub endpoint: String,
    /// Whether its health says up.
    pub up: bool,
    /// Whether it owns keys now (up, or every back-end is down).
    pub in_ring: bool,
    /// Batches in its queue.
    pub queued: usize,
    /// Items its consumers handed on: sent to it, or re-routed to others.
    pub sent_items: u64,
    /// Items re-routed to other back-ends because it was off the ring.
    pub rerouted_items: u64,
}

/// The state a back-end's sender shares with the balancer.
pub(super) struct Link {
    pub(super) endpoint: String,
    /// `host:port` with the port written out, for the probe.
    probe_addr: String,
    health: Mutex<Health>,
    pub(super) in_ring: AtomicBool,
    pub(super) rerouted: AtomicU64,
}

impl Link {
    pub(super) fn health(&self) -> MutexGuard<'_, Health> {
        // `Health` has no invariant a panic could break halfway.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One back-end: its lane and its link.
pub(super) struct Backend {
    pub(super) link: Arc<Link>,
    pub(super) lane: Lane,
    pub(super) stats: Arc<ExporterStats>,
}

impl Backend {
    pub(super) fn open(
        shared: &Arc<Shared>,
        endpoint: &str,
        settings: &otlp::Settings,
    ) -> Result<Arc<Backend>, String> {
        let host = settings.endpoint.host().unwrap_or_default();
        let https = settings.endpoint.scheme_str() == Some("https");
        let port = settings
            .endpoint
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let link = Arc::new(Link {
            endpoint: endpoint.to_owned(),
            probe_addr: format!("{host}:{port}"),
            health: Mutex::new(Health::default()),
            in_ring: AtomicBool::new(false),
            rerouted: AtomicU64::new(0),
        });
        let sender = BackendSender {
            grpc: GrpcSender::new(settings)?,
            link: link.clone(),
            balancer: Arc::downgrade(shared),
        };
        let name = format!("{}[{endpoint}]", shared.id);
        let deliverer = Arc::new(Deliverer::new(
            name.clone(),
            Arc::new(sender),
            settings.retry,
        ));
        let stats = deliverer.stats.clone();
        let file = format!("{}/{endpoint}", shared.id);
        let storage = match &shared.storage {
            None => Storage::Memory,
            Some(settings) => Storage::File {
                settings,
                name: &file,
            },
        };
        let queue = &settings.queue;
        let lane = Lane::open(
            name,
            storage,
            queue.queue_size,
            deliverer,
            queue.num_consumers,
            &shared.lanes_stop,
        )
        .map_err(|e| format!("back-end {endpoint}: {e}"))?;
        Ok(Arc::new(Backend { link, lane, stats }))
    }
}

// === impl BackendSender ===

/// The `otlp` sender of one back-end, reporting to its health and re-routing while the
/// back-end is off the ring.
struct BackendSender {
    grpc: GrpcSender,
    link: Arc<Link>,
    balancer: Weak<Shared>,
}

impl BackendSender {
    async fn send_or_reroute(&self, batch: &Batch) -> Outcome {
        let Some(balancer) = self.balancer.upgrade() else {
            return self.grpc.send(batch).await;
        };
        if !self.link.in_ring.load(Ordering::Acquire) {
            return balancer.reroute(&self.link, batch).await;
        }
        let outcome = self.grpc.send(batch).await;
        match &outcome {
            Outcome::Sent { .. } => {
                let change = self.link.health().sent();
                balancer.changed(&self.link, change);
            }
            Outcome::Retry { .. } => {
                let probe = self.link.health().failed();
                if probe {
                    let reachable =
                        health::probe(&self.link.probe_addr, balancer.probe_timeout).await;
                    let change = self.link.health().probed(reachable);
                    balancer.changed(&self.link, change);
                    if !self.link.in_ring.load(Ordering::Acquire) {
                        return balancer.reroute(&self.link, batch).await;
                    }
                }
            }
            // The back-end answered: it is there.
            Outcome::Permanent { .. } => {}
        }
        outcome
    }
}

impl Sender for BackendSender {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_or_reroute(batch))
    }
}

// === the prober ===

/// Every [`PROBE_INTERVAL`], probes the back-ends that are down.
pub(super) async fn prober(shared: Weak<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let down: Vec<Arc<Link>> = shared
            .lock()
            .backends
            .values()
            .filter(|b| !b.link.health().is_up())
            .map(|b| b.link.clone())
            .collect();
        let mut probes = JoinSet::new();
        for link in down {
            let timeout = shared.probe_timeout;
            probes.spawn(async move {
                let reachable = health::probe(&link.probe_addr, timeout).await;
                (link, reachable)
            });
        }
        while let Some(Ok((link, reachable))) = probes.join_next().await {
            let change = link.health().probed(reachable);
            shared.changed(&link, change);
        }
    }
}

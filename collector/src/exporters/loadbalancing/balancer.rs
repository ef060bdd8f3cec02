//! The running `loadbalancing` exporter: one lane per back-end, the ring over the back-ends
//! that are up, the prober that brings down back-ends back, and the DNS resolver.
//!
//! Every back-end's lane is an ordinary lane (queue, consumers, `retry_on_failure`) whose
//! sender is a [`BackendSender`]: the `otlp` exporter's gRPC sender plus two duties. It feeds
//! the back-end's [`Health`] with the outcome of every send, and while its back-end is off the
//! ring (down, or gone from DNS) it does not send at all: it splits each batch its consumers
//! take again, by the current ring, and queues the parts for their owners now. So a batch goes
//! to whoever owns its keys when it is sent, and nothing waits for a back-end that is gone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::config::{Backends, DnsSettings, MAX_BACKENDS, Settings};
use super::health::{self, Change, Health, MAX_PROBE_TIMEOUT, PROBE_INTERVAL};
use super::ring::Ring;
use super::split::{self, Plan, RoutingKey};
use crate::exporters::otlp::{self, GrpcSender};
use crate::extensions::file_storage::Settings as StorageSettings;
use crate::pipeline::consumer::{DRAIN_DEADLINE, Deliverer, ExporterStats};
use crate::pipeline::graph::RETRY_AFTER_FULL;
use crate::pipeline::lane::{Lane, Storage};
use crate::pipeline::work::{self, Work};
use crate::pipeline::{Batch, BoxFuture, Outcome, Refused, Sender};
use crate::processors::Request;

/// Looks the back-ends' addresses up (the DNS resolver; tests give their own).
pub type Resolve =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<SocketAddr>, String>> + Send + Sync>;

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
struct Link {
    endpoint: String,
    /// `host:port` with the port written out, for the probe.
    probe_addr: String,
    health: Mutex<Health>,
    in_ring: AtomicBool,
    rerouted: AtomicU64,
}

impl Link {
    fn health(&self) -> MutexGuard<'_, Health> {
        // `Health` has no invariant a panic could break halfway.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One back-end: its lane and its link.
struct Backend {
    link: Arc<Link>,
    lane: Lane,
    stats: Arc<ExporterStats>,
}

/// The back-ends that own keys, in the ring's numbering.
#[derive(Default)]
struct View {
    ring: Ring,
    members: Vec<Arc<Backend>>,
}

/// The back-ends by endpoint, and those being retired (gone from DNS, their lanes draining).
#[derive(Default)]
struct State {
    backends: BTreeMap<String, Arc<Backend>>,
    retiring: Vec<Arc<Backend>>,
}

pub(super) struct Shared {
    id: String,
    key: RoutingKey,
    template: otlp::Settings,
    storage: Option<StorageSettings>,
    probe_timeout: Duration,
    /// The exporters' stop token: the lanes' consumers end when it is cancelled.
    lanes_stop: CancellationToken,
    /// Ends the prober and the resolver.
    tasks_stop: CancellationToken,
    state: Mutex<State>,
    view: RwLock<Arc<View>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A back-end's part of a request: the whole request (`None`) or a part of it.
type Planned = Vec<(Arc<Backend>, Option<Request>)>;

impl Shared {
    pub(super) fn start(
        id: String,
        settings: &Settings,
        storage: Option<StorageSettings>,
        stop: &CancellationToken,
        resolve: Option<Resolve>,
    ) -> Result<Arc<Shared>, String> {
        let shared = Arc::new(Shared {
            id,
            key: settings.routing_key,
            template: settings.otlp.clone(),
            storage,
            probe_timeout: settings.otlp.timeout.min(MAX_PROBE_TIMEOUT),
            lanes_stop: stop.clone(),
            tasks_stop: stop.child_token(),
            state: Mutex::new(State::default()),
            view: RwLock::new(Arc::new(View::default())),
            tasks: Mutex::new(Vec::new()),
        });
        match &settings.backends {
            Backends::Static(list) => {
                for (endpoint, settings) in list {
                    let backend = shared.open(endpoint, settings)?;
                    shared.lock().backends.insert(endpoint.clone(), backend);
                }
                shared.rebuild();
            }
            Backends::Dns(dns) => {
                let resolve = resolve.unwrap_or_else(|| lookup(dns.clone()));
                shared.spawn(resolver(Arc::downgrade(&shared), dns.interval, resolve));
            }
        }
        shared.spawn(prober(Arc::downgrade(&shared), shared.tasks_stop.clone()));
        Ok(shared)
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Updated by whole-value inserts and removals: never half-changed by a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `task` until shutdown; finished tasks are forgotten, so retiring back-end after
    /// back-end does not pile up handles.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks();
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(task));
    }

    fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A back-end's lane and sender.
    fn open(
        self: &Arc<Self>,
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
            balancer: Arc::downgrade(self),
        };
        let name = format!("{}[{endpoint}]", self.id);
        let deliverer = Arc::new(Deliverer::new(
            name.clone(),
            Arc::new(sender),
            settings.retry,
        ));
        let stats = deliverer.stats.clone();
        let file = format!("{}/{endpoint}", self.id);
        let storage = match &self.storage {
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
            &self.lanes_stop,
        )
        .map_err(|e| format!("back-end {endpoint}: {e}"))?;
        Ok(Arc::new(Backend { link, lane, stats }))
    }

    /// Builds the ring again from the back-ends that are up (all of them when none is: then
    /// batches wait in their queues rather than being refused).
    fn rebuild(&self) {
        let state = self.lock();
        let up: Vec<Arc<Backend>> = state
            .backends
            .values()
            .filter(|b| b.link.health().is_up())
            .cloned()
            .collect();
        let members = if up.is_empty() {
            if !state.backends.is_empty() {
                tracing::warn!(
                    exporter = %self.id,
                    "every back-end is down: all stay on the ring and batches wait in their queues"
                );
            }
            state.backends.values().cloned().collect()
        } else {
            up
        };
        let names: Vec<&str> = members.iter().map(|b| b.link.endpoint.as_str()).collect();
        let view = Arc::new(View {
            ring: Ring::new(&names),
            members: members.clone(),
        });
        // Joining back-ends own keys before the new ring sends them any; leaving ones stop
        // sending (and start re-routing) only once the new ring no longer picks them.
        for b in &members {
            b.link.in_ring.store(true, Ordering::Release);
        }
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
        for b in state.backends.values().chain(&state.retiring) {
            if !members.iter().any(|m| Arc::ptr_eq(m, b)) {
                b.link.in_ring.store(false, Ordering::Release);
            }
        }
    }

    /// Records a change in a back-end's health and rebuilds the ring.
    fn changed(&self, link: &Link, change: Change) {
        match change {
            Change::Same => return,
            Change::Down => tracing::warn!(
                exporter = %self.id, backend = %link.endpoint,
                "back-end is down (sends failed and it refuses connections): its keys move to \
                 the next back-ends on the ring"
            ),
            Change::Up => tracing::info!(
                exporter = %self.id, backend = %link.endpoint,
                "back-end is up again: its keys return to it"
            ),
        }
        self.rebuild();
    }

    /// Splits a pipeline's batch over the back-ends' queues, all or nothing.
    pub(super) async fn export(&self, work: &mut Work) -> Result<(), Refused> {
        let request = work
            .take_request()
            .map_err(|e| Refused::invalid(e.to_string()))?;
        let planned = self.plan(&request);
        work.restore_request(request);
        self.push(planned?, &mut || work.batch()).await
    }

    /// Where the parts of `request` go now.
    fn plan(&self, request: &Request) -> Result<Planned, Refused> {
        let view = self.view();
        if view.members.is_empty() {
            return Err(Refused::unavailable(
                format!("exporter {}: no back-end is known yet", self.id),
                RETRY_AFTER_FULL,
            ));
        }
        let owner = |hash| view.ring.owner(hash).unwrap_or(0);
        let member = |i: usize| view.members.get(i).cloned();
        Ok(match split::plan(request, self.key, &owner) {
            Plan::Empty => Vec::new(),
            Plan::Whole(i) => member(i).map(|b| (b, None)).into_iter().collect(),
            Plan::Parts(parts) => parts
                .into_iter()
                .filter_map(|(i, part)| member(i).map(|b| (b, Some(part))))
                .collect(),
        })
    }

    /// Queues the planned parts, all or nothing: room is reserved in every queue first.
    /// `whole` gives the request's own bytes, for a back-end that gets all of it.
    async fn push(
        &self,
        planned: Planned,
        whole: &mut (dyn FnMut() -> Batch + Send),
    ) -> Result<(), Refused> {
        let mut permits = Vec::with_capacity(planned.len());
        for (backend, _) in &planned {
            let queue = &backend.lane.queue;
            match queue.try_reserve() {
                Some(permit) => permits.push(permit),
                None => {
                    return Err(Refused::unavailable(
                        format!(
                            "exporter {}: the sending queue of back-end {} is full ({} batches)",
                            self.id,
                            backend.link.endpoint,
                            queue.capacity()
                        ),
                        RETRY_AFTER_FULL,
                    ));
                }
            }
        }
        for ((backend, part), permit) in planned.into_iter().zip(permits) {
            let batch = match part {
                None => whole(),
                Some(part) => Work::decoded(part).batch(),
            };
            backend.lane.queue.push(permit, batch).await.map_err(|e| {
                Refused::unavailable(
                    format!(
                        "exporter {} back-end {}: {e}",
                        self.id, backend.link.endpoint
                    ),
                    RETRY_AFTER_FULL,
                )
            })?;
        }
        Ok(())
    }

    /// Hands a batch a back-end off the ring was about to send to its current owners.
    async fn reroute(&self, from: &Link, batch: &Batch) -> Outcome {
        let request = match work::decode(batch.signal, batch.body.clone()) {
            Ok(request) => request,
            Err(e) => {
                return Outcome::Permanent {
                    reason: format!("INVALID: a queued batch does not decode: {e}"),
                };
            }
        };
        let planned = match self.plan(&request) {
            Ok(planned) => planned,
            Err(refused) => return retry(refused),
        };
        match self.push(planned, &mut || batch.clone()).await {
            Ok(()) => {
                from.rerouted.fetch_add(batch.items, Ordering::Relaxed);
                Outcome::Sent {
                    rejected: 0,
                    message: String::new(),
                }
            }
            Err(refused) => retry(refused),
        }
    }

    /// Makes the back-ends `wanted` (the DNS answer): opens the new, retires the gone.
    fn set_backends(self: &Arc<Self>, wanted: Vec<(String, otlp::Settings)>) {
        let mut added = 0;
        let mut retired = Vec::new();
        {
            let mut state = self.lock();
            // A retiring back-end is held by its draining task until its lane has stopped.
            state.retiring.retain(|b| Arc::strong_count(b) > 1);
            let gone: Vec<String> = state
                .backends
                .keys()
                .filter(|e| !wanted.iter().any(|(w, _)| w == *e))
                .cloned()
                .collect();
            for endpoint in gone {
                if let Some(backend) = state.backends.remove(&endpoint) {
                    state.retiring.push(backend.clone());
                    retired.push(backend);
                }
            }
            for (endpoint, settings) in &wanted {
                // A queue still draining under this name (a persistent one has a directory
                // by it): the address comes back at the next resolution.
                let draining = state.retiring.iter().any(|b| b.link.endpoint == *endpoint);
                if state.backends.contains_key(endpoint) || draining {
                    continue;
                }
                match self.open(endpoint, settings) {
                    Ok(backend) => {
                        state.backends.insert(endpoint.clone(), backend);
                        added += 1;
                    }
                    Err(e) => {
                        tracing::error!(exporter = %self.id, backend = %endpoint, "cannot open the back-end: {e}")
                    }
                }
            }
        }
        if added == 0 && retired.is_empty() {
            return;
        }
        tracing::info!(exporter = %self.id, added, removed = retired.len(), "the resolver changed the back-ends");
        self.rebuild();
        for backend in retired {
            // Off the ring now: its consumers re-route what it holds, then the lane ends.
            backend.lane.close();
            self.spawn(async move {
                backend
                    .lane
                    .drained(tokio::time::Instant::now() + DRAIN_DEADLINE)
                    .await;
                backend.lane.stop().await;
            });
        }
    }

    pub(super) fn status(&self) -> Vec<BackendStatus> {
        let state = self.lock();
        state
            .backends
            .values()
            .map(|b| BackendStatus {
                endpoint: b.link.endpoint.clone(),
                up: b.link.health().is_up(),
                in_ring: b.link.in_ring.load(Ordering::Acquire),
                queued: b.lane.queue.len(),
                sent_items: b.stats.sent_items.load(Ordering::Relaxed),
                rerouted_items: b.link.rerouted.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The endpoint that owns `hash` now.
    pub(super) fn owner(&self, hash: u64) -> Option<String> {
        let view = self.view();
        let i = view.ring.owner(hash)?;
        view.members.get(i).map(|b| b.link.endpoint.clone())
    }

    /// Stops the prober and resolver; drains the lanes of back-ends off the ring first (their
    /// batches move to the others' queues), then the rest, all by `deadline`; then stops them.
    pub(super) async fn shutdown(&self, deadline: tokio::time::Instant) {
        self.tasks_stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks());
        let (off, on): (Vec<Arc<Backend>>, Vec<Arc<Backend>>) = {
            let state = self.lock();
            state
                .backends
                .values()
                .chain(&state.retiring)
                .cloned()
                .partition(|b| !b.link.in_ring.load(Ordering::Acquire))
        };
        for group in [&off, &on] {
            for b in group {
                b.lane.close();
            }
            for b in group {
                b.lane.drained(deadline).await;
            }
        }
        for b in off.iter().chain(&on) {
            b.lane.stop().await;
        }
        for task in tasks {
            let _ = tokio::time::timeout_at(deadline + MAX_PROBE_TIMEOUT, task).await;
        }
    }
}

fn retry(refused: Refused) -> Outcome {
    Outcome::Retry {
        reason: format!("UNAVAILABLE: re-routing: {}", refused.reason),
        after: refused.retry_after,
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

// === tasks ===

/// Every [`PROBE_INTERVAL`], probes the back-ends that are down.
async fn prober(shared: Weak<Shared>, stop: CancellationToken) {
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

/// Every `interval`, resolves the back-ends again; a failed resolution keeps the last answer.
async fn resolver(shared: Weak<Shared>, interval: Duration, resolve: Resolve) {
    let mut failures = 0u64;
    loop {
        let Some(this) = shared.upgrade() else { return };
        let stop = this.tasks_stop.clone();
        match resolve().await {
            Ok(mut addrs) => {
                failures = 0;
                addrs.sort();
                addrs.dedup();
                if addrs.len() > MAX_BACKENDS {
                    tracing::warn!(exporter = %this.id, "the resolver gave {} addresses; using the first {MAX_BACKENDS}", addrs.len());
                    addrs.truncate(MAX_BACKENDS);
                }
                let wanted = addrs
                    .into_iter()
                    .filter_map(|addr| {
                        let endpoint = addr.to_string();
                        match this.template.with_authority(&endpoint) {
                            Ok(settings) => Some((endpoint, settings)),
                            Err(e) => {
                                tracing::warn!(exporter = %this.id, "skipping {endpoint}: {e}");
                                None
                            }
                        }
                    })
                    .collect();
                this.set_backends(wanted);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(exporter = %this.id, "resolving the back-ends failed, keeping the last answer: {e}");
                } else {
                    tracing::debug!(exporter = %this.id, failures, "resolving the back-ends failed again: {e}");
                }
            }
        }
        drop(this);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The system resolver's answer for `dns.hostname`, within `dns.timeout`.
pub(super) fn lookup(dns: DnsSettings) -> Resolve {
    Arc::new(move || {
        let dns = dns.clone();
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((dns.hostname.as_str(), dns.port));
            match tokio::time::timeout(dns.timeout, lookup).await {
                Ok(Ok(addrs)) => Ok(addrs.collect()),
                Ok(Err(e)) => Err(format!("{}: {e}", dns.hostname)),
                Err(_) => Err(format!(
                    "{}: no answer within {:?}",
                    dns.hostname, dns.timeout
                )),
            }
        })
    })
}

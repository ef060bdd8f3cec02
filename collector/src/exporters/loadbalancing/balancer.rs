//! The running `loadbalancing` exporter: the back-ends by endpoint, the ring over those that
//! are up, admission of a batch's parts into their queues, and shutdown.
//!
//! The ring is an immutable [`View`] swapped whole when a back-end comes, goes, falls or
//! rises, so routing a batch takes one read lock and never waits for a change. The back-ends
//! themselves (lanes, senders, the prober) are in `backend.rs`, the DNS resolver in
//! `resolver.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, BackendStatus, Link, prober};
use super::config::{Backends, Settings};
use super::health::{Change, MAX_PROBE_TIMEOUT};
use super::resolver::{Resolve, lookup, resolver};
use super::ring::Ring;
use super::split::{self, Plan, RoutingKey};
use crate::exporters::otlp;
use crate::extensions::file_storage::Settings as StorageSettings;
use crate::pipeline::consumer::DRAIN_DEADLINE;
use crate::pipeline::graph::{ExportFigures, RETRY_AFTER_FULL};
use crate::pipeline::work::{self, Work};
use crate::pipeline::{Batch, Outcome, Refused};
use crate::processors::Request;

/// The back-ends that own keys, in the ring's numbering.
#[derive(Default)]
struct View {
    ring: Ring,
    members: Vec<Arc<Backend>>,
}

/// The back-ends by endpoint, and those being retired (gone from DNS, their lanes draining).
#[derive(Default)]
pub(super) struct State {
    pub(super) backends: BTreeMap<String, Arc<Backend>>,
    retiring: Vec<Arc<Backend>>,
    /// Sent and failed items per signal of the back-ends retired and forgotten, so the
    /// exporter's totals never go down.
    forgotten: [(u64, u64); 3],
}

pub(super) struct Shared {
    pub(super) id: String,
    key: RoutingKey,
    pub(super) template: otlp::Settings,
    pub(super) storage: Option<StorageSettings>,
    pub(super) probe_timeout: Duration,
    /// The exporters' stop token: the lanes' consumers end when it is cancelled.
    pub(super) lanes_stop: CancellationToken,
    /// Ends the prober and the resolver.
    pub(super) tasks_stop: CancellationToken,
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
                    match Backend::open(&shared, endpoint, settings) {
                        Ok(backend) => shared.lock().backends.insert(endpoint.clone(), backend),
                        Err(e) => {
                            // The collector does not start: end the lanes already opened.
                            for backend in shared.lock().backends.values() {
                                backend.lane.close();
                            }
                            return Err(e);
                        }
                    };
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

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
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
    pub(super) fn changed(&self, link: &Link, change: Change) {
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
    pub(super) async fn reroute(&self, from: &Link, batch: &Batch) -> Outcome {
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
    pub(super) fn set_backends(self: &Arc<Self>, wanted: Vec<(String, otlp::Settings)>) {
        let mut added = 0;
        let mut retired = Vec::new();
        {
            let mut state = self.lock();
            // A retiring back-end is held by its draining task until its lane has stopped.
            let mut forgotten = state.forgotten;
            state.retiring.retain(|b| {
                let keep = Arc::strong_count(b) > 1;
                if !keep {
                    b.stats.add_to(&mut forgotten);
                }
                keep
            });
            state.forgotten = forgotten;
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
                match Backend::open(self, endpoint, settings) {
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

    /// The exporter's figures for the self-telemetry: every back-end's, live or gone.
    pub(super) fn figures(&self) -> ExportFigures {
        let state = self.lock();
        let mut figures = ExportFigures {
            by_signal: state.forgotten,
            ..ExportFigures::default()
        };
        for b in state.backends.values().chain(&state.retiring) {
            b.stats.add_to(&mut figures.by_signal);
            figures.queue_size += b.lane.queue.len();
            figures.queue_capacity += b.lane.queue.capacity();
        }
        figures
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

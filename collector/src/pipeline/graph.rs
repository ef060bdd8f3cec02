//! The pipelines as running objects: each one a chain of stages (transforms, a batcher) ending
//! in a fan-out to its exporters, and per receiver an [`Entry`] holding the chains of the
//! pipelines that list it.
//!
//! A chain is a function from [`Work`] to the answer the sender will get. Building it from the
//! last stage backwards lets the batcher's flush call "the rest of the pipeline" without knowing
//! what that is. Fan-out admission is all-or-nothing within a pipeline (room is reserved in
//! every queue before anything is pushed); across pipelines it is not: when a receiver feeds
//! two pipelines and the second refuses, the sender retries and the first gets the batch twice,
//! within the at-least-once contract.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::consumer::{Delivered, Deliverer};
use super::{BoxFuture, Queue, Refused, Signal, Work};
use crate::decode;
use crate::exporters::prometheus::tenants::Tenants;
use crate::processors::{ProcessorStats, Request, Transform};
use crate::store::Store;
use crate::store::otlp::{self, Report};

/// What the sender is told when its batch was taken: points the store rejected, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items rejected (by the prometheus exporter's store), for `partial_success`.
    pub rejected: u64,
    /// The first reason.
    pub message: Option<String>,
}

impl Accepted {
    fn merge(&mut self, other: Accepted) {
        self.rejected += other.rejected;
        if self.message.is_none() {
            self.message = other.message;
        }
    }
}

/// The rest of a pipeline from some stage on.
pub type Chain = Arc<dyn Fn(Work) -> BoxFuture<'static, Result<Accepted, Refused>> + Send + Sync>;

/// How long a sender is asked to wait when a queue is full.
pub const RETRY_AFTER_FULL: Duration = Duration::from_secs(5);

/// Largest metrics request read into the stores on the receiving task itself (see
/// `Fanout::ingest`): 256 KiB is about 1,700 points, under two milliseconds of work.
const INLINE_INGEST_BYTES: usize = 256 * 1024;

/// One exporter as a pipeline's fan-out sees it.
pub enum Target {
    /// The prometheus exporter's stores: ingested while the sender waits, into the store of
    /// the batch's tenant.
    Store {
        /// Exporter id.
        id: String,
        /// Its stores, by tenant.
        tenants: Arc<Tenants>,
    },
    /// A queued forwarding exporter.
    Queue {
        /// Exporter id.
        id: String,
        /// Its sending queue.
        queue: Arc<dyn Queue>,
    },
    /// A forwarding exporter with `sending_queue.enabled: false`: sent while the sender waits.
    Direct {
        /// Its deliverer.
        deliverer: Arc<Deliverer>,
        /// Cancelled at shutdown.
        stop: CancellationToken,
    },
    /// An exporter that admits batches its own way (see [`Export`]).
    Custom(Arc<dyn Export>),
}

/// An exporter that converts or splits batches before its own queues: `prometheusremotewrite`
/// (OTLP to remote-write samples, one queue per shard), `loadbalancing` (one queue per back-end).
///
/// The fan-out calls [`Export::export`] after it reserved room in the plain queues and before
/// anything else, so a refusal leaves no copy in the pipeline's other exporters. Within itself
/// an `Export` is all or nothing too: it refuses a batch without having queued any part of it.
pub trait Export: Send + Sync + 'static {
    /// Its id, for logs.
    fn id(&self) -> &str;
    /// Whether it needs the decoded messages of a `signal` batch (then the receiver decodes
    /// rather than only scanning).
    fn decodes(&self, signal: Signal) -> bool;
    /// Takes the batch into its queues, or refuses it (a full queue: retry later).
    fn export<'a>(&'a self, work: &'a mut Work) -> BoxFuture<'a, Result<Accepted, Refused>>;
    /// Called once the receivers stopped and the batchers flushed: refuse new batches, let the
    /// queues drain until `deadline`, then stop sending and say what is left.
    fn shutdown(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, ()>;
    /// Its figures for the collector's self-telemetry.
    fn figures(&self) -> ExportFigures;
}

/// What an exporter tells the self-telemetry: items sent and given up on per signal, and its
/// queues' fill (batches held and most held at once, all its queues together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportFigures {
    /// Per signal ([`Signal::index`]): (sent, failed) items.
    pub by_signal: [(u64, u64); 3],
    /// Batches held.
    pub queue_size: usize,
    /// Most batches held at once.
    pub queue_capacity: usize,
}

/// The end of a pipeline: every exporter gets every batch.
pub fn fanout(pipeline: String, targets: Vec<Arc<Target>>) -> Chain {
    let fanout = Arc::new(Fanout::new(pipeline, &targets));
    Arc::new(move |work| {
        let fanout = fanout.clone();
        Box::pin(async move { fanout.export(work).await })
    })
}

/// A pipeline's exporters, sorted by kind once when the pipeline is built.
struct Fanout {
    pipeline: String,
    stores: Arc<[Arc<Tenants>]>,
    queues: Vec<(String, Arc<dyn Queue>)>,
    direct: Vec<(Arc<Deliverer>, CancellationToken)>,
    custom: Vec<Arc<dyn Export>>,
}

impl Fanout {
    fn new(pipeline: String, targets: &[Arc<Target>]) -> Fanout {
        let mut stores = Vec::new();
        let mut queues = Vec::new();
        let mut direct = Vec::new();
        let mut custom = Vec::new();
        for target in targets {
            match &**target {
                Target::Store { tenants, .. } => stores.push(tenants.clone()),
                Target::Queue { id, queue } => queues.push((id.clone(), queue.clone())),
                Target::Direct { deliverer, stop } => {
                    direct.push((deliverer.clone(), stop.clone()))
                }
                Target::Custom(export) => custom.push(export.clone()),
            }
        }
        Fanout {
            pipeline,
            stores: stores.into(),
            queues,
            direct,
            custom,
        }
    }

    /// Feeds a metrics batch to the stores: from its bytes when they are all there is (the wire
    /// reader, no decoding), else from the decoded request (prost path).
    async fn ingest(&self, work: &mut Work) -> Result<Report, Refused> {
        let stores = self
            .stores
            .iter()
            .map(|tenants| tenants.for_batch(&work.tenant))
            .collect::<Result<Vec<Arc<Store>>, String>>()
            .map_err(Refused::invalid)?;
        let failed = |e: tokio::task::JoinError| {
            tracing::error!(error = %e, "store ingest task failed");
            Refused::unavailable("the collector failed to store the batch", RETRY_AFTER_FULL)
        };
        if let Some(body) = work.encoded_only() {
            let body = body.clone();
            let inline = body.len() <= INLINE_INGEST_BYTES;
            let ingest = move || {
                let mut total = Report::default();
                for store in stores.iter() {
                    total.merge(decode::ingest_scanned(store, &body, &mut |_| {})?);
                }
                Ok::<_, decode::Malformed>(total)
            };
            // A request of up to INLINE_INGEST_BYTES is read into the store on the task's own
            // worker (about a millisecond at the reader's speed): handing it to the blocking
            // pool costs two thread wake-ups, more than the work. Larger ones go to the pool
            // so that one big request does not stall the other connections of this worker.
            let ingested = if inline {
                ingest()
            } else {
                tokio::task::spawn_blocking(ingest).await.map_err(failed)?
            };
            return ingested
                .map_err(|e| Refused::invalid(format!("malformed metrics request: {e}")));
        }
        let request = work
            .take_request()
            .map_err(|e| Refused::invalid(e.to_string()))?;
        let (request, report) = tokio::task::spawn_blocking(move || {
            let mut total = Report::default();
            if let Request::Metrics(req) = &request {
                for store in stores.iter() {
                    total.merge(otlp::ingest_request(store, req));
                }
            }
            (request, total)
        })
        .await
        .map_err(failed)?;
        work.restore_request(request);
        Ok(report)
    }

    async fn export(&self, mut work: Work) -> Result<Accepted, Refused> {
        // Reserve room in every queue first: a full one refuses the batch everywhere.
        let mut permits = Vec::with_capacity(self.queues.len());
        for (id, queue) in &self.queues {
            match queue.try_reserve() {
                Some(permit) => permits.push((queue, permit)),
                None => {
                    return Err(Refused::unavailable(
                        format!(
                            "exporter {id}'s sending queue is full ({} batches); \
                             pipeline {} refuses the batch",
                            queue.capacity(),
                            self.pipeline
                        ),
                        RETRY_AFTER_FULL,
                    ));
                }
            }
        }

        let mut accepted = Accepted::default();
        for export in &self.custom {
            accepted.merge(export.export(&mut work).await?);
        }
        if work.signal() == Signal::Metrics && !self.stores.is_empty() {
            let report = self.ingest(&mut work).await?;
            if report.rejected > 0 {
                accepted.merge(Accepted {
                    rejected: report.rejected,
                    message: Some(report.partial_success_message()),
                });
            }
        }

        if self.direct.is_empty() && permits.is_empty() {
            return Ok(accepted);
        }
        // Encoded only here, and only if a transform made the received bytes stale.
        let batch = work.batch();
        for (deliverer, stop) in &self.direct {
            match deliverer.deliver(&batch, stop).await {
                Delivered::Sent => {}
                Delivered::Dropped(why) => {
                    return Err(Refused::invalid(format!(
                        "exporter {} could not deliver: {why}",
                        deliverer.id
                    )));
                }
                Delivered::Stopped => {
                    return Err(Refused::unavailable(
                        "the collector is shutting down",
                        RETRY_AFTER_FULL,
                    ));
                }
            }
        }
        for (queue, permit) in permits {
            queue.push(permit, batch.clone()).await.map_err(|e| {
                tracing::error!(pipeline = %self.pipeline, error = %e, "queueing a batch failed");
                Refused::unavailable(e.to_string(), RETRY_AFTER_FULL)
            })?;
        }
        Ok(accepted)
    }
}

/// A transform stage in front of `next`, counting what goes in and out in `stats`.
pub fn transform(stage: Arc<dyn Transform>, stats: Arc<ProcessorStats>, next: Chain) -> Chain {
    Arc::new(move |mut work: Work| {
        let stage = stage.clone();
        let stats = stats.clone();
        let next = next.clone();
        Box::pin(async move {
            let signal = work.signal();
            stats.came_in(signal, work.items);
            let dropped = {
                let request = work
                    .request_mut()
                    .map_err(|e| Refused::invalid(e.to_string()))?;
                stage.process(request)
            };
            work.items = work.items.saturating_sub(dropped);
            stats.went_out(signal, work.items);
            if dropped > 0 && work.items == 0 {
                // Everything was filtered out on purpose: nothing left to export.
                return Ok(Accepted::default());
            }
            next(work).await
        })
    })
}

/// What a receiver feeds: per signal, the chains of the pipelines that list it.
#[derive(Clone, Default)]
pub struct Entry {
    chains: [Vec<Chain>; 3],
    /// Per signal: some pipeline needs the decoded messages before anything else happens to
    /// the batch, so the receiver decodes instead of only scanning (see [`Entry::decodes`]).
    decodes: [bool; 3],
}

fn index(signal: Signal) -> usize {
    signal.index()
}

impl Entry {
    /// Adds pipeline `id` of `signal`.
    ///
    /// `decodes`: the pipeline's first step needs the decoded messages (a transform, or a
    /// prometheus exporter with no processor before it).
    pub fn add(&mut self, signal: Signal, chain: Chain, decodes: bool) {
        self.chains[index(signal)].push(chain);
        self.decodes[index(signal)] |= decodes;
    }

    /// Whether a receiver should decode a `signal` request rather than only scan it: some
    /// pipeline decodes it at once, so decoding at the receiver validates and counts it as
    /// well, and the bytes travel alongside for the exporters that forward them.
    pub fn decodes(&self, signal: Signal) -> bool {
        self.decodes[index(signal)]
    }

    /// Whether any pipeline takes `signal`.
    pub fn handles(&self, signal: Signal) -> bool {
        !self.chains[index(signal)].is_empty()
    }

    /// Runs `work` through every pipeline of its signal. The answer is a refusal if any
    /// pipeline refused (the sender retries), else the merged partial success.
    pub async fn consume(&self, work: Work) -> Result<Accepted, Refused> {
        let chains = &self.chains[index(work.signal())];
        let mut accepted = Accepted::default();
        let last = chains.len().saturating_sub(1);
        let mut work = Some(work);
        for (i, chain) in chains.iter().enumerate() {
            let this = if i == last { work.take() } else { work.clone() };
            let Some(this) = this else { break };
            accepted.merge(chain(this).await?);
        }
        Ok(accepted)
    }
}

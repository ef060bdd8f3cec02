//! Exporter `prometheusremotewrite`: metrics as Prometheus remote-write 1.0 or 2.0 samples, to
//! Prometheus, Mimir, Thanos Receive, VictoriaMetrics or anything else that takes them.
//!
//! Remote-write carries cumulative samples only, so every point goes through a store of the
//! exporter's own ([`crate::store`], the same rules as the `prometheus` exporter's `/metrics`:
//! deltas folded into cumulative values, resets, out-of-order and overlapping points) and what
//! is written is each point's result there ([`crate::store::Current`]), named and labelled by
//! the same translation as `/metrics` (`convert`). Series idle for 5 minutes are forgotten,
//! as the store's `metric_expiration` default does: a delta series that comes back after that
//! starts its count again, a counter reset that `rate()` handles.
//!
//! Order: samples of one series must reach the receiver oldest first. Series are spread over
//! `remote_write_queue.num_consumers` shards by a hash of their name and labels, stable across
//! restarts; each shard is a [`Lane`] with one consumer, so a series' samples leave in the order
//! they were queued. Batches are converted and queued one at a time (the admission lock), so
//! queue order is ingest order. A batch is admitted whole or not at all: room is reserved in
//! every shard first, and a full shard refuses the batch (the OTLP sender retries).
//!
//! Durability: with `wal.directory` each shard's queue is a file queue there, written and
//! fsynced before the OTLP sender is answered, so a kill -9 loses nothing that was accepted; the
//! exporter's own store (the delta state) is in memory, and after a restart a delta series
//! starts its count again. Requests are batched by bytes (`max_batch_size_bytes`, before
//! compression); the frames of one OTLP batch travel together as one queued batch
//! (`wire`).
//!
//! Tenants: with `tenant_header` set, each tenant's points go through a store of their own (two
//! tenants' same series never add up), and a tenant's batch is led by a frame naming it
//! (`wire::join`), so the tenant survives the queue and its WAL and is sent in `tenant_header`
//! (e.g. `X-Scope-OrgID`). Without it, the database cannot tell tenants apart: their points
//! go through one store, as one stream per series, since two tenants' cumulative streams under
//! the same labels would read as resets or duplicates there.

mod config;
mod convert;
mod fallback;
mod sender;
#[cfg(test)]
mod tests;
mod wire;

pub use config::{Config, Protocol, Settings};
pub use sender::{Refusals, RemoteWriteSender};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::decode;
use crate::exporters::prometheus::tenants::{DEFAULT_MAX_TENANTS, Tenants};
use crate::extensions::file_storage::Settings as StorageSettings;
use crate::pipeline::consumer::{Delivered, Deliverer, ExporterStats};
use crate::pipeline::graph::{Accepted, Export, ExportFigures, RETRY_AFTER_FULL};
use crate::pipeline::lane::{Lane, Storage};
use crate::pipeline::{Batch, BoxFuture, Refused, Signal, Work};
use crate::processors::Request;
use crate::store::otlp::{Report, ingest_request_with};
use crate::store::{Options, ResourceInfo, Store};
use convert::{Naming, Scratch};
use wire::{Frame, RequestWriter};

/// How long an idle series is kept (its delta state).
const EXPIRE_AFTER: Duration = Duration::from_secs(300);

/// A running `prometheusremotewrite` exporter.
pub struct RemoteWrite {
    id: String,
    /// The cumulative state, one store per tenant (two tenants' same series stay apart).
    stores: Tenants,
    /// Whether tenants are sent (`tenant_header`); without, every batch is the implicit
    /// tenant's.
    sends_tenant: bool,
    naming: Naming,
    protocol: Protocol,
    send_metadata: bool,
    target_info: bool,
    max_batch_bytes: usize,
    shards: usize,
    sending: Sending,
    /// Conversion and queueing, one batch at a time.
    admit: tokio::sync::Mutex<()>,
    /// Set by the sender once the receiver refused 2.0.
    v1_only: Arc<AtomicBool>,
    /// What happened to the queued batches.
    pub stats: Arc<ExporterStats>,
    /// Samples the receiver refused, per cause.
    pub refusals: Arc<sender::Refusals>,
    stop: CancellationToken,
}

enum Sending {
    /// One lane per shard.
    Queued(Vec<Lane>),
    /// `remote_write_queue.enabled: false`: sent while the OTLP sender waits.
    Direct(Arc<Deliverer>),
}

impl RemoteWrite {
    /// Starts exporter `id`: its shards' queues (recovering a WAL) and consumers, and the timer
    /// that forgets idle series. `stop` is the exporters' stop token.
    pub fn start(
        id: &str,
        settings: &Settings,
        stop: &CancellationToken,
    ) -> Result<Arc<RemoteWrite>, String> {
        let v1_only = Arc::new(AtomicBool::new(false));
        let sender = Arc::new(RemoteWriteSender::new(settings, v1_only.clone()));
        let refusals = sender.refusals.clone();
        let deliverer = Arc::new(Deliverer::new(id.to_owned(), sender, settings.retry));
        let stats = deliverer.stats.clone();
        let sending = if settings.queue_enabled {
            let storage = settings.wal.as_ref().map(|dir| StorageSettings {
                directory: dir.clone(),
                create_directory: true,
                fsync: true,
            });
            let mut lanes = Vec::with_capacity(settings.shards);
            for shard in 0..settings.shards {
                let name = format!("{id}-shard{shard}");
                let storage = match &storage {
                    Some(s) => Storage::File {
                        settings: s,
                        name: &name,
                    },
                    None => Storage::Memory,
                };
                lanes.push(Lane::open(
                    format!("{id} shard {shard}"),
                    storage,
                    settings.shard_capacity,
                    deliverer.clone(),
                    1,
                    stop,
                )?);
            }
            Sending::Queued(lanes)
        } else {
            Sending::Direct(deliverer)
        };
        let exporter = Arc::new(RemoteWrite {
            id: id.to_owned(),
            stores: {
                let options = Options {
                    expire_after: EXPIRE_AFTER,
                    ..Options::default()
                };
                let implicit = Arc::new(Store::new(options.clone()));
                Tenants::new(implicit, options, DEFAULT_MAX_TENANTS)
            },
            sends_tenant: settings.tenant_header.is_some(),
            naming: Naming::new(settings),
            protocol: settings.protocol,
            send_metadata: settings.send_metadata,
            target_info: settings.target_info,
            max_batch_bytes: settings.max_batch_bytes,
            shards: settings.shards,
            sending,
            admit: tokio::sync::Mutex::new(()),
            v1_only,
            stats,
            refusals,
            stop: stop.child_token(),
        });
        tokio::spawn(expire(Arc::downgrade(&exporter), exporter.stop.clone()));
        Ok(exporter)
    }

    /// The message requests are written in now (1.0 once the receiver refused 2.0).
    pub fn protocol(&self) -> Protocol {
        if self.v1_only.load(Ordering::Relaxed) {
            Protocol::V1
        } else {
            self.protocol
        }
    }

    /// Converts a request into frames per shard, and the store's report.
    fn convert(
        &self,
        store: &Store,
        source: Source<'_>,
    ) -> Result<(Vec<Vec<Frame>>, Report), String> {
        let protocol = self.protocol();
        let mut writers: Vec<Option<RequestWriter>> = (0..self.shards).map(|_| None).collect();
        let mut frames: Vec<Vec<Frame>> = vec![Vec::new(); self.shards];
        let mut resources: HashMap<*const ResourceInfo, (Arc<ResourceInfo>, u64)> = HashMap::new();
        let mut scratch = Scratch::default();
        let mut labels = String::new();
        let mut error = None;
        let hasher = shard_hasher();
        let mut on_point = |session: &crate::store::Ingest<'_>| {
            let Some(current) = session.current() else {
                return;
            };
            // The series' label text: its own when kept whole, else written into a reused buffer.
            let text: &str = match current.meta.labels.as_whole() {
                Some(text) => text,
                None => {
                    labels.clear();
                    current.meta.write_labels(&mut labels);
                    &labels
                }
            };
            let shard =
                (hasher.hash_one((&*current.desc.name, text)) % self.shards as u64) as usize;
            if let Some(writer) = writers.get_mut(shard) {
                let w =
                    writer.get_or_insert_with(|| RequestWriter::new(protocol, self.send_metadata));
                convert::point(&self.naming, &current, text, w, &mut scratch);
                if w.len() >= self.max_batch_bytes
                    && let Some(full) = writer.take()
                {
                    push_frame(&mut frames[shard], protocol, full, &mut error);
                }
            }
            if self.target_info {
                let entry = resources
                    .entry(Arc::as_ptr(current.resource))
                    .or_insert_with(|| (current.resource.clone(), 0));
                entry.1 = entry.1.max(current.time);
            }
        };
        let report = match source {
            // Bytes the receiver scanned: read straight into the store, no decode.
            Source::Bytes(body) => decode::ingest_scanned(store, body, &mut on_point)
                .map_err(|e| format!("malformed metrics request: {e}"))?,
            Source::Request(request) => ingest_request_with(store, request, &mut on_point),
        };
        for (resource, time) in resources.into_values() {
            let key = resource.target_info_labels.as_deref().unwrap_or("");
            let shard = (hasher.hash_one(("target_info", key)) % self.shards as u64) as usize;
            if let Some(writer) = writers.get_mut(shard) {
                let w =
                    writer.get_or_insert_with(|| RequestWriter::new(protocol, self.send_metadata));
                convert::target_info(&self.naming, &resource, time, w);
            }
        }
        for (shard, writer) in writers.into_iter().enumerate() {
            if let Some(w) = writer.filter(|w| !w.is_empty()) {
                push_frame(&mut frames[shard], protocol, w, &mut error);
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok((frames, report)),
        }
    }

    async fn admit(&self, work: &mut Work) -> Result<Accepted, Refused> {
        let _order = self.admit.lock().await;
        let mut permits = Vec::new();
        if let Sending::Queued(lanes) = &self.sending {
            for (shard, lane) in lanes.iter().enumerate() {
                match lane.queue.try_reserve() {
                    Some(p) => permits.push(Some(p)),
                    None => {
                        return Err(Refused::unavailable(
                            format!(
                                "exporter {}'s shard {shard} queue is full ({} batches)",
                                self.id,
                                lane.queue.capacity()
                            ),
                            RETRY_AFTER_FULL,
                        ));
                    }
                }
            }
        }
        let tenant = if self.sends_tenant {
            work.tenant.clone()
        } else {
            None
        };
        let store = self
            .stores
            .for_batch(&tenant)
            .map_err(|e| Refused::invalid(format!("exporter {}: {e}", self.id)))?;
        let converted = match work.encoded_only() {
            Some(body) if work.signal() == Signal::Metrics => {
                let body = body.clone();
                self.convert(&store, Source::Bytes(&body)).map(Some)
            }
            _ => {
                let request = work
                    .take_request()
                    .map_err(|e| Refused::invalid(e.to_string()))?;
                let converted = match &request {
                    Request::Metrics(req) => self.convert(&store, Source::Request(req)).map(Some),
                    _ => Ok(None),
                };
                work.restore_request(request);
                converted
            }
        };
        let Some((frames, report)) = converted.map_err(|e| {
            tracing::error!(exporter = %self.id, error = %e, "writing remote-write requests failed");
            Refused::unavailable(format!("exporter {}: {e}", self.id), RETRY_AFTER_FULL)
        })?
        else {
            return Ok(Accepted::default());
        };
        for (shard, frames) in frames.into_iter().enumerate() {
            if frames.is_empty() {
                continue;
            }
            let batch = Batch {
                signal: Signal::Metrics,
                items: frames.iter().map(|f| f.samples).sum(),
                body: wire::join(tenant.as_deref(), &frames),
                tenant: tenant.clone(),
            };
            match &self.sending {
                Sending::Queued(lanes) => {
                    let (Some(lane), Some(permit)) = (
                        lanes.get(shard),
                        permits.get_mut(shard).and_then(Option::take),
                    ) else {
                        continue;
                    };
                    lane.queue.push(permit, batch).await.map_err(|e| {
                        tracing::error!(exporter = %self.id, error = %e, "queueing a batch failed");
                        Refused::unavailable(e.to_string(), RETRY_AFTER_FULL)
                    })?;
                }
                Sending::Direct(deliverer) => match deliverer.deliver(&batch, &self.stop).await {
                    Delivered::Sent => {}
                    Delivered::Dropped(why) => {
                        return Err(Refused::invalid(format!(
                            "exporter {} could not deliver: {why}",
                            self.id
                        )));
                    }
                    Delivered::Stopped => {
                        return Err(Refused::unavailable(
                            "the collector is shutting down",
                            RETRY_AFTER_FULL,
                        ));
                    }
                },
            }
        }
        Ok(if report.rejected > 0 {
            Accepted {
                rejected: report.rejected,
                message: Some(report.partial_success_message()),
            }
        } else {
            Accepted::default()
        })
    }
}

/// Where a batch's points come from: its bytes (read without decoding), or its decoded form
/// (after a processor, or from OTLP/JSON).
enum Source<'a> {
    Bytes(&'a [u8]),
    Request(&'a opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest),
}

/// Shards must not move between runs (a WAL replays into the same shard), hence fixed seeds.
fn shard_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x7276_7731, 0x7368_6172, 0x6473_6565, 0x6473_2121)
}

fn push_frame(
    out: &mut Vec<Frame>,
    protocol: Protocol,
    writer: RequestWriter,
    error: &mut Option<String>,
) {
    let samples = writer.samples;
    match wire::frame(protocol, samples, &writer.finish()) {
        Ok(frame) => out.push(frame),
        Err(e) => {
            error.get_or_insert(e);
        }
    }
}

async fn expire(exporter: std::sync::Weak<RemoteWrite>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let Some(exporter) = exporter.upgrade() else { break };
                let now = Instant::now();
                for store in exporter.stores.all() {
                    store.expire(now);
                }
            }
        }
    }
}

impl Export for RemoteWrite {
    fn id(&self) -> &str {
        &self.id
    }

    /// Items here are samples: what the exporter writes, after the store turned points into
    /// series (a histogram point is several samples).
    fn figures(&self) -> ExportFigures {
        let mut figures = ExportFigures::default();
        self.stats.add_to(&mut figures.by_signal);
        if let Sending::Queued(lanes) = &self.sending {
            for lane in lanes {
                figures.queue_size += lane.queue.len();
                figures.queue_capacity += lane.queue.capacity();
            }
        }
        figures
    }

    fn decodes(&self, _signal: Signal) -> bool {
        // Received bytes are read straight into the exporter's store (`crate::decode`).
        false
    }

    fn export<'a>(&'a self, work: &'a mut Work) -> BoxFuture<'a, Result<Accepted, Refused>> {
        Box::pin(self.admit(work))
    }

    fn shutdown(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Sending::Queued(lanes) = &self.sending {
                for lane in lanes {
                    lane.close();
                }
                for lane in lanes {
                    lane.drained(deadline).await;
                }
                for lane in lanes {
                    lane.stop().await;
                }
            }
            self.stop.cancel();
        })
    }
}

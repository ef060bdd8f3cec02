//! Building the running components from the validated configuration: exporters (stores, queues,
//! consumers), then each pipeline's chain from its last stage backwards, then each receiver's
//! [`Entry`]. Only components some pipeline uses are built, as in the OpenTelemetry Collector.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Error;
use crate::config::{ComponentId, Config, Exporter, Extension, Processor};
use crate::exporters::common::QueueSettings;
use crate::exporters::loadbalancing::LoadBalancer;
use crate::exporters::prometheus::tenants::Tenants;
use crate::exporters::{otlp, otlphttp, prometheusremotewrite};
use crate::extensions::file_storage::Settings as StorageSettings;
use crate::pipeline::batch::{Batcher, Downstream};
use crate::pipeline::consumer::{Deliverer, ExporterStats};
use crate::pipeline::graph::{self, Chain, Export, Target};
use crate::pipeline::lane::{Lane, Storage};
use crate::pipeline::{Entry, Sender, Work};
use crate::processors::memory_limiter::{self, MemoryLimiter};
use crate::processors::{ProcessorStats, Transform, attributes, filter, resource};
use crate::receiver;
use crate::store::{Options, Store};

/// A prometheus exporter: its store and the bound listener for its pages.
pub(super) struct StoreExporter {
    pub(super) id: ComponentId,
    /// The implicit tenant's store.
    pub(super) store: Arc<Store>,
    /// Every tenant's store (see `exporters::prometheus::tenants`).
    pub(super) tenants: Arc<Tenants>,
    pub(super) listener: TcpListener,
    pub(super) tls: Option<Arc<crate::server::tls::ServerTls>>,
    pub(super) auth: Option<Arc<crate::extensions::auth::Authenticator>>,
}

/// A forwarding exporter: its queue and consumers (if `sending_queue` is enabled) and counters.
pub struct ForwardingExporter {
    /// Exporter id.
    pub id: ComponentId,
    /// What happened to its batches.
    pub stats: Arc<ExporterStats>,
    /// Its sending queue and consumers, when enabled.
    pub lane: Option<Lane>,
}

/// Everything built, not yet serving.
pub(super) struct Built {
    pub(super) stores: Vec<StoreExporter>,
    pub(super) forwarding: Vec<ForwardingExporter>,
    pub(super) custom: Vec<Arc<dyn Export>>,
    pub(super) balancers: Vec<(ComponentId, Arc<LoadBalancer>)>,
    pub(super) batchers: Vec<Batcher>,
    pub(super) entries: BTreeMap<ComponentId, Entry>,
    /// Every processor a pipeline runs, with its counters (one per id, shared by pipelines).
    pub(super) processors: BTreeMap<ComponentId, Arc<ProcessorStats>>,
}

pub(super) async fn build(config: &Config, stop: &CancellationToken) -> Result<Built, Error> {
    let mut stores = Vec::new();
    let mut forwarding = Vec::new();
    let mut custom: Vec<Arc<dyn Export>> = Vec::new();
    let mut balancers = Vec::new();
    let mut targets: BTreeMap<ComponentId, Arc<Target>> = BTreeMap::new();
    for (id, exporter) in &config.exporters {
        if !config.is_used(id) {
            tracing::info!(exporter = %id, "exporter is configured but no pipeline uses it; not started");
            continue;
        }
        let forward = |sender: Arc<dyn Sender>, retry, queue: &QueueSettings| {
            build_forwarding(config, id, sender, retry, queue, stop)
        };
        let (target, handle) = match exporter {
            Exporter::Prometheus(s) => {
                let options = Options {
                    expire_after: s.metric_expiration,
                    max_future_skew: s.max_future_skew,
                    max_series_per_metric: s.max_series_per_metric,
                    max_series: s.max_series,
                };
                let store = Arc::new(Store::new(options.clone()));
                let tenants = Arc::new(Tenants::new(store.clone(), options, s.max_tenants));
                let listener = receiver::bind(s.endpoint).await?;
                let tls = match &s.tls {
                    None => None,
                    Some(tls) => Some(Arc::new(
                        crate::server::tls::ServerTls::new(tls, &[b"h2", b"http/1.1"]).map_err(
                            |message| Error::Exporter {
                                id: id.to_string(),
                                message,
                            },
                        )?,
                    )),
                };
                let auth =
                    s.auth
                        .as_deref()
                        .and_then(ComponentId::parse)
                        .and_then(|a| match config.extensions.get(&a) {
                            Some(Extension::Auth(auth)) => Some(auth.clone()),
                            _ => None,
                        });
                stores.push(StoreExporter {
                    id: id.clone(),
                    store,
                    tenants: tenants.clone(),
                    listener,
                    tls,
                    auth,
                });
                let target = Target::Store {
                    id: id.to_string(),
                    tenants,
                };
                (target, None)
            }
            Exporter::Otlp(s) => {
                let sender = otlp::GrpcSender::new(s).map_err(|message| Error::Exporter {
                    id: id.to_string(),
                    message,
                })?;
                forward(Arc::new(sender), s.retry, &s.queue)?
            }
            Exporter::PrometheusRemoteWrite(s) => {
                let exporter = prometheusremotewrite::RemoteWrite::start(id.as_str(), s, stop)
                    .map_err(|message| Error::Exporter {
                        id: id.to_string(),
                        message,
                    })?;
                let handle = ForwardingExporter {
                    id: id.clone(),
                    stats: exporter.stats.clone(),
                    lane: None,
                };
                custom.push(exporter.clone());
                (Target::Custom(exporter), Some(handle))
            }
            Exporter::OtlpHttp(s) => {
                let sender = otlphttp::HttpSender::new(s).map_err(|message| Error::Exporter {
                    id: id.to_string(),
                    message,
                })?;
                forward(Arc::new(sender), s.retry, &s.queue)?
            }
            Exporter::LoadBalancing(s) => {
                let storage = match &s.otlp.queue.storage {
                    None => None,
                    Some(storage) => Some(storage_settings(config, id, &storage.to_string())?),
                };
                let balancer =
                    LoadBalancer::start(id.to_string(), s, storage, stop).map_err(|message| {
                        Error::Exporter {
                            id: id.to_string(),
                            message,
                        }
                    })?;
                let balancer = Arc::new(balancer);
                balancers.push((id.clone(), balancer.clone()));
                custom.push(balancer.clone());
                (Target::Custom(balancer), None)
            }
        };
        targets.insert(id.clone(), Arc::new(target));
        forwarding.extend(handle);
    }

    // One limiter per memory_limiter processor, shared by the pipelines that list it.
    let mut limiters: BTreeMap<ComponentId, Arc<MemoryLimiter>> = BTreeMap::new();
    for (id, processor) in &config.processors {
        if let Processor::MemoryLimiter(s) = processor {
            let limiter =
                MemoryLimiter::new(id.as_str(), *s, Arc::new(memory_limiter::resident_bytes));
            limiter.spawn(stop.clone());
            limiters.insert(id.clone(), limiter);
        }
    }
    let mut batchers = Vec::new();
    let mut entries: BTreeMap<ComponentId, Entry> = BTreeMap::new();
    let mut processor_stats: BTreeMap<ComponentId, Arc<ProcessorStats>> = BTreeMap::new();
    for pipeline in &config.pipelines {
        let mut chain = graph::fanout(
            pipeline.id.clone(),
            pipeline
                .exporters
                .iter()
                .filter_map(|id| targets.get(id).cloned())
                .collect(),
        );
        // The processors as stages; a transform that cannot change this signal is left out,
        // so the batch is not decoded for nothing.
        let stages: Vec<Stage> = pipeline
            .processors
            .iter()
            .filter_map(|id| config.processors.get(id).map(|p| (id, p)))
            .filter_map(|(id, processor)| {
                let stats = processor_stats.entry(id.clone()).or_default().clone();
                let stage: Arc<dyn Transform> = match processor {
                    Processor::Batch(s) => return Some(Stage::Batch(*s, stats)),
                    Processor::MemoryLimiter(_) => {
                        return limiters
                            .get(id)
                            .cloned()
                            .map(|limiter| Stage::Limit(limiter, stats));
                    }
                    Processor::Resource(s) => Arc::new(resource::Resource::new(s.clone())),
                    Processor::Attributes(s) => Arc::new(attributes::Attributes::new(s.clone())),
                    Processor::Filter(s) => Arc::new(filter::Filter::new(s.clone())),
                };
                stage
                    .changes(pipeline.signal)
                    .then_some(Stage::Transform(stage, stats))
            })
            .collect();
        // The first step decodes: a transform, or with no processor an exporter that decodes
        // (one that converts or routes). The prometheus exporter's store reads the bytes as
        // received (`decode`), so it needs only the receiver's scan.
        let decodes = match stages.iter().find(|s| !matches!(s, Stage::Limit(..))) {
            Some(Stage::Transform(..)) => true,
            Some(Stage::Batch(..)) | Some(Stage::Limit(..)) => false,
            None => pipeline
                .exporters
                .iter()
                .any(|id| match targets.get(id).map(|t| &**t) {
                    Some(Target::Custom(export)) => export.decodes(pipeline.signal),
                    _ => false,
                }),
        };
        for stage in stages.into_iter().rev() {
            chain = match stage {
                Stage::Batch(s, stats) => {
                    let next = chain.clone();
                    let out = stats.clone();
                    let downstream: Downstream = Arc::new(move |batch| {
                        let next = next.clone();
                        out.went_out(batch.signal, batch.items);
                        Box::pin(async move { next(Work::encoded(batch)).await.map(drop) })
                    });
                    let batcher = Batcher::new(s, pipeline.signal, downstream);
                    batchers.push(batcher.clone());
                    batch_stage(batcher, stats)
                }
                Stage::Transform(t, stats) => graph::transform(t, stats, chain),
                Stage::Limit(limiter, stats) => limit_stage(limiter, stats, chain),
            };
        }
        for id in &pipeline.receivers {
            entries
                .entry(id.clone())
                .or_default()
                .add(pipeline.signal, chain.clone(), decodes);
        }
    }
    Ok(Built {
        stores,
        forwarding,
        custom,
        balancers,
        batchers,
        entries,
        processors: processor_stats,
    })
}

/// One processor of a pipeline, as built, with its counters.
enum Stage {
    Batch(crate::processors::batch::Settings, Arc<ProcessorStats>),
    Transform(Arc<dyn Transform>, Arc<ProcessorStats>),
    Limit(Arc<MemoryLimiter>, Arc<ProcessorStats>),
}

/// A `memory_limiter` in front of `next`: refuses while memory is above the limit.
fn limit_stage(limiter: Arc<MemoryLimiter>, stats: Arc<ProcessorStats>, next: Chain) -> Chain {
    Arc::new(move |work: Work| {
        stats.came_in(work.signal(), work.items);
        match limiter.admit() {
            Ok(()) => {
                stats.went_out(work.signal(), work.items);
                next(work)
            }
            Err(refused) => Box::pin(async move { Err(refused) }),
        }
    })
}

fn batch_stage(batcher: Batcher, stats: Arc<ProcessorStats>) -> Chain {
    Arc::new(move |mut work: Work| {
        let batcher = batcher.clone();
        stats.came_in(work.signal(), work.items);
        Box::pin(async move {
            batcher.submit(work.batch()).await?;
            Ok(graph::Accepted::default())
        })
    })
}

fn build_forwarding(
    config: &Config,
    id: &ComponentId,
    sender: Arc<dyn Sender>,
    retry: crate::exporters::common::RetrySettings,
    queue: &QueueSettings,
    stop: &CancellationToken,
) -> Result<(Target, Option<ForwardingExporter>), Error> {
    let deliverer = Arc::new(Deliverer::new(id.to_string(), sender, retry));
    let stats = deliverer.stats.clone();
    if !queue.enabled {
        let target = Target::Direct {
            deliverer,
            stop: stop.clone(),
        };
        let handle = ForwardingExporter {
            id: id.clone(),
            stats,
            lane: None,
        };
        return Ok((target, Some(handle)));
    }
    let settings = match &queue.storage {
        None => None,
        Some(storage) => Some(storage_settings(config, id, &storage.to_string())?),
    };
    let storage = match &settings {
        None => Storage::Memory,
        Some(settings) => Storage::File {
            settings,
            name: id.as_str(),
        },
    };
    let lane = Lane::open(
        id.to_string(),
        storage,
        queue.queue_size,
        deliverer,
        queue.num_consumers,
        stop,
    )
    .map_err(|message| Error::Exporter {
        id: id.to_string(),
        message,
    })?;
    let target = Target::Queue {
        id: id.to_string(),
        queue: lane.queue.clone(),
    };
    let handle = ForwardingExporter {
        id: id.clone(),
        stats,
        lane: Some(lane),
    };
    Ok((target, Some(handle)))
}

/// The settings of the `file_storage` extension `storage` that exporter `id` names.
pub(super) fn storage_settings(
    config: &Config,
    id: &ComponentId,
    storage: &str,
) -> Result<StorageSettings, Error> {
    ComponentId::parse(storage)
        .and_then(|sid| config.extensions.get(&sid))
        .and_then(|e| match e {
            Extension::FileStorage(s) => Some(s.clone()),
            Extension::Auth(_) | Extension::Pprof(_) => None,
        })
        .ok_or_else(|| Error::Exporter {
            id: id.to_string(),
            message: format!("storage extension {storage:?} is not configured"),
        })
}

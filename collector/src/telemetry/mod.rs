//! The collector's own telemetry: what it received, refused, sent, queued and holds, and what
//! it costs, with the OpenTelemetry Collector's metric names where one exists
//! (`otelcol_receiver_accepted_metric_points`, `otelcol_exporter_queue_size`, ...) and
//! `vigil_*` names for the store.
//!
//! The components count in atomics as they work (receiver [`Counters`], exporter
//! [`ExporterStats`], [`ProcessorStats`], the store's `Stats`). On each read, [`Telemetry::refresh`]
//! turns the current figures into one OTLP request and ingests it into a store of its own, so
//! the figures are exact at the moment of the read and are rendered by the same code as
//! everybody's metrics: Prometheus text on the telemetry address (default `127.0.0.1:8888`,
//! `service.telemetry.metrics.address`, [`server`]), and the JSON snapshot at
//! `GET /api/v1/self` on the admin address. They never mix into the data page.

pub mod log_limit;
pub mod process;
pub mod render_times;
pub mod request;
pub mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use log_limit::LogLimit;
pub use render_times::RenderTimes;

use crate::config::ComponentId;
use crate::exporters::prometheus::tenants::Tenants;
use crate::pipeline::consumer::ExporterStats;
use crate::pipeline::graph::{Export, ExportFigures};
use crate::pipeline::{Queue, Signal};
use crate::processors::ProcessorStats;
use crate::receiver::{Counters, ReceiverCounters};
use crate::store::refusal::Reason;
use crate::store::{Options, Sizes, Stats, Store};
use request::Builder;

/// One exporter, as the self-telemetry reads it.
pub enum ExporterSource {
    /// A forwarding exporter: its deliverer's counters and its queue, if it has one.
    Forwarding {
        /// Its counters.
        stats: Arc<ExporterStats>,
        /// Its sending queue.
        queue: Option<Arc<dyn Queue>>,
    },
    /// An exporter with queues of its own (remote-write, load-balancing).
    Custom(Arc<dyn Export>),
    /// A `prometheus` exporter: its stores, one per tenant, reported together (points taken
    /// count as sent, refused as failed).
    Store(Arc<Tenants>),
}

/// Everything the self-telemetry reads.
#[derive(Default)]
pub struct Sources {
    /// Receivers, with the transports each serves.
    pub receivers: BTreeMap<ComponentId, (ReceiverCounters, bool, bool)>,
    /// Exporters.
    pub exporters: BTreeMap<ComponentId, ExporterSource>,
    /// Processors.
    pub processors: BTreeMap<ComponentId, Arc<ProcessorStats>>,
    /// Render times per admin address, by its exporter.
    pub renders: BTreeMap<ComponentId, Arc<RenderTimes>>,
}

/// The self-telemetry: its sources and the store its figures are kept in.
pub struct Telemetry {
    sources: Sources,
    store: Arc<Store>,
    started: SystemTime,
    started_at: Instant,
    instance: String,
    refreshing: Mutex<()>,
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Telemetry {
    /// The self-telemetry of `sources`, its sums starting now.
    pub fn new(sources: Sources) -> Telemetry {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        Telemetry {
            sources,
            store: Arc::new(Store::new(Options::default())),
            started: SystemTime::now(),
            started_at: Instant::now(),
            instance: format!("{host}:{}", std::process::id()),
            refreshing: Mutex::new(()),
        }
    }

    /// The store the figures are kept in (refreshed by [`Telemetry::refresh`]).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Puts the current figures into the store.
    pub fn refresh(&self) {
        let _one_at_a_time = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let request = self.request(SystemTime::now());
        let report = crate::store::otlp::ingest_request(&self.store, &request);
        if report.rejected > 0 {
            tracing::error!(
                "the self-telemetry refused its own points: {}",
                report.partial_success_message()
            );
        }
    }

    /// The current figures as one OTLP request stamped `now`.
    pub fn request(
        &self,
        now: SystemTime,
    ) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
        let mut b = Builder::new(
            unix_ns(self.started),
            unix_ns(now).max(unix_ns(self.started)),
        );
        self.receivers(&mut b);
        self.exporters(&mut b);
        self.processors(&mut b);
        self.process(&mut b);
        b.build(&[
            ("service.name", "vigil-collector"),
            ("service.instance.id", &self.instance),
            ("service.version", env!("CARGO_PKG_VERSION")),
        ])
    }

    fn receivers(&self, b: &mut Builder) {
        for (id, (counters, grpc, http)) in &self.sources.receivers {
            let transports = [
                (*grpc, "grpc", &counters.grpc),
                (*http, "http", &counters.http),
            ];
            for (_, transport, c) in transports.into_iter().filter(|t| t.0) {
                receiver(b, id.as_str(), transport, c);
            }
        }
    }

    fn exporters(&self, b: &mut Builder) {
        for (id, source) in &self.sources.exporters {
            let id = id.as_str();
            let figures = match source {
                ExporterSource::Forwarding { stats, queue } => {
                    let mut f = ExportFigures::default();
                    stats.add_to(&mut f.by_signal);
                    if let Some(q) = queue {
                        f.queue_size = q.len();
                        f.queue_capacity = q.capacity();
                    }
                    Some((f, queue.is_some()))
                }
                ExporterSource::Custom(export) => {
                    let f = export.figures();
                    Some((f, f.queue_capacity > 0))
                }
                ExporterSource::Store(tenants) => {
                    self.store_figures(b, id, &tenants.all());
                    None
                }
            };
            if let Some((f, queued)) = figures {
                exporter(b, id, &f, queued);
            }
        }
    }

    fn store_figures(&self, b: &mut Builder, id: &str, stores: &[Arc<Store>]) {
        // One counter over every tenant's store.
        let load = |a: fn(&Stats) -> &std::sync::atomic::AtomicU64| -> u64 {
            stores
                .iter()
                .map(|s| a(s.stats()).load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        };
        let mut f = ExportFigures::default();
        f.by_signal[Signal::Metrics.index()] =
            (load(|s| &s.accepted_points), load(|s| &s.rejected_points));
        exporter(b, id, &f, false);
        let labels: &[(&str, &str)] = &[("exporter", id)];
        let sizes = stores.iter().fold(Sizes::default(), |mut all, s| {
            let one = s.sizes();
            all.series += one.series;
            all.families += one.families;
            all.resources += one.resources;
            all
        });
        b.gauge(
            "vigil_store_series",
            "{series}",
            "Series the store holds.",
            labels,
            sizes.series as u64,
        );
        b.gauge(
            "vigil_store_families",
            "{family}",
            "Prometheus families the store holds.",
            labels,
            sizes.families as u64,
        );
        b.counter(
            "vigil_store_expired_series",
            "{series}",
            "Series dropped by expiry.",
            labels,
            load(|s| &s.expired_series),
        );
        b.counter(
            "vigil_store_overflow_points",
            "{point}",
            "Points of new series past max_series_per_metric, folded into their metric's overflow series.",
            labels,
            load(|s| &s.overflow_points),
        );
        b.counter(
            "vigil_store_out_of_order_points",
            "{point}",
            "Points older than their series, ignored.",
            labels,
            load(|s| &s.out_of_order_points),
        );
        for reason in Reason::ALL {
            b.counter(
                "vigil_store_refused_points",
                "{point}",
                "Points the store refused, by reason (reported to the sender in partial_success).",
                &[("exporter", id), ("reason", reason.as_str())],
                stores.iter().map(|s| s.stats().refused(reason)).sum(),
            );
        }
        let times = self.sources.renders.iter().find(|(e, _)| e.as_str() == id);
        if let Some((_, times)) = times {
            for (format, counts, sum) in times.read() {
                b.histogram(
                    "vigil_render_duration",
                    "s",
                    "Time to render an admin page, by format.",
                    &[("exporter", id), ("format", format)],
                    &render_times::BOUNDS,
                    counts,
                    sum,
                );
            }
        }
    }

    fn processors(&self, b: &mut Builder) {
        for (id, stats) in &self.sources.processors {
            for signal in Signal::ALL {
                let labels: &[(&str, &str)] =
                    &[("processor", id.as_str()), ("otel.signal", signal.as_str())];
                let (incoming, outgoing) = (stats.incoming(signal), stats.outgoing(signal));
                if incoming == 0 && outgoing == 0 {
                    continue;
                }
                b.counter(
                    "otelcol_processor_incoming_items",
                    "{item}",
                    "Items that came into the processor.",
                    labels,
                    incoming,
                );
                b.counter(
                    "otelcol_processor_outgoing_items",
                    "{item}",
                    "Items that went out of the processor.",
                    labels,
                    outgoing,
                );
            }
        }
    }

    fn process(&self, b: &mut Builder) {
        if let Some(rss) = process::resident_bytes() {
            b.gauge(
                "otelcol_process_memory_rss",
                "By",
                "Resident memory of the collector.",
                &[],
                rss,
            );
        }
        if let Some(cpu) = process::cpu_time() {
            b.counter_f64(
                "otelcol_process_cpu_seconds",
                "s",
                "CPU time of the collector, user and system.",
                &[],
                cpu.as_secs_f64(),
            );
        }
        b.counter_f64(
            "otelcol_process_uptime",
            "s",
            "Time since the collector started.",
            &[],
            self.started_at.elapsed().as_secs_f64(),
        );
    }
}

/// The OpenTelemetry Collector's item names per signal.
fn item(signal: Signal) -> &'static str {
    match signal {
        Signal::Metrics => "metric_points",
        Signal::Traces => "spans",
        Signal::Logs => "log_records",
    }
}

fn unit(signal: Signal) -> &'static str {
    match signal {
        Signal::Metrics => "{datapoint}",
        Signal::Traces => "{span}",
        Signal::Logs => "{record}",
    }
}

fn receiver(b: &mut Builder, id: &str, transport: &str, c: &Counters) {
    let labels: &[(&str, &str)] = &[("receiver", id), ("transport", transport)];
    for signal in Signal::ALL {
        let s = c.signal(signal);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let name = item(signal);
        b.counter(
            &format!("otelcol_receiver_accepted_{name}"),
            unit(signal),
            "Items acknowledged to senders.",
            labels,
            load(&s.accepted),
        );
        b.counter(
            &format!("otelcol_receiver_refused_{name}"),
            unit(signal),
            "Items refused, or rejected in a partial_success.",
            labels,
            load(&s.refused),
        );
    }
    b.counter(
        "vigil_receiver_bad_requests",
        "{request}",
        "Requests refused outright (malformed, too large, wrong media type, or refused by a pipeline).",
        labels,
        c.bad_requests.load(std::sync::atomic::Ordering::Relaxed),
    );
}

/// One exporter's sent/failed per signal, and its queue's fill when it has one.
fn exporter(b: &mut Builder, id: &str, f: &ExportFigures, queued: bool) {
    let labels: &[(&str, &str)] = &[("exporter", id)];
    for signal in Signal::ALL {
        let (sent, failed) = f.by_signal[signal.index()];
        let name = item(signal);
        b.counter(
            &format!("otelcol_exporter_sent_{name}"),
            unit(signal),
            "Items the exporter delivered.",
            labels,
            sent,
        );
        b.counter(
            &format!("otelcol_exporter_send_failed_{name}"),
            unit(signal),
            "Items the exporter gave up on (refused permanently or retries exhausted).",
            labels,
            failed,
        );
    }
    if queued {
        b.gauge(
            "otelcol_exporter_queue_size",
            "{batch}",
            "Batches held in the sending queue.",
            labels,
            f.queue_size as u64,
        );
        b.gauge(
            "otelcol_exporter_queue_capacity",
            "{batch}",
            "Most batches the sending queue holds.",
            labels,
            f.queue_capacity as u64,
        );
    }
}

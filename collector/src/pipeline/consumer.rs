//! Delivery: the consumers that take batches from an exporter's queue and send them, retrying
//! per `retry_on_failure`, and the counters and logs of what happened to each batch.
//!
//! A batch ends in exactly one way, each counted ([`ExporterStats`]): sent (items the upstream
//! rejected in a `partial_success` are counted apart and logged), dropped as permanently refused,
//! dropped when its retries ran out (`max_elapsed_time`), or left in the queue at shutdown
//! (persistent queues send it after the restart). Failures are logged once per exporter and
//! cause at `warn`, then at `debug`, so a dead upstream does not flood the log.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Batch, Outcome, Queue, Sender, Signal};
use crate::exporters::common::RetrySettings;

/// What happened to an exporter's batches (the collector's own telemetry).
#[derive(Debug, Default)]
pub struct ExporterStats {
    /// Items delivered (including those the upstream then rejected in `partial_success`).
    pub sent_items: AtomicU64,
    /// Batches delivered.
    pub sent_batches: AtomicU64,
    /// Items the upstream rejected in a `partial_success`.
    pub rejected_items: AtomicU64,
    /// Items dropped because the upstream refused them permanently.
    pub failed_items: AtomicU64,
    /// Items dropped because their retries ran out.
    pub expired_items: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Per signal (indexed by [`Signal::index`]): items delivered, as `sent_items`.
    pub sent_by_signal: [AtomicU64; 3],
    /// Per signal: items given up on (refused permanently or retries exhausted).
    pub failed_by_signal: [AtomicU64; 3],
}

impl ExporterStats {
    /// Items of `signal` delivered.
    pub fn sent(&self, signal: Signal) -> u64 {
        self.sent_by_signal[signal.index()].load(Ordering::Relaxed)
    }

    /// Items of `signal` given up on.
    pub fn failed(&self, signal: Signal) -> u64 {
        self.failed_by_signal[signal.index()].load(Ordering::Relaxed)
    }

    /// Adds `other`'s per-signal figures to `into` (sent, failed).
    pub fn add_to(&self, into: &mut [(u64, u64); 3]) {
        for signal in Signal::ALL {
            let slot = &mut into[signal.index()];
            slot.0 += self.sent(signal);
            slot.1 += self.failed(signal);
        }
    }
}

/// How one batch's delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The upstream took it.
    Sent,
    /// Given up on: refused permanently, or retries exhausted. Counted and logged.
    Dropped(String),
    /// Stopped for shutdown before it was sent.
    Stopped,
}

/// Everything one exporter's deliveries share.
pub struct Deliverer {
    /// The exporter id, for logs.
    pub id: String,
    /// The upstream.
    pub sender: Arc<dyn Sender>,
    /// `retry_on_failure`.
    pub retry: RetrySettings,
    /// Counters.
    pub stats: Arc<ExporterStats>,
    causes: Mutex<HashSet<String>>,
}

/// Causes remembered for log-once; past this many, every failure logs at debug only.
const MAX_CAUSES: usize = 64;

impl Deliverer {
    /// A deliverer for exporter `id`.
    pub fn new(id: String, sender: Arc<dyn Sender>, retry: RetrySettings) -> Deliverer {
        Deliverer {
            id,
            sender,
            retry,
            stats: Arc::new(ExporterStats::default()),
            causes: Mutex::new(HashSet::new()),
        }
    }

    /// Sends one batch, retrying per `retry_on_failure` until it is sent, given up on, or
    /// `stop` is cancelled.
    pub async fn deliver(&self, batch: &Batch, stop: &CancellationToken) -> Delivered {
        let mut backoff = self.retry.backoff();
        loop {
            let outcome = tokio::select! {
                biased;
                _ = stop.cancelled() => return Delivered::Stopped,
                outcome = self.sender.send(batch) => outcome,
            };
            match outcome {
                Outcome::Sent { rejected, message } => {
                    self.stats.sent_batches.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .sent_items
                        .fetch_add(batch.items, Ordering::Relaxed);
                    self.stats.sent_by_signal[batch.signal.index()]
                        .fetch_add(batch.items, Ordering::Relaxed);
                    if rejected > 0 {
                        self.stats
                            .rejected_items
                            .fetch_add(rejected, Ordering::Relaxed);
                        self.log_cause(
                            "partial_success",
                            &format!(
                                "upstream rejected {rejected} of {} {}: {message}",
                                batch.items,
                                batch.signal.item_name()
                            ),
                        );
                    }
                    return Delivered::Sent;
                }
                Outcome::Permanent { reason } => {
                    self.stats
                        .failed_items
                        .fetch_add(batch.items, Ordering::Relaxed);
                    self.stats.failed_by_signal[batch.signal.index()]
                        .fetch_add(batch.items, Ordering::Relaxed);
                    self.log_cause(
                        &reason,
                        &format!(
                            "dropped {} {}: the upstream refused them permanently: {reason}",
                            batch.items,
                            batch.signal.item_name()
                        ),
                    );
                    return Delivered::Dropped(reason);
                }
                Outcome::Retry { reason, after } => match backoff.next_delay(after) {
                    Some(delay) => {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        self.log_cause(
                            &reason,
                            &format!("send failed, retrying in {delay:?}: {reason}"),
                        );
                        tokio::select! {
                            biased;
                            _ = stop.cancelled() => return Delivered::Stopped,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                    None => {
                        self.stats
                            .expired_items
                            .fetch_add(batch.items, Ordering::Relaxed);
                        self.stats.failed_by_signal[batch.signal.index()]
                            .fetch_add(batch.items, Ordering::Relaxed);
                        let why = format!("retries exhausted, last error: {reason}");
                        self.log_cause(
                            "retries exhausted",
                            &format!(
                                "dropped {} {}: {why}",
                                batch.items,
                                batch.signal.item_name()
                            ),
                        );
                        return Delivered::Dropped(why);
                    }
                },
            }
        }
    }

    /// Logs at warn the first time a cause is seen for this exporter, at debug after that. The
    /// cause is the reason's first word (`UNAVAILABLE`, `HTTP 503`, ...).
    fn log_cause(&self, reason: &str, message: &str) {
        let cause: String = reason
            .split([':', '('])
            .next()
            .unwrap_or(reason)
            .trim()
            .to_owned();
        let first = {
            let mut causes = self.causes.lock().unwrap_or_else(|p| p.into_inner());
            causes.len() < MAX_CAUSES && causes.insert(cause)
        };
        if first {
            tracing::warn!(exporter = %self.id, "{message} (further failures of this kind are logged at debug)");
        } else {
            tracing::debug!(exporter = %self.id, "{message}");
        }
    }
}

/// Starts `n` consumers taking batches from `queue` until it is closed and drained, or `stop`
/// is cancelled (then an in-flight batch stays un-acked: a persistent queue keeps it).
pub fn spawn_consumers(
    queue: Arc<dyn Queue>,
    deliverer: Arc<Deliverer>,
    n: usize,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    (0..n.max(1))
        .map(|_| {
            let queue = queue.clone();
            let deliverer = deliverer.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let delivery = tokio::select! {
                        biased;
                        _ = stop.cancelled() => break,
                        d = queue.pop() => d,
                    };
                    let Some(delivery) = delivery else { break };
                    match deliverer.deliver(&delivery.batch, &stop).await {
                        Delivered::Sent | Delivered::Dropped(_) => queue.ack(delivery),
                        // Not acked: a persistent queue hands it out again after a restart.
                        Delivered::Stopped => break,
                    }
                }
            })
        })
        .collect()
}

/// How long consumers get to drain a queue at shutdown before in-flight sends are abandoned.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

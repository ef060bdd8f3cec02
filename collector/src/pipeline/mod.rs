//! The graph between receivers and exporters: signals, batches, the contracts of exporters'
//! senders and queues, and the pipelines that connect them.
//!
//! A receiver turns each export request into a [`Batch`]: the request as protobuf bytes (as
//! received, when it arrived as protobuf) plus its item count. A pipeline runs its processors
//! over the batch and hands it to every exporter it lists. A queue-backed exporter (otlp,
//! otlphttp) admits a batch into its own [`Queue`] and a pool of consumers sends it with its
//! [`Sender`], retrying per `retry_on_failure`; the prometheus exporter ingests it into the store at once.
//!
//! Three rules hold everywhere, and the rest of the collector is built around them:
//!
//! * **Nothing acknowledged is dropped silently.** A receiver answers a sender only after every
//!   exporter of every pipeline has taken the batch (into its queue, durably when the queue is on
//!   disk, or into the store). If a queue is full the sender is told to retry (gRPC `UNAVAILABLE`
//!   / HTTP 503 with `Retry-After`). Once accepted, a batch leaves a queue only when it was
//!   delivered, or refused permanently by the upstream, or its retries ran out
//!   (`retry_on_failure.max_elapsed_time`); those last two are counted and logged per cause.
//! * **One slow exporter does not stall another.** Every exporter has its own queue and
//!   consumers. Admission into a pipeline's exporters is all-or-nothing: room is reserved in every
//!   queue first, so a full queue refuses the batch without leaving a copy in the others.
//! * **Bytes pass through untouched when nothing changes them.** Batches carry encoded protobuf;
//!   a pipeline decodes only when a processor (or an exporter that converts or routes) needs the
//!   messages, and re-encodes only when a processor changed them. The prometheus exporter's
//!   store reads the bytes themselves (`crate::decode`).
//!
//! Delivery is at least once: a batch whose send was in flight when the process died is sent
//! again after a restart from a persistent queue.

pub mod batch;
pub mod consumer;
pub mod graph;
pub mod lane;
pub mod memory_queue;
pub mod scan;
#[cfg(test)]
mod tests;
pub mod work;

pub use graph::{Accepted, Entry};
pub use work::Work;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

/// A boxed future, for the object-safe traits here.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// `ExportMetricsServiceRequest`; items are data points.
    Metrics,
    /// `ExportTraceServiceRequest`; items are spans.
    Traces,
    /// `ExportLogsServiceRequest`; items are log records.
    Logs,
}

impl Signal {
    /// All signals, in configuration order.
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Traces, Signal::Logs];

    /// Its position in [`Signal::ALL`], for per-signal arrays.
    pub fn index(self) -> usize {
        match self {
            Signal::Metrics => 0,
            Signal::Traces => 1,
            Signal::Logs => 2,
        }
    }

    /// The name used in configuration (`service.pipelines.<name>`) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    /// What one item of this signal is called, for logs and counters.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Metrics => "metric points",
            Signal::Traces => "spans",
            Signal::Logs => "log records",
        }
    }

    /// The OTLP/HTTP path (`/v1/metrics`, ...).
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    /// The OTLP/gRPC method path.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    /// A stable one-byte tag (persistent queues store it).
    pub fn tag(self) -> u8 {
        match self {
            Signal::Metrics => 1,
            Signal::Traces => 2,
            Signal::Logs => 3,
        }
    }

    /// The signal of a [`Signal::tag`].
    pub fn from_tag(tag: u8) -> Option<Signal> {
        match tag {
            1 => Some(Signal::Metrics),
            2 => Some(Signal::Traces),
            3 => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a pipeline did not take a batch; the receiver tells its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What happened, for the sender and the logs.
    pub reason: String,
    /// When to try again: set for a full queue or an unavailable upstream (gRPC `UNAVAILABLE`,
    /// HTTP 503 with `Retry-After`).
    pub retry_after: Option<Duration>,
    /// The data itself is the problem (gRPC `INVALID_ARGUMENT`, HTTP 400): do not retry.
    pub permanent: bool,
}

impl Refused {
    /// A retryable refusal (full queue, upstream down).
    pub fn unavailable(reason: impl Into<String>, retry_after: Duration) -> Refused {
        Refused {
            reason: reason.into(),
            retry_after: Some(retry_after),
            permanent: false,
        }
    }

    /// A refusal of the data itself.
    pub fn invalid(reason: impl Into<String>) -> Refused {
        Refused {
            reason: reason.into(),
            retry_after: None,
            permanent: true,
        }
    }
}

/// One export request of one signal, encoded as OTLP protobuf
/// (`Export{Metrics,Trace,Logs}ServiceRequest`), with its item count.
///
/// Two encoded requests of one signal concatenated are one valid request holding both (their
/// only top-level field is repeated), which is how the batch processor merges without decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Which signal.
    pub signal: Signal,
    /// The encoded request.
    pub body: Bytes,
    /// Data points, spans or log records in it.
    pub items: u64,
    /// Whose data it is (see [`Tenant`]).
    pub tenant: Tenant,
}

/// The tenant a batch belongs to: the one its sender's credential maps to, or `None` for the
/// implicit tenant (no authentication, or a credential mapped to no tenant). Stores keep each
/// tenant's data apart (see `exporters::prometheus::tenants`); batches of two tenants are never
/// merged.
pub type Tenant = Option<Arc<str>>;

/// What an upstream made of one send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered. `rejected` items were refused by the upstream's `partial_success` (0 when it
    /// took everything), with its message; they are counted and logged, never re-sent.
    Sent {
        /// Items the upstream rejected.
        rejected: u64,
        /// The upstream's `partial_success.error_message` (may be empty).
        message: String,
    },
    /// A failure the OTLP specification says to retry (gRPC `UNAVAILABLE`, `RESOURCE_EXHAUSTED`
    /// with `RetryInfo`, ...; HTTP 429/502/503/504; a connection error or timeout).
    Retry {
        /// What happened, for logs.
        reason: String,
        /// The upstream's `Retry-After` / `RetryInfo.retry_delay`, if it gave one.
        after: Option<Duration>,
    },
    /// A failure that retrying cannot fix (HTTP 400, gRPC `INVALID_ARGUMENT`, ...): the batch is
    /// dropped, counted and logged.
    Permanent {
        /// What happened, for logs. The first words name the cause (`HTTP 400`,
        /// `INVALID_ARGUMENT`), so logs can be rate-limited per cause.
        reason: String,
    },
}

/// Sends batches to one upstream. Implemented by the `otlp` (gRPC) and `otlphttp` exporters.
///
/// Contract: `send` makes exactly one attempt (no retries inside; the consumer retries per
/// `retry_on_failure`), bounded by the exporter's `timeout`, and never panics. It may be called
/// concurrently from several consumers. It classifies the result as an [`Outcome`].
pub trait Sender: Send + Sync + 'static {
    /// One attempt to deliver `batch`.
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Outcome>;
}

/// Room reserved in a queue for one batch, from [`Queue::try_reserve`]. Dropping it unused gives
/// the room back. A queue holds one permit per batch it holds; delivering the batch releases it.
#[derive(Debug)]
pub struct Permit(pub OwnedSemaphorePermit);

/// A batch handed out by [`Queue::pop`], to be given back with [`Queue::ack`] once delivered or
/// given up on.
#[derive(Debug)]
pub struct Delivery {
    /// The batch.
    pub batch: Batch,
    /// The queue's own reference to it (for a file queue, where it lives on disk).
    pub id: u64,
    /// The room it occupies in the queue; released on [`Queue::ack`].
    pub permit: Option<Permit>,
}

/// Why a batch could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue was closed for shutdown.
    #[error("the queue is shutting down")]
    Closed,
    /// A persistent queue could not write.
    #[error("writing to the persistent queue {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// An exporter's sending queue: in memory ([`memory_queue`]) or on disk (`file_storage`).
///
/// Contract:
/// * Capacity is counted in batches (`sending_queue.queue_size`). [`Queue::try_reserve`] never
///   waits: `None` means full, and the receiver tells its sender to retry.
/// * [`Queue::push`] returns once the batch is stored as well as the queue can store it (for a
///   file queue with `fsync`, once it is on disk), and only then may the sender be answered.
/// * [`Queue::pop`] hands batches out in push order, to several consumers at once, and returns
///   `None` once the queue is closed and every batch has been handed out.
/// * A batch handed out but never acked (the process died during the send) is handed out again
///   after a restart by a persistent queue; a memory queue loses it and says so at shutdown.
/// * After [`Queue::close`], `try_reserve` returns `None` and `push` fails with
///   [`QueueError::Closed`].
pub trait Queue: Send + Sync + 'static {
    /// Reserve room for one batch.
    fn try_reserve(&self) -> Option<Permit>;
    /// Store a batch in reserved room.
    fn push(&self, permit: Permit, batch: Batch) -> BoxFuture<'_, Result<(), QueueError>>;
    /// The next batch to deliver, waiting for one; `None` once closed and empty.
    fn pop(&self) -> BoxFuture<'_, Option<Delivery>>;
    /// A delivery is finished (sent, or given up on): forget it and free its room.
    fn ack(&self, delivery: Delivery);
    /// Batches held (queued or in flight).
    fn len(&self) -> usize;
    /// Whether the queue holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Most batches held at once.
    fn capacity(&self) -> usize;
    /// Refuse new batches; `pop` drains what is left, then returns `None`.
    fn close(&self);
}

//! A lane: one sending queue with the consumers that empty it, and its part in shutdown.
//!
//! A forwarding exporter (`otlp`, `otlphttp`) has one lane. An exporter that splits its batches
//! before queueing has several: `prometheusremotewrite` one per shard, so that each series is
//! sent in order by one consumer, `loadbalancing` one per back-end. Shutdown treats every lane
//! alike: close, let the consumers drain until a deadline, stop them, and say what is left (a
//! memory queue's remainder is lost and logged as an error, a persistent queue keeps it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Queue;
use super::consumer::{self, Deliverer};
use super::memory_queue::MemoryQueue;
use crate::extensions::file_storage::{FileQueue, Settings as StorageSettings};

/// How long a lane's consumers get to end once told to stop.
const JOIN_DEADLINE: Duration = Duration::from_secs(5);

/// One queue and its consumers.
pub struct Lane {
    /// For logs: the exporter id, and the lane's name when an exporter has several.
    pub name: String,
    /// The queue.
    pub queue: Arc<dyn Queue>,
    memory: Option<Arc<MemoryQueue>>,
    consumers: Mutex<Vec<JoinHandle<()>>>,
    stop: CancellationToken,
}

/// Where a lane keeps its batches.
pub enum Storage<'a> {
    /// In memory, lost at a crash.
    Memory,
    /// In a file queue named `name` in a `file_storage` directory.
    File {
        /// The storage settings.
        settings: &'a StorageSettings,
        /// The queue's name (its directory inside the storage directory).
        name: &'a str,
    },
}

impl Lane {
    /// Opens a queue of `capacity` batches and starts `consumers` consumers delivering with
    /// `deliverer` until the lane is shut down (`stop` is the exporters' stop token).
    pub fn open(
        name: String,
        storage: Storage<'_>,
        capacity: usize,
        deliverer: Arc<Deliverer>,
        consumers: usize,
        stop: &CancellationToken,
    ) -> Result<Lane, String> {
        let (queue, memory): (Arc<dyn Queue>, _) = match storage {
            Storage::Memory => {
                let q = Arc::new(MemoryQueue::new(capacity));
                (q.clone(), Some(q))
            }
            Storage::File {
                settings,
                name: file,
            } => {
                let (q, recovery) = FileQueue::open(settings, file, capacity)
                    .map_err(|e| format!("opening its persistent queue: {e}"))?;
                tracing::info!(lane = %name, ?recovery, "persistent queue opened");
                (Arc::new(q), None)
            }
        };
        let stop = stop.child_token();
        let tasks = consumer::spawn_consumers(queue.clone(), deliverer, consumers, stop.clone());
        Ok(Lane {
            name,
            queue,
            memory,
            consumers: Mutex::new(tasks),
            stop,
        })
    }

    /// Refuses new batches; the consumers go on with what is queued.
    pub fn close(&self) {
        self.queue.close();
    }

    /// Waits until the consumers have emptied the closed queue, or `deadline`.
    pub async fn drained(&self, deadline: tokio::time::Instant) {
        loop {
            let done = self
                .consumers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .all(JoinHandle::is_finished);
            if done || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the consumers (an in-flight send is abandoned, not acked), logs what is left, and
    /// waits for them to end.
    pub async fn stop(&self) {
        self.stop.cancel();
        let left = self.queue.len();
        if left > 0 {
            match &self.memory {
                Some(memory) => {
                    let (batches, items) = memory.abandoned();
                    tracing::error!(
                        lane = %self.name,
                        "{batches} batches ({items} items) were still queued in memory at \
                         shutdown and are lost; use a persistent queue to keep them"
                    );
                }
                None => tracing::info!(
                    lane = %self.name,
                    "{left} batches stay in the persistent queue and are sent after the next start"
                ),
            }
        }
        let tasks = std::mem::take(&mut *self.consumers.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = tokio::time::timeout(JOIN_DEADLINE, task).await;
        }
    }
}

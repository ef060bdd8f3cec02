//! [`FileQueue`]: an exporter's sending queue kept in segment files, so batches survive a crash.
//!
//! The async side (this file) holds no file handles and never blocks: `push` hands the batch to
//! the writer thread ([`super::writer`]) and waits for its answer; `pop` reads a record back from
//! its segment on the blocking pool; `ack` updates the bookkeeping ([`super::state`]) and leaves
//! the ack file and any deletion to the writer. Only small descriptions of queued records are
//! kept in memory, never their bodies, so memory does not grow with the queue's depth in bytes.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::{Semaphore, oneshot};

use super::config::{Settings, check_directory};
use super::layout::{DirLock, directory_name, segment_path};
use super::recovery::{Recovery, recover};
use super::segment::{self, MAX_BODY};
use super::state::{Append, Command, Queued, Shared, State};
use super::writer::{Start, Writer, sync_dir};
use crate::pipeline::{Batch, BoxFuture, Delivery, Permit, Queue, QueueError};

/// Size past which the writer starts a new segment.
pub const SEGMENT_BYTES: u64 = 16 << 20;

/// A persistent sending queue in `<directory>/<exporter id>/`. See the parent module for the
/// format and the delivery guarantees.
///
/// Dropping the queue stops its writer thread and waits for it (at most the round it is
/// writing, one write and one flush), so the directory can be opened again at once. Batches
/// not yet acked stay on disk for the next start.
pub struct FileQueue {
    shared: Arc<Shared>,
    capacity: usize,
    writer: Option<std::thread::JoinHandle<()>>,
    // Released after the writer thread has exited (fields drop after `Drop::drop`).
    _lock: DirLock,
}

impl std::fmt::Debug for FileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileQueue")
            .field("dir", &self.shared.dir)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl FileQueue {
    /// Opens (creating if needed) the queue of exporter `name` (such as `otlp/vendor`) under
    /// `settings.directory`, recovers what a previous run left, and starts its writer thread.
    ///
    /// Fails if the directory is missing (and `create_directory` is off), cannot be created or
    /// listed, or if this process already has the same queue open. Damaged or foreign files
    /// never make it fail: they are reported in the returned [`Recovery`].
    pub fn open(
        settings: &Settings,
        name: &str,
        capacity: usize,
    ) -> Result<(FileQueue, Recovery), QueueError> {
        Self::open_with_segment_bytes(settings, name, capacity, SEGMENT_BYTES)
    }

    /// [`FileQueue::open`] with another segment size (tests roll segments quickly).
    pub(super) fn open_with_segment_bytes(
        settings: &Settings,
        name: &str,
        capacity: usize,
        segment_bytes: u64,
    ) -> Result<(FileQueue, Recovery), QueueError> {
        let base = &settings.directory;
        let io_error = |path: &Path, source: std::io::Error| QueueError::Io {
            path: path.display().to_string(),
            source,
        };
        check_directory(base, settings.create_directory)
            .map_err(|message| io_error(base, std::io::Error::other(message)))?;
        let dir = base.join(directory_name(name));
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let lock = DirLock::acquire(&dir).map_err(|e| io_error(&dir, e))?;
        if settings.fsync {
            // The queue's directory entry (and its parent's, if just created) must outlive a
            // power loss like the segments in it.
            for d in [base.as_path(), dir.as_path()] {
                sync_dir(d).map_err(|e| io_error(d, e))?;
            }
        }
        let recovered = recover(&dir).map_err(|e| io_error(&dir, e))?;
        let mut report = recovered.report;

        // Recovered batches hold room too. If there are more than fit, the first ones (handed
        // out first) go without a permit, so room opens up only once the queue is below its
        // capacity again.
        let semaphore = Arc::new(Semaphore::new(capacity.min(Semaphore::MAX_PERMITS)));
        report.over_capacity = recovered.pending.len().saturating_sub(capacity);
        if report.over_capacity > 0 {
            tracing::warn!(
                dir = %dir.display(),
                recovered = recovered.pending.len(),
                capacity,
                "persistent queue: recovered more batches than the queue holds; new batches are refused until it drains below its capacity",
            );
        }
        let mut state = State {
            segments: recovered.segments,
            ..State::default()
        };
        for (i, (id, seq, record)) in recovered.pending.into_iter().enumerate() {
            let permit = if i < report.over_capacity {
                None
            } else {
                Arc::clone(&semaphore).try_acquire_owned().ok().map(Permit)
            };
            state.pending.push_back(Queued {
                id,
                seq,
                record,
                permit,
            });
        }
        state.held = state.pending.len();
        if report.batches > 0 {
            tracing::info!(dir = %dir.display(), batches = report.batches, items = report.items, "persistent queue: recovered batches to deliver");
        }

        let (commands, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            state: std::sync::Mutex::new(state),
            notify: tokio::sync::Notify::new(),
            semaphore,
            commands,
        });
        let start = Start {
            next_seq: recovered.next_seq,
            next_id: recovered.next_id,
            live: recovered.live,
        };
        let writer = Writer::new(Arc::clone(&shared), settings.fsync, segment_bytes, start);
        let handle = std::thread::Builder::new()
            .name("vigil-file-queue".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|e| io_error(&dir, e))?;
        let queue = FileQueue {
            shared,
            capacity,
            writer: Some(handle),
            _lock: lock,
        };
        Ok((queue, report))
    }

    /// The queue's directory (`<directory>/<sanitized name>`).
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Forgets delivery `id`: its room is freed, and the writer records the ack and deletes the
    /// segment once it is finished. Commands are sent under the lock so the writer sees every
    /// ack of a segment before its deletion.
    fn finish(&self, id: u64) {
        let mut state = self.shared.lock();
        let Some(finished) = state.finish(id) else {
            drop(state);
            tracing::warn!(id, dir = %self.shared.dir.display(), "persistent queue: ack of an unknown or already acked delivery ignored");
            return;
        };
        // A send fails only once the writer is gone; the ack then waits for the next start.
        let _ = self.shared.commands.send(Command::Ack {
            seq: finished.seq,
            index: finished.index,
        });
        if finished.delete {
            let _ = self
                .shared
                .commands
                .send(Command::Delete { seq: finished.seq });
        }
    }

    /// Takes the next record to hand out, waiting for one; `None` once drained.
    async fn next_queued(&self) -> Option<Queued> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if let Some(queued) = state.pending.pop_front() {
                    return Some(queued);
                }
                if state.drained() {
                    return None;
                }
            }
            notified.await;
        }
    }
}

/// A record taken from the queue and not yet handed out: if the `pop` future is dropped while
/// the record is being read, the record goes back to the front.
struct Taken<'a> {
    queue: &'a FileQueue,
    queued: Option<Queued>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(queued) = self.queued.take() {
            self.queue.shared.lock().pending.push_front(queued);
            self.queue.shared.notify.notify_one();
        }
    }
}

// === impl Queue for FileQueue ===

impl Queue for FileQueue {
    fn try_reserve(&self) -> Option<Permit> {
        Arc::clone(&self.shared.semaphore)
            .try_acquire_owned()
            .ok()
            .map(Permit)
    }

    fn push(&self, permit: Permit, batch: Batch) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            if batch.body.len() > MAX_BODY as usize {
                return Err(QueueError::Io {
                    path: self.shared.dir.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "a batch of {} bytes exceeds the record limit of {MAX_BODY}",
                            batch.body.len()
                        ),
                    ),
                });
            }
            let (reply, answer) = oneshot::channel();
            {
                let mut state = self.shared.lock();
                if state.closed {
                    return Err(QueueError::Closed);
                }
                let command = Command::Append(Append {
                    batch,
                    permit,
                    reply,
                });
                if self.shared.commands.send(command).is_err() {
                    return Err(writer_gone(&self.shared.dir));
                }
                state.writing += 1;
            }
            answer
                .await
                .unwrap_or_else(|_| Err(writer_gone(&self.shared.dir)))
        })
    }

    fn pop(&self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                let queued = self.next_queued().await?;
                let path = segment_path(&self.shared.dir, queued.seq);
                let record = queued.record;
                let mut taken = Taken {
                    queue: self,
                    queued: Some(queued),
                };
                let read = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || segment::read(&path, &record)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                let Some(queued) = taken.queued.take() else {
                    continue;
                };
                match read {
                    Ok(body) => {
                        let batch = Batch {
                            signal: record.signal,
                            body,
                            items: record.items,
                            tenant: None,
                        };
                        return Some(Delivery {
                            batch,
                            id: queued.id,
                            permit: queued.permit,
                        });
                    }
                    Err(e) => {
                        // The record was stored intact (its checksum was checked when it was
                        // scanned or written), so this is the disk failing under us. Reading
                        // again will not help; drop it loudly rather than block the queue.
                        tracing::error!(
                            path = %path.display(),
                            offset = record.offset,
                            items = record.items,
                            signal = %record.signal,
                            error = %e,
                            "persistent queue: a stored batch cannot be read back; dropping it",
                        );
                        self.finish(queued.id);
                    }
                }
            }
        })
    }

    fn ack(&self, delivery: Delivery) {
        self.finish(delivery.id);
    }

    fn len(&self) -> usize {
        self.shared.lock().held
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.semaphore.close();
        self.shared.notify.notify_waiters();
    }
}

impl Drop for FileQueue {
    fn drop(&mut self) {
        let _ = self.shared.commands.send(Command::Stop);
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

fn writer_gone(dir: &Path) -> QueueError {
    QueueError::Io {
        path: dir.display().to_string(),
        source: std::io::Error::other("the queue's writer thread has stopped"),
    }
}

//! The in-memory sending queue (`sending_queue` without `storage`): bounded, in push order,
//! lost on a crash. The persistent alternative is `extensions::file_storage`.
//!
//! Capacity is a semaphore of `queue_size` permits: a permit is taken by
//! [`Queue::try_reserve`] before anything is pushed, travels with the batch, and is released
//! by [`Queue::ack`]. What is still queued when the process stops is counted and reported by
//! [`MemoryQueue::abandoned`], never dropped without a word.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Notify, Semaphore};

use super::{Batch, BoxFuture, Delivery, Permit, Queue, QueueError};

/// A bounded queue in memory.
pub struct MemoryQueue {
    items: Mutex<VecDeque<(Batch, Permit)>>,
    room: Arc<Semaphore>,
    capacity: usize,
    ready: Notify,
    closed: AtomicBool,
    next_id: AtomicU64,
}

impl MemoryQueue {
    /// A queue holding at most `capacity` batches (at least 1).
    pub fn new(capacity: usize) -> MemoryQueue {
        let capacity = capacity.max(1);
        MemoryQueue {
            items: Mutex::new(VecDeque::new()),
            room: Arc::new(Semaphore::new(capacity)),
            capacity,
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
        }
    }

    /// Batches and items still queued (not yet handed out): what a stop now would lose.
    pub fn abandoned(&self) -> (usize, u64) {
        let items = self.lock();
        (items.len(), items.iter().map(|(b, _)| b.items).sum())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Batch, Permit)>> {
        // A panic while holding this lock cannot leave the deque half-updated (push_back and
        // pop_front are atomic with respect to unwinding), so a poisoned lock is still usable.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Queue for MemoryQueue {
    fn try_reserve(&self) -> Option<Permit> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.room.clone().try_acquire_owned().ok().map(Permit)
    }

    fn push(&self, permit: Permit, batch: Batch) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::Acquire) {
                return Err(QueueError::Closed);
            }
            self.lock().push_back((batch, permit));
            self.ready.notify_one();
            Ok(())
        })
    }

    fn pop(&self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                let notified = self.ready.notified();
                tokio::pin!(notified);
                // Register before checking, so a push between the check and the wait wakes us.
                notified.as_mut().enable();
                if let Some((batch, permit)) = self.lock().pop_front() {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    // Another consumer may be waiting for the next batch.
                    self.ready.notify_one();
                    return Some(Delivery {
                        batch,
                        id,
                        permit: Some(permit),
                    });
                }
                if self.closed.load(Ordering::Acquire) {
                    self.ready.notify_waiters();
                    return None;
                }
                notified.await;
            }
        })
    }

    fn ack(&self, delivery: Delivery) {
        drop(delivery);
    }

    fn len(&self) -> usize {
        self.capacity - self.room.available_permits()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::pipeline::Signal;

    fn batch(n: u8) -> Batch {
        Batch {
            signal: Signal::Logs,
            body: Bytes::from(vec![n]),
            items: u64::from(n),
            tenant: None,
        }
    }

    #[tokio::test]
    async fn hands_out_in_push_order_and_frees_room_on_ack() {
        let q = MemoryQueue::new(2);
        for n in [1, 2] {
            let permit = q.try_reserve().unwrap();
            q.push(permit, batch(n)).await.unwrap();
        }
        assert!(q.try_reserve().is_none(), "full at capacity");
        assert_eq!(q.len(), 2);
        let first = q.pop().await.unwrap();
        assert_eq!(first.batch, batch(1));
        assert!(q.try_reserve().is_none(), "in flight still holds room");
        q.ack(first);
        assert!(q.try_reserve().is_some());
        assert_eq!(q.pop().await.unwrap().batch, batch(2));
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_push_and_ends_on_close() {
        let q = Arc::new(MemoryQueue::new(4));
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(d) = q.pop().await {
                    got.push(d.batch.items);
                    q.ack(d);
                }
                got
            })
        };
        tokio::task::yield_now().await;
        for n in [3, 4, 5] {
            let permit = q.try_reserve().unwrap();
            q.push(permit, batch(n)).await.unwrap();
        }
        q.close();
        assert!(q.try_reserve().is_none());
        assert_eq!(consumer.await.unwrap(), vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn abandoned_counts_what_was_never_handed_out() {
        let q = MemoryQueue::new(4);
        for n in [2, 5] {
            let permit = q.try_reserve().unwrap();
            q.push(permit, batch(n)).await.unwrap();
        }
        q.close();
        assert_eq!(q.abandoned(), (2, 7));
        let permit = Permit(Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap());
        assert!(matches!(
            q.push(permit, batch(1)).await,
            Err(QueueError::Closed)
        ));
    }
}

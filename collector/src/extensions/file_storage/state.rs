//! The bookkeeping a file queue's async side and its writer thread share: which records are
//! queued, which are acked, which segments may be deleted.
//!
//! Everything here is in memory and cheap (a few words per record, no bodies), guarded by one
//! mutex that is never held across an `.await` or a file operation. The files themselves belong
//! to the writer thread ([`super::writer`]); this module only decides, under the lock, when a
//! segment is finished, so that exactly one party asks for its deletion.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, Semaphore, oneshot};

use super::segment::Record;
use crate::pipeline::{Batch, Permit, QueueError};

/// What the async side and the writer thread share.
pub(super) struct Shared {
    /// The queue's directory.
    pub(super) dir: PathBuf,
    /// The bookkeeping.
    pub(super) state: Mutex<State>,
    /// Wakes `pop`s waiting for a record (or for the queue to finish).
    pub(super) notify: Notify,
    /// One permit per batch of capacity.
    pub(super) semaphore: Arc<Semaphore>,
    /// Work for the writer thread.
    pub(super) commands: mpsc::Sender<Command>,
}

impl Shared {
    /// Locks the bookkeeping. A panic while it was held cannot leave it half-updated in a way
    /// that matters more than refusing service would, so poisoning is ignored.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Work for the writer thread.
pub(super) enum Command {
    /// Write a batch; answer once it is written (and flushed, under `fsync`).
    Append(Append),
    /// Record that a segment's record was acked.
    Ack {
        /// The segment.
        seq: u64,
        /// The record's index in it.
        index: u32,
    },
    /// Every record of a sealed segment is acked: delete its files.
    Delete {
        /// The segment.
        seq: u64,
    },
    /// Finish what was sent before, then exit.
    Stop,
}

/// A batch to write.
pub(super) struct Append {
    /// The batch.
    pub(super) batch: Batch,
    /// Its room in the queue, held from now until the batch is acked.
    pub(super) permit: Permit,
    /// Answered once the batch is stored.
    pub(super) reply: oneshot::Sender<Result<(), QueueError>>,
}

/// A record waiting to be handed out.
#[derive(Debug)]
pub(super) struct Queued {
    /// The delivery id: the segment's first id plus the record's index.
    pub(super) id: u64,
    /// The segment holding it.
    pub(super) seq: u64,
    /// Where it is in the segment.
    pub(super) record: Record,
    /// Its room in the queue (`None` for recovered batches beyond the capacity).
    pub(super) permit: Option<Permit>,
}

/// One segment's acks.
#[derive(Debug)]
pub(super) struct SegmentState {
    /// The segment's sequence number (its file name).
    pub(super) seq: u64,
    /// Records in it (registered ones).
    pub(super) count: u32,
    /// Records acked.
    pub(super) acked: u32,
    /// One bit per record, set once acked.
    pub(super) bits: Vec<u64>,
    /// No more records will be written to it (the writer moved on, or it was recovered).
    pub(super) sealed: bool,
}

impl SegmentState {
    /// A segment with no records yet.
    pub(super) fn new(seq: u64, sealed: bool) -> Self {
        SegmentState {
            seq,
            count: 0,
            acked: 0,
            bits: Vec::new(),
            sealed,
        }
    }

    /// Whether record `index` is acked.
    pub(super) fn is_acked(&self, index: u32) -> bool {
        let (word, bit) = (index as usize / 64, index % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Marks record `index` acked; `false` if it already was.
    pub(super) fn set_acked(&mut self, index: u32) -> bool {
        let (word, bit) = (index as usize / 64, index % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let fresh = self.bits[word] & (1 << bit) == 0;
        if fresh {
            self.bits[word] |= 1 << bit;
            self.acked += 1;
        }
        fresh
    }

    fn finished(&self) -> bool {
        self.sealed && self.acked >= self.count
    }
}

/// What an ack changed.
pub(super) struct Finished {
    /// The record's segment.
    pub(super) seq: u64,
    /// The record's index in it.
    pub(super) index: u32,
    /// The segment is now sealed and fully acked: delete it.
    pub(super) delete: bool,
}

/// The bookkeeping.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Segments holding records not yet acked, by the id of their first record.
    pub(super) segments: BTreeMap<u64, SegmentState>,
    /// Records to hand out, in order.
    pub(super) pending: VecDeque<Queued>,
    /// Batches held: queued or handed out and not yet acked.
    pub(super) held: usize,
    /// Pushes sent to the writer and not yet answered.
    pub(super) writing: usize,
    /// `close` was called.
    pub(super) closed: bool,
    /// The writer thread exited: nothing more will be written.
    pub(super) writer_gone: bool,
}

impl State {
    /// Whether `pop` should give up: closed, nothing queued, nothing on its way.
    pub(super) fn drained(&self) -> bool {
        self.closed && self.pending.is_empty() && (self.writing == 0 || self.writer_gone)
    }

    /// The writer stored record `index` of segment `seq` (whose first record has id `first_id`).
    pub(super) fn register(
        &mut self,
        seq: u64,
        first_id: u64,
        index: u32,
        record: Record,
        permit: Permit,
    ) {
        let segment = self
            .segments
            .entry(first_id)
            .or_insert_with(|| SegmentState::new(seq, false));
        segment.count = segment.count.max(index.saturating_add(1));
        self.pending.push_back(Queued {
            id: first_id + u64::from(index),
            seq,
            record,
            permit: Some(permit),
        });
        self.held += 1;
    }

    /// A delivery is done with. `None` if `id` is unknown or was already acked.
    pub(super) fn finish(&mut self, id: u64) -> Option<Finished> {
        let (&first_id, segment) = self.segments.range_mut(..=id).next_back()?;
        let index = u32::try_from(id - first_id).ok()?;
        if index >= segment.count || !segment.set_acked(index) {
            return None;
        }
        self.held = self.held.saturating_sub(1);
        let seq = segment.seq;
        let delete = segment.finished();
        if delete {
            self.segments.remove(&first_id);
        }
        Some(Finished { seq, index, delete })
    }

    /// The writer will write no more to segment `seq`. Returns whether its files can be deleted
    /// now (all its records acked, or none registered).
    pub(super) fn seal(&mut self, seq: u64) -> bool {
        let found = self
            .segments
            .iter_mut()
            .rev()
            .find(|(_, segment)| segment.seq == seq);
        let Some((&first_id, segment)) = found else {
            return true;
        };
        segment.sealed = true;
        if segment.finished() {
            self.segments.remove(&first_id);
            return true;
        }
        false
    }
}

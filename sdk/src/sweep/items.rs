//! What a run hands back: item counts by outcome, and the batches it took
//! from a backlog ([`BatchCap`]).

use std::fmt;
use std::marker::PhantomData;

use crate::labels::Label;

// === impl Items ===

/// Item counts by outcome, returned by each run.
#[derive(Clone, PartialEq, Eq)]
pub struct Items<O: Label> {
    pub(super) counts: Vec<u64>,
    pub(super) backlog: Option<u64>,
    pub(super) capped: bool,
    _outcome: PhantomData<O>,
}

impl<O: Label> Default for Items<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O: Label> fmt::Debug for Items<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for outcome in O::VALUES {
            map.entry(&outcome.as_str(), &self.get(*outcome));
        }
        map.finish()
    }
}

impl<O: Label> Items<O> {
    /// No items.
    pub fn new() -> Self {
        Items {
            counts: vec![0; O::VALUES.len()],
            backlog: None,
            capped: false,
            _outcome: PhantomData,
        }
    }

    /// Count `n` more items with `outcome`.
    pub fn add(&mut self, outcome: O, n: u64) {
        if let Some(c) = self.counts.get_mut(outcome.index()) {
            *c = c.saturating_add(n);
        }
    }

    /// [`Items::add`], by value: `Items::new().with(Gc::Acked, 3)`.
    #[must_use]
    pub fn with(mut self, outcome: O, n: u64) -> Self {
        self.add(outcome, n);
        self
    }

    /// Items counted with `outcome`.
    pub fn get(&self, outcome: O) -> u64 {
        self.counts.get(outcome.index()).copied().unwrap_or(0)
    }

    /// Items counted, all outcomes together.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// Note a batch this run took from a backlog: a known remainder adds to
    /// the `backlog` gauge; a batch that stopped at its cap with more left
    /// counts the run as `capped`. Call once per batch (a run may drain
    /// several backlogs).
    pub fn record_batch(&mut self, batch: Batch) {
        if let Some(remaining) = batch.remaining {
            self.backlog = Some(self.backlog.unwrap_or(0).saturating_add(remaining));
        }
        self.capped |= batch.has_more();
    }

    /// The backlog left after this run, if any batch knew it.
    pub fn backlog(&self) -> Option<u64> {
        self.backlog
    }

    /// Whether a batch stopped at its cap with more left.
    pub fn is_capped(&self) -> bool {
        self.capped
    }
}

// === impl BatchCap ===

/// The most items a sweep takes from a backlog per run, so one tick stays
/// short and a large backlog drains over several ticks.
///
/// With a known backlog, [`BatchCap::take`] says how many to process now;
/// with a query bounded by `LIMIT cap.limit()`, [`BatchCap::after`] reads
/// the number of rows it touched. Either way, hand the [`Batch`] to
/// [`Items::record_batch`] so the sweeper reports what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchCap {
    limit: u64,
}

/// One run's slice of a backlog; see [`BatchCap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    take: u64,
    remaining: Option<u64>,
    full: bool,
}

impl BatchCap {
    /// At most `max_per_tick` items per run; 0 is taken as 1 so a backlog
    /// always drains.
    pub const fn new(max_per_tick: u64) -> Self {
        BatchCap {
            limit: if max_per_tick == 0 { 1 } else { max_per_tick },
        }
    }

    /// The cap, e.g. for a query's `LIMIT`.
    pub const fn limit(self) -> u64 {
        self.limit
    }

    /// Out of a backlog of `backlog` items, the batch to process this run.
    pub fn take(self, backlog: u64) -> Batch {
        let take = backlog.min(self.limit);
        Batch {
            take,
            remaining: Some(backlog - take),
            full: take == self.limit,
        }
    }

    /// The batch of a run that processed `processed` items with a query
    /// bounded by [`BatchCap::limit`]: if it came back full, more may remain.
    pub fn after(self, processed: u64) -> Batch {
        Batch {
            take: processed.min(self.limit),
            remaining: None,
            full: processed >= self.limit,
        }
    }
}

impl Batch {
    /// Items to process (or processed) in this run.
    pub fn take(&self) -> u64 {
        self.take
    }

    /// Items left for later runs, when the backlog was known.
    pub fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    /// Whether items are (or may be) left for later runs.
    pub fn has_more(&self) -> bool {
        match self.remaining {
            Some(n) => n > 0,
            None => self.full,
        }
    }
}

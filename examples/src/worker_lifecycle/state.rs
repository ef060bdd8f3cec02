//! A worker's phase, the pool's totals and leadership changes.

#[allow(unused_imports)]
use super::*;

// === Pool ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Spawning { started: u64, ready_at: u64 },
    Idle,
    Active { until: u64 },
    Draining { started: u64, done_at: u64 },
}

#[derive(Clone, Debug)]
pub(super) struct Worker {
    pub(super) image: Image,
    pub(super) phase: Phase,
    pub(super) binding: Binding,
    /// What started the operation in flight (the `origin` it is counted with).
    pub(super) origin: &'static str,
    pub(super) health_failures: u32,
}

impl Worker {
    pub(super) fn state(&self) -> State {
        match self.phase {
            Phase::Spawning { .. } => State::Spawning,
            Phase::Idle => State::Idle,
            Phase::Active { .. } => State::Active,
            Phase::Draining { .. } => State::Draining,
        }
    }
}

/// Totals since start, for the example's status lines and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Transitions by [`Op`] index and [`Outcome`] index.
    pub transitions: [[u64; 3]; 4],
    /// Sessions that found no warm worker.
    pub misses: u64,
    /// Health checks that failed.
    pub health_failures: u64,
    /// Stranded pods deleted.
    pub reconciled: u64,
    /// Leadership losses.
    pub leadership_losses: u64,
}

impl Totals {
    /// Transitions of `op` that ended with `outcome`.
    pub fn count(&self, op: Op, outcome: Outcome) -> u64 {
        self.transitions
            .get(op.index())
            .and_then(|o| o.get(outcome.index()))
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn bump(&mut self, op: Op, outcome: Outcome) {
        if let Some(n) = self
            .transitions
            .get_mut(op.index())
            .and_then(|o| o.get_mut(outcome.index()))
        {
            *n += 1;
        }
    }
}

/// A leadership change seen by [`Pool::tick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// This replica lost the lease: leader-only figures were reset.
    Lost,
    /// This replica leads again: leader-only figures were republished.
    Regained,
}

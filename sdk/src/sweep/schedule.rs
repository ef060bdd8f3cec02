//! When the next run starts: the interval plus a random jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

pub(super) struct Schedule {
    interval: Duration,
    jitter: Jitter,
}

impl Schedule {
    pub(super) fn new(name: &str, interval: Duration, jitter: Duration) -> Self {
        Schedule {
            interval,
            jitter: Jitter::new(seed(name), jitter),
        }
    }

    pub(super) fn next_delay(&mut self) -> Duration {
        self.interval.saturating_add(self.jitter.next())
    }
}

/// Uniform delays in `[0, max]` from an xorshift64* generator: no `rand`
/// dependency for one number per tick.
pub(super) struct Jitter {
    state: u64,
    max: Duration,
}

/// A seed that differs per process: a seed from the name alone would give
/// every replica the same delays, which is what jitter is there to avoid.
pub(super) fn seed(name: &str) -> u64 {
    RandomState::new().hash_one(name)
}

impl Jitter {
    pub(super) fn new(seed: u64, max: Duration) -> Self {
        // xorshift is stuck at 0.
        Jitter {
            state: seed | 1,
            max,
        }
    }

    pub(super) fn next(&mut self) -> Duration {
        let max = u64::try_from(self.max.as_nanos()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Duration::from_nanos(match max.checked_add(1) {
            Some(span) => r % span,
            None => r,
        })
    }
}

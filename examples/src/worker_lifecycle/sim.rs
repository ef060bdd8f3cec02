//! The model's chance and leadership: a seeded PRNG and a leader-election stand-in, so the same
//! seed always records the same measurements.

#[allow(unused_imports)]
use super::*;

// === PRNG ===

/// xorshift64: small, seedable, and the same on every platform, which is all
/// a fault injector needs (no `rand` crate).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`; 0 (xorshift's fixed point) is replaced.
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi.saturating_sub(lo)).checked_add(1) {
            Some(span) if hi >= lo => lo + self.next_u64() % span,
            _ => lo,
        }
    }

    /// One of a label's values.
    pub fn pick<L: Label>(&mut self) -> L {
        let i = self.between(0, L::VALUES.len().saturating_sub(1) as u64) as usize;
        L::VALUES.get(i).copied().unwrap_or_else(|| L::VALUES[0])
    }
}

// === Leader election stand-in ===

/// A stand-in for a leader-election lease: this replica leads from the
/// start, loses the lease at tick `first_loss` for `outage` ticks, and again
/// every `period` ticks after that.
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    /// Tick of the first loss.
    pub first_loss: u64,
    /// Ticks without the lease each time.
    pub outage: u64,
    /// Ticks between losses.
    pub period: u64,
}

impl Lease {
    /// Lost at 3 s for 1 s, then every minute: once in an 8 s short run.
    pub const EXAMPLE: Lease = Lease {
        first_loss: 30,
        outage: 10,
        period: 600,
    };

    /// Whether this replica leads at `tick`.
    pub fn is_leader(&self, tick: u64) -> bool {
        match tick.checked_sub(self.first_loss) {
            None => true,
            Some(since) => since % self.period.max(1) >= self.outage,
        }
    }
}

//! A small deterministic pseudo-random source (xorshift64*) and a slow wave,
//! for the demo's varying values.
//!
//! The demo needs values that move, so the dashboard looks alive, but no
//! statistical quality and no extra dependency. A fixed seed makes each run
//! draw the same sequence, which helps when reading a failed test; the
//! wave makes rates rise and fall over a minute or so instead of jittering
//! around one level.

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators, scrambled", 2016): three shifts and a multiply.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (a zero state would stay zero, so the low bit is set).
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo).saturating_add(1);
        lo + self.next_u64() % span
    }

    /// An index into a slice of `len` items (0 when empty).
    pub(super) fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            (self.next_u64() % len as u64) as usize
        }
    }
}

/// Between 0 and 1, rising and falling once every `period` ticks.
pub(super) fn wave(tick: u64, period: u64) -> f64 {
    let phase = (tick % period.max(1)) as f64 / period.max(1) as f64;
    0.5 - 0.5 * (phase * std::f64::consts::TAU).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_ranges_and_repeat_with_the_seed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.range(3, 9);
            assert!((3..=9).contains(&x));
            assert_eq!(x, b.range(3, 9));
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            b.unit();
            assert!(a.index(4) < 4);
            b.index(4);
        }
        assert_eq!(a.range(5, 1), 5, "an empty range gives its start");
        assert_eq!(a.index(0), 0);
        assert_eq!(
            Rng::new(0).next_u64(),
            Rng::new(1).next_u64(),
            "zero seed is usable"
        );
    }

    #[test]
    fn the_wave_starts_low_peaks_midway_and_stays_in_unit_range() {
        assert_eq!(wave(0, 60), 0.0);
        assert!((wave(30, 60) - 1.0).abs() < 1e-12);
        assert_eq!(wave(60, 60), 0.0);
        assert_eq!(wave(5, 0), 0.0, "a zero period does not divide by zero");
        assert!((0..200).all(|t| (0.0..=1.0).contains(&wave(t, 37))));
    }
}

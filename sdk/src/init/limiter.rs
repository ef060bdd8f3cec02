//! [`Limiter`]: decides which repeated warnings are logged, per cause.
//!
//! An exporter pointed at a dead collector fails on every export (every
//! 60 s for metrics, every few seconds for spans) for as long as the
//! process runs. One warning per failure floods the application's log; none
//! hides the problem until shutdown. The policy here: the first failure of a
//! cause is logged at once; the same cause is then logged at most once per
//! window (60 s in production), and that line says how many failures were
//! left out since the previous one. Causes are compared by key (signal and
//! `error.type`, a short bounded set), so a new kind of failure is logged at
//! once even while another is being suppressed.
//!
//! The limiter keeps no clock of its own: callers pass `now`, so tests drive
//! it deterministically. It holds at most `capacity` causes; a new cause past
//! that evicts the one logged longest ago (its suppressed count is lost).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What to do with one occurrence of a cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it, saying how many occurrences since the last line were not logged.
    Log {
        /// Occurrences of this cause left out since it was last logged.
        suppressed: u64,
    },
    /// Do not log it; it is counted for the next line.
    Suppress,
}

#[derive(Debug)]
struct Entry {
    last_logged: Instant,
    suppressed: u64,
}

/// Per-cause rate limit: first occurrence at once, then one per window.
#[derive(Debug)]
pub(crate) struct Limiter<K> {
    window: Duration,
    capacity: usize,
    causes: HashMap<K, Entry>,
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    /// A limiter logging each cause at most once per `window`, remembering
    /// at most `capacity` causes (at least one).
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Limiter {
            window,
            capacity: capacity.max(1),
            causes: HashMap::new(),
        }
    }

    /// Records one occurrence of `cause` at `now` and says whether to log it.
    pub(crate) fn check(&mut self, cause: K, now: Instant) -> Verdict {
        if let Some(entry) = self.causes.get_mut(&cause) {
            if now.saturating_duration_since(entry.last_logged) < self.window {
                entry.suppressed += 1;
                return Verdict::Suppress;
            }
            let suppressed = std::mem::take(&mut entry.suppressed);
            entry.last_logged = now;
            return Verdict::Log { suppressed };
        }
        if self.causes.len() >= self.capacity {
            self.evict_oldest();
        }
        self.causes.insert(
            cause,
            Entry {
                last_logged: now,
                suppressed: 0,
            },
        );
        Verdict::Log { suppressed: 0 }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .causes
            .iter()
            .min_by_key(|(_, entry)| entry.last_logged)
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            self.causes.remove(&oldest);
        }
    }

    /// Number of causes remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.causes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// Seconds since a fixed start: the injected clock.
    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn logs_the_first_occurrence_then_one_per_window_with_the_count_left_out() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(MINUTE, 8);
        let verdicts: Vec<Verdict> = [0, 1, 5, 59, 60, 61, 119, 130]
            .iter()
            .map(|&s| limiter.check("UNAVAILABLE", at(t0, s)))
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Log { suppressed: 0 },
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Log { suppressed: 3 },
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Log { suppressed: 2 },
            ]
        );
    }

    #[test]
    fn each_cause_has_its_own_window() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(MINUTE, 8);
        assert_eq!(
            limiter.check("timeout", at(t0, 0)),
            Verdict::Log { suppressed: 0 }
        );
        assert_eq!(limiter.check("timeout", at(t0, 10)), Verdict::Suppress);
        // A new cause is logged at once, whatever the others do.
        assert_eq!(
            limiter.check("UNAUTHENTICATED", at(t0, 11)),
            Verdict::Log { suppressed: 0 }
        );
        assert_eq!(
            limiter.check("UNAUTHENTICATED", at(t0, 12)),
            Verdict::Suppress
        );
        assert_eq!(
            limiter.check("timeout", at(t0, 60)),
            Verdict::Log { suppressed: 1 }
        );
        assert_eq!(
            limiter.check("UNAUTHENTICATED", at(t0, 71)),
            Verdict::Log { suppressed: 1 }
        );
    }

    #[test]
    fn memory_is_bounded_by_evicting_the_cause_logged_longest_ago() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(MINUTE, 2);
        limiter.check("a", at(t0, 0));
        limiter.check("b", at(t0, 1));
        limiter.check("c", at(t0, 2)); // evicts "a"
        assert_eq!(limiter.len(), 2);
        // "a" is new again: logged at once.
        assert_eq!(
            limiter.check("a", at(t0, 3)),
            Verdict::Log { suppressed: 0 }
        );
        // "b" was evicted by "a"; "c" is still limited.
        assert_eq!(limiter.check("c", at(t0, 4)), Verdict::Suppress);
        assert_eq!(
            limiter.check("b", at(t0, 5)),
            Verdict::Log { suppressed: 0 }
        );
    }

    #[test]
    fn a_clock_that_goes_backwards_suppresses_instead_of_panicking() {
        let t0 = Instant::now() + MINUTE;
        let mut limiter = Limiter::new(MINUTE, 1);
        limiter.check("x", t0);
        assert_eq!(limiter.check("x", t0 - MINUTE), Verdict::Suppress);
    }
}

//! Warnings that cannot flood the log: one line per cause per interval.
//!
//! A sender that retries a refused batch every second would otherwise write a warning every
//! second, and a hostile one could vary the text to fill the disk. Every refusal is still
//! logged at debug; at warn, each cause speaks at most once per [`LogLimit::EVERY`], and the
//! number of causes remembered is bounded ([`LogLimit::MAX_CAUSES`]): past it, new causes
//! are only logged at debug.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers when each cause last warned.
#[derive(Debug, Default)]
pub struct LogLimit {
    last: Mutex<HashMap<String, Instant>>,
}

impl LogLimit {
    /// One warning per cause per minute.
    pub const EVERY: Duration = Duration::from_secs(60);
    /// Causes remembered at most.
    pub const MAX_CAUSES: usize = 64;

    /// Whether `cause` may warn now (and if so, it may not again for [`LogLimit::EVERY`]).
    pub fn allow(&self, cause: &str) -> bool {
        self.allow_at(cause, Instant::now())
    }

    fn allow_at(&self, cause: &str, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let full = last.len() >= Self::MAX_CAUSES;
        match last.get_mut(cause) {
            Some(at) if now.saturating_duration_since(*at) < Self::EVERY => false,
            Some(at) => {
                *at = now;
                true
            }
            None if full => false,
            None => {
                last.insert(cause.to_owned(), now);
                true
            }
        }
    }
}

/// The cause of a refusal reason: its text up to the first `:` or `(`, so that figures and
/// ids later in the text do not make every refusal a new cause.
pub fn cause(reason: &str) -> &str {
    reason
        .split([':', '(', ';'])
        .next()
        .unwrap_or(reason)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_cause_per_interval_and_a_bounded_memory() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert!(limit.allow_at("queue full", t0));
        assert!(!limit.allow_at("queue full", t0 + Duration::from_secs(59)));
        assert!(limit.allow_at("malformed", t0 + Duration::from_secs(1)));
        assert!(limit.allow_at("queue full", t0 + Duration::from_secs(60)));
        for i in 0..LogLimit::MAX_CAUSES {
            limit.allow_at(&format!("cause {i}"), t0);
        }
        assert_eq!(limit.last.lock().unwrap().len(), LogLimit::MAX_CAUSES);
        assert!(!limit.allow_at("one more", t0));
    }

    #[test]
    fn the_cause_is_the_text_before_the_details() {
        assert_eq!(
            cause("exporter otlp's sending queue is full (4 batches); pipeline metrics refuses"),
            "exporter otlp's sending queue is full"
        );
        assert_eq!(
            cause("malformed protobuf: invalid wire type"),
            "malformed protobuf"
        );
        assert_eq!(cause("plain"), "plain");
    }
}

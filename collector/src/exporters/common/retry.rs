//! The `retry_on_failure` keys (the OpenTelemetry Collector's `configretry`) and the exponential
//! backoff they describe.
//!
//! A failed send (an [`crate::pipeline::Outcome::Retry`]) is tried again after a delay that
//! starts at `initial_interval` and grows by `multiplier` per attempt up to `max_interval`, each
//! delay spread by ±`randomization_factor` so that many consumers failing together do not retry
//! together. A batch is given up once the next attempt would start later than `max_elapsed_time`
//! after the first one (0: never given up). This is how `exporterhelper`'s retry sender behaves.
//!
//! An upstream's own hint (HTTP `Retry-After`, gRPC `RetryInfo.retry_delay`) is honoured: the
//! delay is the larger of the hint and the backoff, so a server asking for more patience gets it
//! and one asking for less does not make us hammer it. Unlike the Collector, a hint is capped at
//! [`MAX_SERVER_HINT`], because with `max_elapsed_time: 0` nothing else bounds it and a broken
//! `Retry-After` (a date a year away) would stall the queue.
//!
//! Deliberately not here: the loop that sleeps and re-sends (the queue consumer owns it).

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::GoDuration;

/// The longest server hint honoured; longer ones are shortened to it.
pub const MAX_SERVER_HINT: Duration = Duration::from_secs(5 * 60);

/// The `retry_on_failure` keys as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Whether failed sends are retried at all (default true).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// The first delay (default `5s`).
    #[serde(default = "default_initial_interval")]
    pub initial_interval: GoDuration,
    /// How much each delay is spread either way, 0 to 1 (default 0.5: ±50%).
    #[serde(default = "default_randomization_factor")]
    pub randomization_factor: f64,
    /// How much the delay grows per attempt, at least 1 (default 1.5).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// The longest delay before spreading (default `30s`).
    #[serde(default = "default_max_interval")]
    pub max_interval: GoDuration,
    /// How long after the first attempt a batch is given up (default `300s`; `0` never).
    #[serde(default = "default_max_elapsed_time")]
    pub max_elapsed_time: GoDuration,
}

fn enabled() -> bool {
    true
}
fn default_initial_interval() -> GoDuration {
    GoDuration::new("5s")
}
fn default_randomization_factor() -> f64 {
    0.5
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_max_interval() -> GoDuration {
    GoDuration::new("30s")
}
fn default_max_elapsed_time() -> GoDuration {
    GoDuration::new("300s")
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            enabled: enabled(),
            initial_interval: default_initial_interval(),
            randomization_factor: default_randomization_factor(),
            multiplier: default_multiplier(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

/// Validated `retry_on_failure`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetrySettings {
    /// Whether failed sends are retried; when false [`Backoff::next_delay`] is always `None`.
    pub enabled: bool,
    /// The first delay, before spreading.
    pub initial_interval: Duration,
    /// Each delay is spread uniformly over ±this fraction of itself.
    pub randomization_factor: f64,
    /// Growth per attempt.
    pub multiplier: f64,
    /// The longest delay before spreading.
    pub max_interval: Duration,
    /// Give up once the next attempt would start this long after the first; `None`: never.
    pub max_elapsed_time: Option<Duration>,
}

impl RetryConfig {
    /// Parses and checks the keys (only when `enabled`, as the Collector does). Errors start
    /// with `retry_on_failure.<key>`.
    pub fn validate(&self) -> Result<RetrySettings, String> {
        let key = |k: &str| format!("retry_on_failure.{k}");
        let initial_interval = self.initial_interval.parse(&key("initial_interval"))?;
        let max_interval = self.max_interval.parse(&key("max_interval"))?;
        let max_elapsed = self.max_elapsed_time.parse(&key("max_elapsed_time"))?;
        let settings = RetrySettings {
            enabled: self.enabled,
            initial_interval,
            randomization_factor: self.randomization_factor,
            multiplier: self.multiplier,
            max_interval,
            max_elapsed_time: (!max_elapsed.is_zero()).then_some(max_elapsed),
        };
        if !self.enabled {
            return Ok(settings);
        }
        if initial_interval.is_zero() {
            return Err(format!("{}: must be more than 0", key("initial_interval")));
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(format!(
                "{}: {} is not between 0 and 1",
                key("randomization_factor"),
                self.randomization_factor
            ));
        }
        if !(self.multiplier >= 1.0 && self.multiplier <= 1000.0) {
            return Err(format!(
                "{}: {} is not between 1 and 1000",
                key("multiplier"),
                self.multiplier
            ));
        }
        if max_interval < initial_interval {
            return Err(format!(
                "{}: {max_interval:?} is less than initial_interval ({initial_interval:?})",
                key("max_interval")
            ));
        }
        if let Some(max_elapsed) = settings.max_elapsed_time.filter(|m| *m < max_interval) {
            return Err(format!(
                "{}: {max_elapsed:?} is less than max_interval ({max_interval:?})",
                key("max_elapsed_time")
            ));
        }
        Ok(settings)
    }
}

impl RetrySettings {
    /// A backoff for one batch, starting now, with a randomly seeded spread.
    pub fn backoff(&self) -> Backoff {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        self.backoff_at(Instant::now(), seed)
    }

    /// A backoff whose first attempt was at `start`, with a spread drawn from `seed`
    /// (deterministic: for tests).
    pub fn backoff_at(&self, start: Instant, seed: u64) -> Backoff {
        Backoff {
            settings: *self,
            start,
            current: self.initial_interval,
            rng: SplitMix64(seed),
        }
    }
}

/// The delays between the attempts to send one batch.
#[derive(Clone, Debug)]
pub struct Backoff {
    settings: RetrySettings,
    start: Instant,
    /// The next delay before spreading.
    current: Duration,
    rng: SplitMix64,
}

impl Backoff {
    /// How long to wait before the next attempt, or `None` to give up (retries disabled, or the
    /// attempt would start past `max_elapsed_time`). `server_hint` is the upstream's
    /// `Retry-After` / `RetryInfo`: the delay is at least the hint (capped at
    /// [`MAX_SERVER_HINT`]).
    pub fn next_delay(&mut self, server_hint: Option<Duration>) -> Option<Duration> {
        self.next_delay_at(Instant::now(), server_hint)
    }

    /// [`Backoff::next_delay`] as if called at `now`.
    pub fn next_delay_at(
        &mut self,
        now: Instant,
        server_hint: Option<Duration>,
    ) -> Option<Duration> {
        let s = &self.settings;
        if !s.enabled {
            return None;
        }
        let base = self.current.as_secs_f64();
        let spread = base * s.randomization_factor;
        // Uniform over [base - spread, base + spread], as cenkalti/backoff does.
        let jittered = base - spread + 2.0 * spread * self.rng.next_unit();
        let mut delay = Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(s.max_interval);
        self.current = Duration::try_from_secs_f64(base * s.multiplier)
            .unwrap_or(s.max_interval)
            .min(s.max_interval);
        if let Some(hint) = server_hint {
            delay = delay.max(hint.min(MAX_SERVER_HINT));
        }
        if let Some(max_elapsed) = s.max_elapsed_time {
            let next_attempt = now.saturating_duration_since(self.start) + delay;
            if next_attempt > max_elapsed {
                return None;
            }
        }
        Some(delay)
    }
}

/// A small, seedable generator for the spread (statistical quality is plenty for jitter; no
/// dependency for it).
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as an f64 mantissa.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> RetrySettings {
        serde_yaml::from_str::<RetryConfig>(yaml)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn no_jitter() -> RetrySettings {
        settings(
            "randomization_factor: 0\ninitial_interval: 1s\nmultiplier: 2\nmax_interval: 5s\nmax_elapsed_time: 20s",
        )
    }

    #[test]
    fn defaults_are_the_collectors() {
        let s = settings("{}");
        assert_eq!(
            s,
            RetrySettings {
                enabled: true,
                initial_interval: Duration::from_secs(5),
                randomization_factor: 0.5,
                multiplier: 1.5,
                max_interval: Duration::from_secs(30),
                max_elapsed_time: Some(Duration::from_secs(300)),
            }
        );
    }

    #[test]
    fn grows_by_the_multiplier_up_to_max_interval() {
        let start = Instant::now();
        let mut b = no_jitter().backoff_at(start, 1);
        let delays: Vec<_> = (0..5).map(|_| b.next_delay_at(start, None)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(delays, vec![secs(1), secs(2), secs(4), secs(5), secs(5)]);
    }

    #[test]
    fn spreads_each_delay_within_the_randomization_factor() {
        let s = settings(
            "initial_interval: 10s\nmax_interval: 10s\nrandomization_factor: 0.5\nmax_elapsed_time: 0",
        );
        let start = Instant::now();
        let mut b = s.backoff_at(start, 42);
        let delays: Vec<Duration> = (0..200)
            .filter_map(|_| b.next_delay_at(start, None))
            .collect();
        assert_eq!(delays.len(), 200);
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(5) && *d <= Duration::from_secs(15))
        );
        // Actually spread, not constant.
        assert!(delays.iter().any(|d| *d < Duration::from_secs(8)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(12)));
        // Same seed, same delays.
        let mut again = s.backoff_at(start, 42);
        assert_eq!(again.next_delay_at(start, None), Some(delays[0]));
    }

    #[test]
    fn gives_up_when_the_next_attempt_passes_max_elapsed_time() {
        let start = Instant::now();
        let mut b = no_jitter().backoff_at(start, 1);
        assert_eq!(
            b.next_delay_at(start + Duration::from_secs(18), None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(b.next_delay_at(start + Duration::from_secs(19), None), None);
    }

    #[test]
    fn zero_max_elapsed_time_retries_forever() {
        let s = settings("max_elapsed_time: 0");
        assert_eq!(s.max_elapsed_time, None);
        let start = Instant::now();
        let mut b = s.backoff_at(start, 7);
        let far = start + Duration::from_secs(365 * 24 * 3600);
        assert!(b.next_delay_at(far, None).is_some());
    }

    #[test]
    fn honours_a_longer_server_hint_and_caps_it() {
        let start = Instant::now();
        let mut b = no_jitter().backoff_at(start, 1);
        assert_eq!(
            b.next_delay_at(start, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        // A shorter hint does not shorten the backoff (now 2s).
        assert_eq!(
            b.next_delay_at(start, Some(Duration::from_millis(10))),
            Some(Duration::from_secs(2))
        );
        let mut forever = settings("max_elapsed_time: 0").backoff_at(start, 1);
        assert_eq!(
            forever.next_delay_at(start, Some(Duration::from_secs(86_400))),
            Some(MAX_SERVER_HINT)
        );
        // A hint past max_elapsed_time gives up, as the Collector does.
        let mut b = no_jitter().backoff_at(start, 1);
        assert_eq!(b.next_delay_at(start, Some(Duration::from_secs(60))), None);
    }

    #[test]
    fn disabled_never_retries_and_skips_checks() {
        let s = settings("enabled: false\nmultiplier: 0");
        assert_eq!(s.backoff().next_delay(None), None);
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        for (yaml, key) in [
            ("initial_interval: 0", "retry_on_failure.initial_interval"),
            (
                "initial_interval: soon",
                "retry_on_failure.initial_interval",
            ),
            (
                "randomization_factor: 1.5",
                "retry_on_failure.randomization_factor",
            ),
            ("multiplier: 0.5", "retry_on_failure.multiplier"),
            ("max_interval: 1s", "retry_on_failure.max_interval"),
            ("max_elapsed_time: 10s", "retry_on_failure.max_elapsed_time"),
            ("max_elapsed_time: 5", "retry_on_failure.max_elapsed_time"),
        ] {
            let err = serde_yaml::from_str::<RetryConfig>(yaml)
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(err.starts_with(key), "{yaml}: {err}");
        }
        assert!(serde_yaml::from_str::<RetryConfig>("jitter: 1").is_err());
    }
}

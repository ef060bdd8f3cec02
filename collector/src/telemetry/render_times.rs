//! How long the admin pages take to render (`vigil_render_duration_seconds`), per format: a
//! fixed-bucket histogram of atomics, cheap enough to record on every read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The page formats timed.
pub const FORMATS: [&str; 4] = ["prometheus", "openmetrics", "json", "otlp_json"];

/// Bucket bounds, seconds.
pub const BOUNDS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

/// Render times of one admin address, per format.
#[derive(Debug, Default)]
pub struct RenderTimes {
    by_format: [Histogram; FORMATS.len()],
}

impl RenderTimes {
    /// Records one render of `format` (one of [`FORMATS`]; others are ignored).
    pub fn record(&self, format: &str, took: Duration) {
        let Some(h) = FORMATS
            .iter()
            .position(|f| *f == format)
            .map(|i| &self.by_format[i])
        else {
            return;
        };
        let secs = took.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        h.counts[bucket].fetch_add(1, Ordering::Relaxed);
        h.sum_ns.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Per format with at least one render: its name, bucket counts and sum in seconds.
    pub fn read(&self) -> Vec<(&'static str, Vec<u64>, f64)> {
        FORMATS
            .iter()
            .zip(&self.by_format)
            .filter_map(|(name, h)| {
                let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
                let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
                (counts.iter().any(|c| *c > 0)).then_some((*name, counts, sum))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_land_in_their_bucket_and_format() {
        let times = RenderTimes::default();
        times.record("json", Duration::from_millis(3));
        times.record("json", Duration::from_secs(30));
        times.record("nope", Duration::from_millis(3));
        let read = times.read();
        assert_eq!(read.len(), 1);
        let (name, counts, sum) = &read[0];
        assert_eq!(*name, "json");
        assert_eq!(counts, &vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!((sum - 30.003).abs() < 1e-9);
    }
}

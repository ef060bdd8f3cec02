//! Turns what the workers counted into the figures a reader compares:
//! throughput, latency percentiles, errors by kind, and what each measured
//! process spent (CPU-seconds, points per CPU-second, memory).
//!
//! Kept apart from the load loop so the arithmetic is tested on its own,
//! and so the JSON written with `--json` has one definition (its field names
//! are what `scripts/bench-compare` reads).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::client::Outcome;
use crate::generate::Shape;
use crate::scrape::ScrapeReport;

/// What one worker counted in the measured window.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Requests completed (answered or failed).
    pub requests: u64,
    /// Requests answered OK.
    pub ok: u64,
    /// Points in all completed requests.
    pub points_sent: u64,
    /// Points in OK requests, minus those reported rejected.
    pub points_accepted: u64,
    /// Points an OK answer reported as rejected (partial success).
    pub points_rejected: u64,
    /// Encoded (uncompressed) request bytes.
    pub bytes: u64,
    /// Latency of each completed request, microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts one completed request.
    pub fn record(&mut self, points: u64, bytes: u64, latency: Duration, outcome: Outcome) {
        self.requests += 1;
        self.points_sent += points;
        self.bytes += bytes;
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        match outcome {
            Outcome::Accepted { rejected } => {
                self.ok += 1;
                let rejected = rejected.min(points);
                self.points_rejected += rejected;
                self.points_accepted += points - rejected;
            }
            Outcome::Failed(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.points_sent += other.points_sent;
        self.points_accepted += other.points_accepted;
        self.points_rejected += other.points_rejected;
        self.bytes += other.bytes;
        self.latencies_us.extend(other.latencies_us);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }
}

/// The value at quantile `q` (0..=1) of sorted values, by the nearest-rank method:
/// the smallest value with at least `q` of all values at or below it.
pub fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Points per CPU-second; `None` when the process used no measurable CPU.
pub fn points_per_cpu_second(points: u64, cpu_seconds: f64) -> Option<f64> {
    (cpu_seconds > 0.0).then(|| points as f64 / cpu_seconds)
}

/// Latency figures in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest request.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Latency {
    /// Figures from per-request microseconds (sorts them).
    pub fn from_micros(latencies: &mut [u32]) -> Latency {
        latencies.sort_unstable();
        let ms = |q| percentile(latencies, q).map_or(0.0, |us| f64::from(us) / 1000.0);
        let total: u64 = latencies.iter().map(|&us| u64::from(us)).sum();
        Latency {
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            max: ms(1.0),
            mean: if latencies.is_empty() {
                0.0
            } else {
                total as f64 / latencies.len() as f64 / 1000.0
            },
        }
    }
}

/// What one `--pid` cost during the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Process {
    /// The process id.
    pub pid: u32,
    /// User + system CPU-seconds in the window (`None` if /proc could not be read).
    pub cpu_seconds: Option<f64>,
    /// CPU-seconds per second of window (1.0 = one core busy).
    pub cores_used: Option<f64>,
    /// Accepted points per CPU-second of this process.
    pub points_per_cpu_second: Option<f64>,
    /// Highest VmRSS sampled every 100 ms during the window, KiB.
    pub peak_rss_kib: u64,
    /// VmHWM at the end (peak resident set over the process's life), KiB.
    pub vm_hwm_kib: u64,
    /// The process was gone before the window ended.
    pub exited: bool,
}

/// The settings a run used, repeated in the report so a JSON file stands alone.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// The workload shape.
    #[serde(flatten)]
    pub shape: Shape,
    /// Concurrent closed-loop workers.
    pub concurrency: usize,
    /// gRPC connections (HTTP uses a pool).
    pub connections: usize,
    /// Bodies gzipped.
    pub gzip: bool,
    /// Warm-up excluded from the figures, seconds.
    pub warmup_seconds: f64,
    /// Requested window length, seconds (if bounded by time).
    pub duration_seconds: Option<f64>,
    /// Requested number of measured requests (if bounded by count).
    pub requests_limit: Option<u64>,
    /// Requests in one round of all series.
    pub requests_per_round: usize,
}

/// The whole report (`--json FILE` writes it).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Where the load went (`grpc://HOST:PORT` or the HTTP URL).
    pub target: String,
    /// When the measured window started (RFC 3339, UTC).
    pub started_at: String,
    /// The run's settings.
    pub settings: Settings,
    /// Length of the measured window, seconds.
    pub window_seconds: f64,
    /// Request counts.
    pub requests: Requests,
    /// Point counts and throughput.
    pub points: Points,
    /// Encoded request bytes sent (before gzip).
    pub bytes_sent: u64,
    /// Request latency, milliseconds.
    pub latency_ms: Latency,
    /// Failed requests by kind (`grpc UNAVAILABLE`, `http 503`, `timeout`, `transport`).
    pub errors: BTreeMap<String, u64>,
    /// One entry per `--pid`.
    pub processes: Vec<Process>,
    /// CPU-seconds the generator itself used in the window.
    pub generator_cpu_seconds: Option<f64>,
    /// What the sink counted during the window (`--sink-count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink_window: Option<SinkWindow>,
    /// The scrapes of `--scrape` during the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape: Option<ScrapeReport>,
}

/// A sink's `GET /count` document as the window opened and closed.
///
/// The sink counts from its start, so `delta` (end − start) is what it received
/// during the window: what a forwarding target delivered, measured over the same
/// seconds as the target's CPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SinkWindow {
    /// The counts when the window opened.
    pub start: serde_json::Value,
    /// The counts when it closed.
    pub end: serde_json::Value,
    /// `end` with every number that `start` also has replaced by the difference.
    pub delta: serde_json::Value,
}

impl SinkWindow {
    /// The window between two readings of the same sink.
    pub fn new(start: serde_json::Value, end: serde_json::Value) -> SinkWindow {
        SinkWindow {
            delta: difference(&start, &end),
            start,
            end,
        }
    }
}

/// `end − start` for every number at the same place in both; anything else from `end`.
/// Recursion is bounded by the documents' depth (serde_json refuses past 128 levels).
fn difference(start: &serde_json::Value, end: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (start, end) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            b.iter()
                .map(|(k, v)| {
                    let d = a.get(k).map_or_else(|| v.clone(), |s| difference(s, v));
                    (k.clone(), d)
                })
                .collect(),
        ),
        (Value::Number(a), Value::Number(b)) => match (a.as_u64(), b.as_u64()) {
            (Some(a), Some(b)) => b.saturating_sub(a).into(),
            _ => Value::from(b.as_f64().unwrap_or(0.0) - a.as_f64().unwrap_or(0.0)),
        },
        _ => end.clone(),
    }
}

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Requests {
    /// Completed in the window.
    pub sent: u64,
    /// Answered OK.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
}

/// Point counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Points {
    /// In completed requests.
    pub sent: u64,
    /// Accepted by the target.
    pub accepted: u64,
    /// Reported rejected in OK answers.
    pub rejected: u64,
    /// Accepted points per second of window.
    pub per_second: f64,
    /// Accepted points over the whole run: warm-up, window, and the requests in
    /// flight when it ended (what a forwarding target should have delivered).
    pub accepted_whole_run: u64,
}

impl Report {
    /// Builds the report from the merged tally and the window's length.
    // Each argument is a separate measured fact; a parameter struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: String,
        started_at: String,
        settings: Settings,
        window: Duration,
        mut tally: Tally,
        accepted_whole_run: u64,
        processes: Vec<Process>,
        generator_cpu_seconds: Option<f64>,
    ) -> Report {
        let secs = window.as_secs_f64();
        Report {
            target,
            started_at,
            settings,
            window_seconds: secs,
            requests: Requests {
                sent: tally.requests,
                ok: tally.ok,
                failed: tally.requests - tally.ok,
            },
            points: Points {
                sent: tally.points_sent,
                accepted: tally.points_accepted,
                rejected: tally.points_rejected,
                per_second: if secs > 0.0 {
                    tally.points_accepted as f64 / secs
                } else {
                    0.0
                },
                accepted_whole_run,
            },
            bytes_sent: tally.bytes,
            latency_ms: Latency::from_micros(&mut tally.latencies_us),
            errors: tally.errors,
            processes,
            generator_cpu_seconds,
            sink_window: None,
            scrape: None,
        }
    }

    /// The report with the scrapes made during the window.
    pub fn with_scrape(self, scrape: ScrapeReport) -> Report {
        Report {
            scrape: Some(scrape),
            ..self
        }
    }

    /// The report with what the sink received during the window.
    pub fn with_sink_window(self, sink_window: SinkWindow) -> Report {
        Report {
            sink_window: Some(sink_window),
            ..self
        }
    }

    /// The human-readable summary printed at the end.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(s, "target      {}", self.target);
        let _ = writeln!(
            s,
            "window      {:.2} s (after {:.1} s warm-up)",
            self.window_seconds, self.settings.warmup_seconds
        );
        let _ = writeln!(
            s,
            "points      {} sent, {} accepted, {} rejected: {:.0} points/s",
            self.points.sent, self.points.accepted, self.points.rejected, self.points.per_second
        );
        let _ = writeln!(
            s,
            "requests    {} sent, {} ok, {} failed ({:.1} MiB encoded)",
            self.requests.sent,
            self.requests.ok,
            self.requests.failed,
            self.bytes_sent as f64 / (1 << 20) as f64
        );
        let _ = writeln!(
            s,
            "latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            l.p50, l.p90, l.p99, l.max, l.mean
        );
        for (kind, n) in &self.errors {
            let _ = writeln!(s, "error       {kind}: {n}");
        }
        for p in &self.processes {
            let opt = |v: Option<f64>, prec: usize| {
                v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.prec$}"))
            };
            let _ = writeln!(
                s,
                "pid {:<7} cpu {} s ({} cores), {} points/cpu-s, peak rss {:.1} MiB, VmHWM {:.1} MiB{}",
                p.pid,
                opt(p.cpu_seconds, 2),
                opt(p.cores_used, 2),
                opt(p.points_per_cpu_second, 0),
                p.peak_rss_kib as f64 / 1024.0,
                p.vm_hwm_kib as f64 / 1024.0,
                if p.exited {
                    " (exited during the run)"
                } else {
                    ""
                }
            );
        }
        if let Some(cpu) = self.generator_cpu_seconds {
            let _ = writeln!(s, "generator   cpu {cpu:.2} s");
        }
        if let Some(w) = &self.sink_window {
            let d = &w.delta;
            let _ = write!(
                s,
                "sink        in the window: {} OTLP points",
                d["metrics"]["points"]
            );
            for v in ["v1", "v2"] {
                let rw = &d["remote_write"][v];
                if rw["requests"].as_u64().is_some_and(|n| n > 0) {
                    let _ = write!(
                        s,
                        ", remote-write {v}: {} samples in {} requests, {} wire bytes",
                        rw["samples"], rw["requests"], rw["wire_bytes"]
                    );
                }
            }
            s.push('\n');
        }
        if let Some(scrape) = &self.scrape {
            s.push_str(&scrape.text());
        }
        s
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;

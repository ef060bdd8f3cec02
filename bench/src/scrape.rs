//! `vigil-load load --scrape URL`: scrapes a Prometheus endpoint while the
//! load runs, and measures each scrape as a client sees it.
//!
//! Issue 9's target is stated from the client's side ("`/metrics` with 200,000
//! series: ≤ 100 ms from request to last byte, measured by a client; ingest
//! throughput during a scrape drops by less than 20%"), so the figure is taken
//! here, from outside the process, over the same window as the load's: one task
//! GETs the URL in a loop (back to back, or one scrape per `--scrape-interval`),
//! times each from sending the request to the last body byte, and counts the
//! body's bytes and sample lines as they stream in (the body is never held
//! whole). A scrape that fails (refused, timed out, not 200) is counted by kind
//! and the loop goes on. The arithmetic over the scrapes is here too, with its
//! tests, so `report.rs` only carries the section.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::report::Latency;

/// Counts the sample lines of a Prometheus text body fed in pieces: lines that
/// are neither empty nor start with `#` (comments, `# HELP`, `# TYPE`, `# EOF`).
#[derive(Clone, Debug)]
pub struct LineCounter {
    at_line_start: bool,
    sample_lines: u64,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter {
            at_line_start: true,
            sample_lines: 0,
        }
    }
}

impl LineCounter {
    /// Reads the next piece of the body (pieces may split lines anywhere).
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut start = 0;
        loop {
            if self.at_line_start
                && let Some(&first) = chunk.get(start)
            {
                if first != b'#' && first != b'\n' {
                    self.sample_lines += 1;
                }
                self.at_line_start = false;
            }
            match chunk
                .get(start..)
                .and_then(|rest| memchr::memchr(b'\n', rest))
            {
                Some(i) => {
                    start += i + 1;
                    self.at_line_start = true;
                }
                None => break,
            }
        }
    }

    /// Sample lines so far.
    pub fn sample_lines(&self) -> u64 {
        self.sample_lines
    }
}

/// How one scrape went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScrapeOutcome {
    /// A 200 with its whole body read.
    Ok {
        /// From sending the request to the end of the body.
        duration: Duration,
        /// Body bytes as received (no `Accept-Encoding` is sent, so uncompressed).
        bytes: u64,
        /// Lines neither empty nor starting with `#`.
        sample_lines: u64,
    },
    /// Refused, timed out, cut off, or answered with another status: `http 503`,
    /// `timeout`, `transport`.
    Failed(String),
}

/// What the scrape task counted in the measured window.
#[derive(Clone, Debug, Default)]
pub struct ScrapeTally {
    /// Scrapes completed (ok or failed).
    pub scrapes: u64,
    /// Duration of each OK scrape, microseconds.
    pub durations_us: Vec<u32>,
    /// Body bytes over the OK scrapes.
    pub bytes: u64,
    /// Sample lines over the OK scrapes.
    pub sample_lines: u64,
    /// Failed scrapes by kind.
    pub errors: BTreeMap<String, u64>,
}

impl ScrapeTally {
    /// Counts one completed scrape.
    pub fn record(&mut self, outcome: ScrapeOutcome) {
        self.scrapes += 1;
        match outcome {
            ScrapeOutcome::Ok {
                duration,
                bytes,
                sample_lines,
            } => {
                self.durations_us
                    .push(u32::try_from(duration.as_micros()).unwrap_or(u32::MAX));
                self.bytes += bytes;
                self.sample_lines += sample_lines;
            }
            ScrapeOutcome::Failed(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }
}

/// The report's `scrape` section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScrapeReport {
    /// The scraped URL.
    pub url: String,
    /// Time from one scrape's start to the next's, seconds (0: back to back).
    pub interval_seconds: f64,
    /// Scrapes completed in the window (ok or failed).
    pub count: u64,
    /// Scrapes answered 200 and read to the end.
    pub ok: u64,
    /// Failed scrapes.
    pub errors: u64,
    /// Failed scrapes by kind (`http 503`, `timeout`, `transport`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Request to last body byte of the OK scrapes, milliseconds.
    pub duration_ms: Latency,
    /// Mean body bytes of an OK scrape.
    pub mean_bytes: f64,
    /// Mean sample lines of an OK scrape.
    pub mean_sample_lines: f64,
}

impl ScrapeReport {
    /// The section from the tally (sorts its durations).
    pub fn new(url: String, interval: Duration, mut tally: ScrapeTally) -> ScrapeReport {
        let ok = tally.durations_us.len() as u64;
        let mean = |total: u64| {
            if ok == 0 {
                0.0
            } else {
                total as f64 / ok as f64
            }
        };
        ScrapeReport {
            url,
            interval_seconds: interval.as_secs_f64(),
            count: tally.scrapes,
            ok,
            errors: tally.scrapes.saturating_sub(ok),
            duration_ms: Latency::from_micros(&mut tally.durations_us),
            mean_bytes: mean(tally.bytes),
            mean_sample_lines: mean(tally.sample_lines),
            errors_by_kind: tally.errors,
        }
    }

    /// The lines the text report prints for the section.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let d = &self.duration_ms;
        let _ = writeln!(
            s,
            "scrape      {} scrapes of {}, {} ok, {} failed",
            self.count, self.url, self.ok, self.errors
        );
        let _ = writeln!(
            s,
            "scrape ms   p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            d.p50, d.p90, d.p99, d.max, d.mean
        );
        let _ = writeln!(
            s,
            "scrape page {:.2} MiB, {:.0} sample lines (means over ok scrapes)",
            self.mean_bytes / (1 << 20) as f64,
            self.mean_sample_lines
        );
        for (kind, n) in &self.errors_by_kind {
            let _ = writeln!(s, "scrape err  {kind}: {n}");
        }
        s
    }
}

/// Scrapes one URL over plain HTTP/1.1, keeping the connection between scrapes.
#[derive(Clone, Debug)]
pub struct Scraper {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    interval: Duration,
}

impl Scraper {
    /// A scraper for `url`; `timeout` bounds each scrape, `interval` spaces their starts.
    pub fn new(url: &str, timeout: Duration, interval: Duration) -> anyhow::Result<Scraper> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("--scrape {url:?}"))?;
        anyhow::ensure!(
            parsed.scheme() == "http",
            "--scrape {url:?}: only plain http:// URLs are scraped"
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client for --scrape")?;
        Ok(Scraper {
            client,
            url: url.to_string(),
            timeout,
            interval,
        })
    }

    /// The scraped URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The time between scrape starts (zero: back to back).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One scrape, timed from sending the request to the end of the body.
    pub async fn once(&self) -> ScrapeOutcome {
        let started = Instant::now();
        let response = match self
            .client
            .get(self.url.as_str())
            .timeout(self.timeout)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return ScrapeOutcome::Failed(error_kind(&e)),
        };
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return ScrapeOutcome::Failed(format!("http {}", status.as_u16()));
        }
        read_body(response, started).await
    }

    /// Scrapes until `stop` is set, then returns what it counted. A scrape
    /// started before `stop` is finished and counted (bounded by the timeout).
    pub async fn run(self, stop: Arc<AtomicBool>) -> ScrapeTally {
        let mut tally = ScrapeTally::default();
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let outcome = self.once().await;
            let failed = matches!(outcome, ScrapeOutcome::Failed(_));
            tally.record(outcome);
            // A refused connection fails at once; do not spin on it.
            let pause = if failed {
                self.interval.max(Duration::from_millis(10))
            } else {
                self.interval
            };
            // Sleep out the interval in short steps, so the end of the window is not overslept.
            while !stop.load(Ordering::SeqCst) {
                let left = pause.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left.min(Duration::from_millis(50))).await;
            }
        }
        tally
    }
}

/// Streams the body, counting bytes and sample lines, and stops the clock at its end.
async fn read_body(mut response: reqwest::Response, started: Instant) -> ScrapeOutcome {
    let mut bytes = 0u64;
    let mut lines = LineCounter::default();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes += chunk.len() as u64;
                lines.feed(&chunk);
            }
            Ok(None) => {
                return ScrapeOutcome::Ok {
                    duration: started.elapsed(),
                    bytes,
                    sample_lines: lines.sample_lines(),
                };
            }
            Err(e) => return ScrapeOutcome::Failed(error_kind(&e)),
        }
    }
}

/// How the report names a failed scrape.
fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else {
        "transport".into()
    }
}

#[cfg(test)]
#[path = "scrape_tests.rs"]
mod tests;

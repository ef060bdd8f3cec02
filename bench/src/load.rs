//! `vigil-load load`: a closed-loop OTLP metrics load generator that
//! measures the target from outside.
//!
//! Closed loop: each of `concurrency` workers sends one request and waits for
//! its answer before sending the next, so the figures are what the target
//! sustains, not what a queue absorbed. Each worker owns a fixed set of the
//! pre-encoded requests and sends them in turn, so every series' points
//! arrive in order, as from one SDK. A warm-up runs first and is left out of
//! every figure; the measured window then ends at `--duration` or after
//! `--requests`, whichever is first. With `--scrape`, one more task scrapes a
//! Prometheus endpoint through the measured window only (`scrape.rs`); with
//! `--concurrency 0` it is the only task, to time scrapes of an idle target.
//! Nothing here decides what counts as fast: that is the reader's job, with
//! the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use prost::Message;
use tokio::sync::Notify;

use crate::client::{Outcome, Sender, Target};
use crate::generate::{self, Shape};
use crate::procstat;
use crate::report::{Process, Report, Settings, SinkWindow, Tally};
use crate::scrape::{ScrapeReport, Scraper};
use crate::stamp::{Plan, Round};

/// Everything a load run needs, validated.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to send.
    pub target: Target,
    /// What to send.
    pub shape: Shape,
    /// Closed-loop workers (0: none, only the scrapes of `scrape`).
    pub concurrency: usize,
    /// gRPC connections shared by the workers.
    pub connections: usize,
    /// Measured window length (`None`: bounded by `requests` alone).
    pub duration: Option<Duration>,
    /// Measured requests (`None`: bounded by `duration` alone).
    pub requests: Option<u64>,
    /// Excluded from the figures.
    pub warmup: Duration,
    /// Gzip request bodies.
    pub gzip: bool,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Processes to measure.
    pub pids: Vec<u32>,
    /// A sink's `GET /count` URL, read as the window opens and closes.
    pub sink_count: Option<String>,
    /// Scrapes made through the measured window.
    pub scrape: Option<Scraper>,
}

/// One pre-encoded request and its rewrite plan.
struct Template {
    bytes: Vec<u8>,
    plan: Plan,
}

const WARMUP: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// Counters shared by workers, the progress line and the controller.
struct Shared {
    phase: AtomicU8,
    /// Every phase, for the progress line.
    requests: AtomicU64,
    /// Accepted points, every phase (warm-up and the requests in flight at the end too).
    points: AtomicU64,
    errors: AtomicU64,
    /// Requests completed in the measured window (for `--requests`).
    measured: AtomicU64,
    limit: Option<u64>,
    done: Notify,
}

/// Runs the load and returns the report. Bounded: stops by itself.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let start_ns = now_ns();
    let built = Instant::now();
    let templates = encode(&opts.shape, start_ns)?;
    let total_bytes: usize = templates.iter().map(|t| t.bytes.len()).sum();
    let total_points: usize = templates.iter().map(|t| t.plan.points).sum();
    eprintln!(
        "vigil-load: pre-encoded {} requests ({} points, {:.1} MiB) in {:.2?}",
        templates.len(),
        total_points,
        total_bytes as f64 / (1 << 20) as f64,
        built.elapsed()
    );
    let workers = match opts.concurrency {
        0 => 0,
        n => n.clamp(1, templates.len().max(1)),
    };
    if workers < opts.concurrency && workers > 0 {
        eprintln!(
            "vigil-load: only {} requests per round, so {workers} workers instead of {} \
             (each series is sent by one worker, in order)",
            templates.len(),
            opts.concurrency
        );
    }
    // Read once now, so a wrong URL fails the run before any load is sent.
    let sink = match &opts.sink_count {
        Some(url) => {
            let client = reqwest::Client::new();
            sink_counts(&client, url).await?;
            Some((client, url.as_str()))
        }
        None => None,
    };
    let mut senders = Vec::new();
    let connections = match opts.target {
        Target::Grpc(_) => opts.connections.max(1),
        Target::Http(_) => 1, // one client, its pool opens a connection per worker
    };
    for _ in 0..connections {
        senders.push(Sender::connect(&opts.target, opts.gzip, opts.timeout).await?);
    }

    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARMUP),
        requests: AtomicU64::new(0),
        points: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        limit: opts.requests,
        done: Notify::new(),
    });
    let templates = Arc::new(templates);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let slots: Vec<usize> = (w..templates.len()).step_by(workers).collect();
        let sender = senders[w % senders.len()].clone();
        let (templates, shared) = (templates.clone(), shared.clone());
        handles.push(tokio::spawn(worker(
            sender, templates, slots, shared, start_ns,
        )));
    }
    let progress = tokio::spawn(progress(shared.clone()));
    let memory = Arc::new(MemoryWatch::new(&opts.pids));
    let sampler = tokio::spawn(sample_memory(memory.clone(), shared.clone()));

    // Warm-up, then the measured window.
    tokio::time::sleep(opts.warmup).await;
    let sink_start = match &sink {
        Some((client, url)) => window_counts(client, url).await,
        None => None,
    };
    let clk_tck = procstat::ticks_per_second() as f64;
    let cpu_before: Vec<Option<u64>> = opts.pids.iter().map(|&p| procstat::cpu_ticks(p)).collect();
    let own_before = procstat::own_cpu_ticks();
    let window_start = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    shared.phase.store(MEASURING, Ordering::SeqCst);
    let scrape_stop = Arc::new(AtomicBool::new(false));
    let scraper = opts
        .scrape
        .clone()
        .map(|s| tokio::spawn(s.run(scrape_stop.clone())));
    match opts.duration {
        Some(d) => {
            let _ = tokio::time::timeout(d, shared.done.notified()).await;
        }
        None => shared.done.notified().await,
    }
    shared.phase.store(STOPPED, Ordering::SeqCst);
    scrape_stop.store(true, Ordering::SeqCst);
    let window = window_start.elapsed();
    let cpu_after: Vec<Option<u64>> = opts.pids.iter().map(|&p| procstat::cpu_ticks(p)).collect();
    let own_after = procstat::own_cpu_ticks();
    let sink_end = match &sink {
        Some((client, url)) => window_counts(client, url).await,
        None => None,
    };
    progress.abort();
    sampler.abort();

    // Workers finish their request in flight (bounded by the request timeout).
    let mut tally = Tally::default();
    for h in handles {
        match tokio::time::timeout(opts.timeout + Duration::from_secs(1), h).await {
            Ok(Ok(t)) => tally.merge(t),
            Ok(Err(e)) => anyhow::bail!("a worker failed: {e}"),
            Err(_) => eprintln!("vigil-load: a worker did not stop in time; its figures are lost"),
        }
    }

    // The scrape in flight at the end is finished and counted (bounded by the timeout).
    let scrapes = match (scraper, &opts.scrape) {
        (Some(handle), Some(s)) => {
            match tokio::time::timeout(opts.timeout + Duration::from_secs(1), handle).await {
                Ok(Ok(t)) => Some(ScrapeReport::new(s.url().to_string(), s.interval(), t)),
                Ok(Err(e)) => anyhow::bail!("the scrape task failed: {e}"),
                Err(_) => {
                    eprintln!(
                        "vigil-load: the scrape task did not stop in time; its figures are lost"
                    );
                    None
                }
            }
        }
        _ => None,
    };

    let cpu = |before: Option<u64>, after: Option<u64>| {
        Some(after?.saturating_sub(before?) as f64 / clk_tck)
    };
    let processes = opts
        .pids
        .iter()
        .enumerate()
        .map(|(i, &pid)| {
            let cpu_seconds = cpu(cpu_before[i], cpu_after[i]);
            let end = procstat::memory(pid);
            Process {
                pid,
                cpu_seconds,
                cores_used: cpu_seconds.map(|c| c / window.as_secs_f64()),
                points_per_cpu_second: cpu_seconds
                    .and_then(|c| crate::report::points_per_cpu_second(tally.points_accepted, c)),
                peak_rss_kib: memory.peak(i),
                vm_hwm_kib: end.map_or(0, |m| m.hwm_kib),
                exited: cpu_after[i].is_none() || end.is_none(),
            }
        })
        .collect();
    let settings = Settings {
        shape: opts.shape.clone(),
        concurrency: workers,
        connections,
        gzip: opts.gzip,
        warmup_seconds: opts.warmup.as_secs_f64(),
        duration_seconds: opts.duration.map(|d| d.as_secs_f64()),
        requests_limit: opts.requests,
        requests_per_round: templates.len(),
    };
    let report = Report::new(
        opts.target.describe(),
        started_at,
        settings,
        window,
        tally,
        shared.points.load(Ordering::Relaxed),
        processes,
        cpu(own_before, own_after),
    );
    let report = match scrapes {
        Some(s) => report.with_scrape(s),
        None => report,
    };
    Ok(match (sink_start, sink_end) {
        (Some(start), Some(end)) => report.with_sink_window(SinkWindow::new(start, end)),
        _ => report,
    })
}

/// The sink's `GET /count` document.
async fn sink_counts(client: &reqwest::Client, url: &str) -> anyhow::Result<serde_json::Value> {
    let body = client
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot read the sink's counts from {url}"))?
        .bytes()
        .await
        .with_context(|| format!("reading the sink's counts from {url}"))?;
    serde_json::from_slice(&body).with_context(|| format!("{url} did not answer JSON"))
}

/// The sink's counts at a window edge; a failure is reported and leaves the window out.
async fn window_counts(client: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    sink_counts(client, url)
        .await
        .map_err(|e| eprintln!("vigil-load: {e:#}; the report has no sink window"))
        .ok()
}

/// Builds one round and encodes it, with each request's rewrite plan.
fn encode(shape: &Shape, start_ns: u64) -> anyhow::Result<Vec<Template>> {
    generate::round(shape, start_ns)
        .iter()
        .map(|request| {
            let bytes = request.encode_to_vec();
            let plan = Plan::of(&bytes).context("walking a request the generator encoded")?;
            Ok(Template { bytes, plan })
        })
        .collect()
}

/// One closed-loop worker: sends its slots in turn until the phase is STOPPED.
async fn worker(
    mut sender: Sender,
    templates: Arc<Vec<Template>>,
    slots: Vec<usize>,
    shared: Arc<Shared>,
    start_ns: u64,
) -> Tally {
    let mut tally = Tally::default();
    let mut rounds = vec![0u64; slots.len()];
    let mut prev = vec![start_ns; slots.len()];
    'outer: loop {
        for (i, &slot) in slots.iter().enumerate() {
            if shared.phase.load(Ordering::Relaxed) == STOPPED {
                break 'outer;
            }
            let t = &templates[slot];
            let now = now_ns().max(prev[i] + 1);
            let mut body = t.bytes.clone();
            t.plan.apply(
                &t.bytes,
                &mut body,
                Round {
                    k: rounds[i],
                    now_ns: now,
                    prev_ns: prev[i],
                },
            );
            rounds[i] += 1;
            prev[i] = now;
            let points = t.plan.points as u64;
            let bytes = body.len() as u64;
            let sent = Instant::now();
            let outcome = sender.send(Bytes::from(body)).await;
            let latency = sent.elapsed();
            shared.requests.fetch_add(1, Ordering::Relaxed);
            match &outcome {
                Outcome::Failed(_) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    // A refused connection fails at once; do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Outcome::Accepted { rejected } => {
                    shared
                        .points
                        .fetch_add(points.saturating_sub(*rejected), Ordering::Relaxed);
                }
            }
            if shared.phase.load(Ordering::SeqCst) != MEASURING {
                continue;
            }
            tally.record(points, bytes, latency, outcome);
            let measured = shared.measured.fetch_add(1, Ordering::SeqCst) + 1;
            if shared.limit.is_some_and(|limit| measured >= limit) {
                shared.done.notify_one();
            }
        }
    }
    tally
}

/// One stderr line per second: accepted points/s, requests, errors.
async fn progress(shared: Arc<Shared>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_points = 0;
    loop {
        tick.tick().await;
        let points = shared.points.load(Ordering::Relaxed);
        let phase = match shared.phase.load(Ordering::Relaxed) {
            WARMUP => "warm-up",
            MEASURING => "measuring",
            _ => "stopping",
        };
        eprintln!(
            "vigil-load: {:>4.0}s {phase:<9} {:>10} points/s  requests {:>8}  errors {}",
            started.elapsed().as_secs_f64(),
            points - last_points,
            shared.requests.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed),
        );
        last_points = points;
    }
}

/// Peak VmRSS per measured process, sampled during the window.
struct MemoryWatch {
    pids: Vec<u32>,
    peaks: Vec<AtomicU64>,
}

impl MemoryWatch {
    fn new(pids: &[u32]) -> MemoryWatch {
        MemoryWatch {
            pids: pids.to_vec(),
            peaks: pids.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn peak(&self, i: usize) -> u64 {
        self.peaks[i].load(Ordering::Relaxed)
    }
}

/// Every 100 ms while measuring: read each process's VmRSS and keep the highest.
async fn sample_memory(watch: Arc<MemoryWatch>, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if shared.phase.load(Ordering::Relaxed) != MEASURING {
            continue;
        }
        for (i, &pid) in watch.pids.iter().enumerate() {
            if let Some(m) = procstat::memory(pid) {
                watch.peaks[i].fetch_max(m.rss_kib, Ordering::Relaxed);
            }
        }
    }
}

/// Nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

//! `vigil-load`: Vigil's end-to-end benchmark tools, run against real
//! binaries from outside the process.
//!
//! `load` drives a collector with OTLP metrics and measures it (throughput,
//! latency, and the target's CPU and memory from /proc); `sink` is the OTLP
//! endpoint a forwarding collector exports to. `scripts/bench-compare` runs
//! both against Vigil and its peers. This file only parses flags and
//! dispatches; the work is in the library (`lib.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use vigil_load::client::Target;
use vigil_load::generate::{Mix, Shape, Temporality};
use vigil_load::scrape::Scraper;
use vigil_load::{load, sink};

#[derive(Parser, Debug)]
#[command(
    name = "vigil-load",
    version,
    about = "End-to-end OTLP load generator and sink"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send OTLP metrics in a closed loop and report throughput, latency and the
    /// target's CPU and memory.
    Load(LoadArgs),
    /// Accept OTLP (gRPC and HTTP) and, with --remote-write, Prometheus remote-write;
    /// count it, serve the counts on GET /count.
    Sink(SinkArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["grpc", "http"]))]
struct LoadArgs {
    /// OTLP/gRPC target, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    grpc: Option<String>,
    /// OTLP/HTTP target base URL; requests go to URL/v1/metrics (protobuf).
    #[arg(long, value_name = "URL")]
    http: Option<String>,
    /// Distinct series; one round sends each once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    series: usize,
    /// Points per request.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    batch: usize,
    /// Attributes per series.
    #[arg(long, default_value_t = 3, value_name = "N")]
    attrs: usize,
    /// Distinct resources (services).
    #[arg(long, default_value_t = 10, value_name = "N")]
    resources: usize,
    /// Percent of counters, gauges and histograms.
    #[arg(long, default_value = "50,30,20", value_name = "C,G,H", value_parser = Mix::parse)]
    mix: Mix,
    /// Temporality of counters and histograms.
    #[arg(long, value_enum, default_value_t = TemporalityArg::Cumulative)]
    temporality: TemporalityArg,
    /// Closed-loop workers, each with one request in flight (0 with --scrape: no load,
    /// only the scrapes).
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    /// gRPC connections the workers share (HTTP opens one per worker).
    #[arg(long, default_value_t = 1, value_name = "N")]
    connections: usize,
    /// Length of the measured window (default 20s unless --requests is given).
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many measured requests (the earlier of this and --duration).
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Warm-up before the measured window, excluded from every figure.
    #[arg(long, default_value = "2s", value_name = "DUR", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Gzip request bodies (costs the generator CPU per request).
    #[arg(long)]
    gzip: bool,
    /// Per-request deadline (and each scrape's, with --scrape).
    #[arg(long, default_value = "10s", value_name = "DUR", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// A process to measure (CPU-seconds, RSS); repeatable.
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// A sink's GET /count URL, read as the measured window opens and closes; the
    /// report then has what the sink received in the window (`sink_window`).
    #[arg(long, value_name = "URL")]
    sink_count: Option<String>,
    /// Through the measured window, GET this Prometheus endpoint (plain HTTP/1.1) in a loop
    /// and report each scrape's time to the last body byte, bytes and sample lines.
    #[arg(long, value_name = "URL")]
    scrape: Option<String>,
    /// Time from one scrape's start to the next's (0: back to back).
    #[arg(long, default_value = "0s", value_name = "DUR", value_parser = humantime::parse_duration, requires = "scrape")]
    scrape_interval: Duration,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TemporalityArg {
    Cumulative,
    Delta,
}

#[derive(Args, Debug)]
struct SinkArgs {
    /// OTLP/gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    grpc: SocketAddr,
    /// OTLP/HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    http: SocketAddr,
    /// Admin listen address (GET /count).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    admin: SocketAddr,
    /// Also accept Prometheus remote-write 1.0 and 2.0 (POST /api/v1/write, snappy) here.
    #[arg(long, value_name = "ADDR")]
    remote_write: Option<SocketAddr>,
    /// Count requests and bytes only; do not decode.
    #[arg(long)]
    no_decode: bool,
    /// Answer the first N requests with --fail-status.
    #[arg(long, default_value_t = 0, value_name = "N")]
    fail_first: u64,
    /// The error for those requests: unavailable, 503, 429 or 400.
    #[arg(long, default_value = "unavailable", value_name = "STATUS", value_parser = sink::FailStatus::parse)]
    fail_status: sink::FailStatus,
    /// Send Retry-After (HTTP) / RetryInfo (gRPC) with those errors.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    retry_after: Option<Duration>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil-load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Load(args) => runtime.block_on(run_load(args)),
        Command::Sink(args) => runtime.block_on(sink::run(sink::Options {
            grpc: args.grpc,
            http: args.http,
            admin: args.admin,
            remote_write: args.remote_write,
            no_decode: args.no_decode,
            fail_first: args.fail_first,
            fail_status: args.fail_status,
            retry_after: args.retry_after,
        })),
    };
    // Workers still waiting on a stuck target must not hold the process open.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    let target = match (args.grpc, args.http) {
        (Some(addr), None) => Target::Grpc(addr),
        (None, Some(url)) => Target::Http(url),
        _ => anyhow::bail!("give exactly one of --grpc and --http"),
    };
    anyhow::ensure!(args.series > 0, "--series must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.resources > 0, "--resources must be at least 1");
    anyhow::ensure!(
        args.concurrency > 0 || args.scrape.is_some(),
        "--concurrency must be at least 1 (0 only with --scrape)"
    );
    anyhow::ensure!(
        args.concurrency > 0 || args.requests.is_none(),
        "--concurrency 0 sends no requests, so it takes --duration, not --requests"
    );
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(20)),
        (d, _) => d,
    };
    if let Some(d) = duration {
        anyhow::ensure!(!d.is_zero(), "--duration must be greater than zero");
    }
    let scrape = match &args.scrape {
        Some(url) => Some(Scraper::new(url, args.timeout, args.scrape_interval)?),
        None => None,
    };
    let opts = load::Options {
        target,
        shape: Shape {
            series: args.series,
            batch: args.batch,
            attrs: args.attrs,
            resources: args.resources,
            mix: args.mix,
            temporality: match args.temporality {
                TemporalityArg::Cumulative => Temporality::Cumulative,
                TemporalityArg::Delta => Temporality::Delta,
            },
        },
        concurrency: args.concurrency,
        connections: args.connections,
        duration,
        requests: args.requests,
        warmup: args.warmup,
        gzip: args.gzip,
        timeout: args.timeout,
        pids: args.pids,
        sink_count: args.sink_count,
        scrape,
    };
    let report = load::run(opts).await?;
    print!("{}", report.text());
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

//! A read flood against a large store, measured from outside (issue 10): the real binary holds
//! 100,000 series, then 12 clients read `/metrics` (both formats) and the JSON snapshot (both
//! shapes) at once, twice each. Every read gets the whole page or a 503 with `Retry-After`
//! (renders run two at a time and a read waits at most 10 s for its turn), and the collector's
//! resident memory, read from `/proc/<pid>/status`, grows during the flood by a bounded amount
//! and comes back down afterwards: pages are streamed in pieces, never built whole.

mod common;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use common::{memory, start};
use vigil_store::testing::kv;
use vigil_tests::peers::{TempDir, free_port};

const METRICS: usize = 20;
const SERIES_PER_METRIC: usize = 5_000;
const POINTS_PER_REQUEST: usize = 1_000;
const READERS: usize = 12;
const READS_PER_READER: usize = 2;
/// Growth of the peak resident memory over the loaded store's, through the whole flood.
const PEAK_GROWTH_MAX: u64 = 96 << 20;
/// Resident memory left over the loaded store's once the reads are done (the allocator keeps
/// some; before the snapshots were streamed, 636 MiB stayed).
const LEFT_OVER_MAX: u64 = 64 << 20;

/// Points `first..first + POINTS_PER_REQUEST` of the 100,000, as counters of three attributes.
fn request(first: usize, now: u64) -> ExportMetricsServiceRequest {
    let mut metrics: Vec<Metric> = Vec::new();
    for i in first..first + POINTS_PER_REQUEST {
        let (m, s) = (i / SERIES_PER_METRIC, i % SERIES_PER_METRIC);
        let name = format!("read.c{m}");
        if metrics.last().is_none_or(|l| l.name != name) {
            metrics.push(Metric {
                name: name.clone(),
                data: Some(Data::Sum(Sum {
                    data_points: Vec::new(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            });
        }
        if let Some(Metric {
            data: Some(Data::Sum(sum)),
            ..
        }) = metrics.last_mut()
        {
            sum.data_points.push(NumberDataPoint {
                attributes: vec![
                    kv("host", format!("host-{:04}", s / 50)),
                    kv("path", format!("/api/v1/items/{}", s % 50)),
                    kv("status", "200"),
                ],
                start_time_unix_nano: now - 1_000_000_000,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(i as i64)),
                ..Default::default()
            });
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "reads")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// The text every series carries once (its `path` attribute's value), on a page line or in a
/// snapshot.
const SERIES_MARK: &[u8] = b"/api/v1/items/";

/// What one read saw.
#[derive(Debug)]
enum Read {
    /// The whole page: its bytes, and how often a series' `path` value appears in it.
    Page { bytes: u64, samples: u64 },
    /// 503 with `Retry-After`.
    Busy,
}

/// Read `path` with `accept`, piece by piece (the client keeps nothing but counts).
async fn read(client: &reqwest::Client, url: String, accept: &str) -> Read {
    let mut response = client
        .get(&url)
        .header("accept", accept)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    if status == 503 {
        assert!(
            response.headers().contains_key("retry-after"),
            "503 without Retry-After"
        );
        return Read::Busy;
    }
    assert_eq!(status, 200, "GET {url}");
    let (mut bytes, mut samples) = (0u64, 0u64);
    // Every series carries one `path` attribute: count its value across piece boundaries
    // (the last bytes of a piece are kept to be searched with the next).
    let mut window: Vec<u8> = Vec::new();
    while let Some(piece) = response
        .chunk()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    {
        bytes += piece.len() as u64;
        window.extend_from_slice(&piece);
        samples += window
            .windows(SERIES_MARK.len())
            .filter(|w| *w == SERIES_MARK)
            .count() as u64;
        let keep = window.len().min(SERIES_MARK.len() - 1);
        window.drain(..window.len() - keep);
    }
    Read::Page { bytes, samples }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_of_a_large_store_stay_within_a_memory_bound() {
    let dir = TempDir::new("read-flood");
    let (grpc, page) = (free_port(), free_port());
    let config = dir.path().join("reads.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{page}
    metric_expiration: 1h
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"
        ),
    )
    .expect("write the config");
    let vigil = start(&config, &[grpc, page]);
    let pid = vigil.0.id();

    let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .expect("connect");
    let now = vigil_store::store::unix_nanos(std::time::SystemTime::now());
    let series = METRICS * SERIES_PER_METRIC;
    for first in (0..series).step_by(POINTS_PER_REQUEST) {
        let response = client
            .export(request(first, now))
            .await
            .unwrap_or_else(|e| panic!("request at {first} failed: {e}"))
            .into_inner();
        assert_eq!(response.partial_success, None, "at {first}");
    }
    let loaded = memory(pid, "VmRSS");
    // Start the peak over from here (Linux: writing 5 to clear_refs resets VmHWM).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
    eprintln!(
        "read flood: {series} series loaded, RSS {} MiB",
        loaded >> 20
    );

    let started = Instant::now();
    let kinds = [
        ("/metrics", "text/plain"),
        ("/metrics", "application/openmetrics-text; version=1.0.0"),
        ("/api/v1/snapshot", "application/json"),
        ("/api/v1/snapshot?format=otlp", "application/json"),
    ];
    let http = reqwest::Client::new();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for k in 0..READS_PER_READER {
                    let (path, accept) = kinds[(r + k) % kinds.len()];
                    let url = format!("http://127.0.0.1:{page}{path}");
                    seen.push((path, accept, read(&http, url, accept).await));
                }
                seen
            })
        })
        .collect();
    let mut pages = 0;
    for reader in readers {
        for (path, accept, seen) in reader.await.expect("a reader") {
            match seen {
                Read::Busy => {}
                Read::Page { bytes, samples } => {
                    pages += 1;
                    assert!(bytes > series as u64 * 50, "{path} {accept}: {bytes} bytes");
                    // Every series once on the text page and in both snapshots; OpenMetrics
                    // adds a `_created` line.
                    let want = match (path, accept) {
                        ("/metrics", "text/plain") => series as u64,
                        ("/metrics", _) => 2 * series as u64,
                        _ => series as u64,
                    };
                    assert_eq!(samples, want, "{path} {accept}");
                }
            }
        }
    }
    let peak = memory(pid, "VmHWM");
    // The last render gives its memory back once its last piece is written, which on a busy
    // machine can be after the client read it: wait for that, up to 10 s.
    let mut after = memory(pid, "VmRSS");
    for _ in 0..100 {
        if after.saturating_sub(loaded) < LEFT_OVER_MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = memory(pid, "VmRSS");
    }
    eprintln!(
        "read flood: {pages} of {} reads served in {:.1} s; RSS {} MiB loaded, peak {} MiB, {} MiB after",
        READERS * READS_PER_READER,
        started.elapsed().as_secs_f64(),
        loaded >> 20,
        peak >> 20,
        after >> 20
    );
    assert!(pages >= READERS, "only {pages} reads were served");
    assert!(
        peak.saturating_sub(loaded) < PEAK_GROWTH_MAX,
        "the reads took the peak RSS from {} to {} MiB",
        loaded >> 20,
        peak >> 20
    );
    assert!(
        after.saturating_sub(loaded) < LEFT_OVER_MAX,
        "{} MiB stayed resident after the reads (loaded: {} MiB)",
        after >> 20,
        loaded >> 20
    );
    drop(vigil);
}

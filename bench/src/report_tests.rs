use super::*;
use crate::generate::{Mix, Temporality};

#[test]
fn percentiles_use_the_nearest_rank() {
    let hundred: Vec<u32> = (1..=100).collect();
    assert_eq!(percentile(&hundred, 0.50), Some(50));
    assert_eq!(percentile(&hundred, 0.90), Some(90));
    assert_eq!(percentile(&hundred, 0.99), Some(99));
    assert_eq!(percentile(&hundred, 1.0), Some(100));
    assert_eq!(percentile(&hundred, 0.0), Some(1));

    let four = [10, 20, 30, 40];
    assert_eq!(percentile(&four, 0.50), Some(20));
    assert_eq!(percentile(&four, 0.51), Some(30));
    assert_eq!(percentile(&four, 0.99), Some(40));

    assert_eq!(percentile(&[7], 0.99), Some(7));
    assert_eq!(percentile(&[], 0.5), None);
}

#[test]
fn latency_figures_are_in_milliseconds() {
    let mut us: Vec<u32> = (1..=1000).rev().map(|i| i * 1000).collect();
    let l = Latency::from_micros(&mut us);
    assert_eq!(l.p50, 500.0);
    assert_eq!(l.p90, 900.0);
    assert_eq!(l.p99, 990.0);
    assert_eq!(l.max, 1000.0);
    assert_eq!(l.mean, 500.5);
    assert_eq!(Latency::from_micros(&mut []), Latency::default());
}

#[test]
fn points_per_cpu_second_divides_accepted_points_by_cpu_time() {
    assert_eq!(points_per_cpu_second(1_000_000, 2.0), Some(500_000.0));
    assert_eq!(points_per_cpu_second(1_000, 0.25), Some(4_000.0));
    assert_eq!(points_per_cpu_second(1_000, 0.0), None);
}

#[test]
fn tally_counts_outcomes_and_merges() {
    let ms = Duration::from_millis;
    let mut a = Tally::default();
    a.record(1000, 150_000, ms(2), Outcome::Accepted { rejected: 0 });
    a.record(1000, 150_000, ms(4), Outcome::Accepted { rejected: 10 });
    let mut b = Tally::default();
    b.record(
        500,
        70_000,
        ms(1),
        Outcome::Failed("grpc UNAVAILABLE".into()),
    );
    b.record(
        500,
        70_000,
        ms(9),
        Outcome::Failed("grpc UNAVAILABLE".into()),
    );
    b.record(500, 70_000, ms(3), Outcome::Accepted { rejected: 9_999 });
    a.merge(b);
    assert_eq!(a.requests, 5);
    assert_eq!(a.ok, 3);
    assert_eq!(a.points_sent, 3_500);
    assert_eq!(
        a.points_rejected,
        10 + 500,
        "rejected is capped at the request's points"
    );
    assert_eq!(a.points_accepted, 1_990);
    assert_eq!(a.errors["grpc UNAVAILABLE"], 2);
    assert_eq!(a.latencies_us.len(), 5);
}

#[test]
fn report_divides_by_the_window() {
    let mut tally = Tally::default();
    for _ in 0..10 {
        tally.record(
            1000,
            1,
            Duration::from_millis(1),
            Outcome::Accepted { rejected: 0 },
        );
    }
    let settings = Settings {
        shape: Shape {
            series: 10_000,
            batch: 1_000,
            attrs: 3,
            resources: 10,
            mix: Mix {
                counters: 50,
                gauges: 30,
                histograms: 20,
            },
            temporality: Temporality::Cumulative,
        },
        concurrency: 8,
        connections: 1,
        gzip: false,
        warmup_seconds: 2.0,
        duration_seconds: Some(4.0),
        requests_limit: None,
        requests_per_round: 10,
    };
    let process = Process {
        pid: 1,
        cpu_seconds: Some(0.5),
        points_per_cpu_second: points_per_cpu_second(10_000, 0.5),
        ..Process::default()
    };
    let r = Report::new(
        "grpc://x".into(),
        "now".into(),
        settings,
        Duration::from_secs(4),
        tally,
        12_000,
        vec![process],
        None,
    );
    assert_eq!(r.points.per_second, 2_500.0);
    // Warm-up included: the figure the sink's count is compared with.
    assert_eq!(r.points.accepted_whole_run, 12_000);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["points"]["accepted"], 10_000);
    assert_eq!(json["settings"]["series"], 10_000);
    assert_eq!(json["settings"]["temporality"], "cumulative");
    assert!(r.text().contains("2500 points/s"));
    assert!(
        json.get("sink_window").is_none(),
        "left out without --sink-count"
    );
    let start = serde_json::json!({"metrics": {"points": 0}, "remote_write": {"v1": {"requests": 1, "samples": 5, "wire_bytes": 9}}});
    let end = serde_json::json!({"metrics": {"points": 0}, "remote_write": {"v1": {"requests": 3, "samples": 25, "wire_bytes": 40}}});
    let r = r.with_sink_window(SinkWindow::new(start, end));
    assert!(r.text().contains(
        "sink        in the window: 0 OTLP points, remote-write v1: 20 samples in 2 requests, 31 wire bytes\n"
    ));
    assert_eq!(
        serde_json::to_value(&r).unwrap()["sink_window"]["delta"]["remote_write"]["v1"]["samples"],
        20
    );
    assert!(
        serde_json::to_value(&r).unwrap().get("scrape").is_none(),
        "left out without --scrape"
    );

    let mut scrapes = crate::scrape::ScrapeTally::default();
    for ms in [120, 80] {
        scrapes.record(crate::scrape::ScrapeOutcome::Ok {
            duration: Duration::from_millis(ms),
            bytes: 3 << 20,
            sample_lines: 880_000,
        });
    }
    let section =
        crate::scrape::ScrapeReport::new("http://p/metrics".into(), Duration::ZERO, scrapes);
    let r = r.with_scrape(section);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["scrape"]["count"], 2);
    assert_eq!(json["scrape"]["duration_ms"]["p50"], 80.0);
    assert_eq!(json["scrape"]["duration_ms"]["max"], 120.0);
    assert_eq!(json["scrape"]["mean_bytes"], 3_145_728.0);
    assert!(r.text().ends_with(
        "scrape      2 scrapes of http://p/metrics, 2 ok, 0 failed\n\
         scrape ms   p50 80.00  p90 120.00  p99 120.00  max 120.00  mean 100.00\n\
         scrape page 3.00 MiB, 880000 sample lines (means over ok scrapes)\n"
    ));
}

#[test]
fn sink_window_is_the_difference_of_two_readings() {
    let start = serde_json::json!({
        "requests": 10, "decoded": true,
        "metrics": {"points": 1_000},
        "remote_write": {"v1": {"samples": 4_400, "wire_bytes": 900}, "v2": {"samples": 0}},
    });
    let end = serde_json::json!({
        "requests": 35, "decoded": true,
        "metrics": {"points": 1_000},
        "remote_write": {"v1": {"samples": 15_400, "wire_bytes": 3_150}, "v2": {"samples": 0}},
        "new": 7,
    });
    let w = SinkWindow::new(start, end);
    assert_eq!(
        w.delta,
        serde_json::json!({
            "requests": 25, "decoded": true,
            "metrics": {"points": 0},
            "remote_write": {"v1": {"samples": 11_000, "wire_bytes": 2_250}, "v2": {"samples": 0}},
            "new": 7,
        })
    );
    assert_eq!(w.start["requests"], 10);
    assert_eq!(w.end["requests"], 35);
}

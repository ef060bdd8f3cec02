use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;

use super::*;
use crate::app;
use crate::config::Config as AppConfig;
use crate::test_support::{int_point, kv, request_with, sum};

const MIB: u64 = 1024 * 1024;

fn settings(yaml: &str) -> Result<Settings, String> {
    serde_yaml::from_str::<Config>(yaml)
        .unwrap()
        .validate(|| Some(1000 * MIB))
}

#[test]
fn keys_validate_as_the_collector_reads_them() {
    assert_eq!(
        settings("check_interval: 1s\nlimit_mib: 100"),
        Ok(Settings {
            check_interval: Duration::from_secs(1),
            soft_limit: 80 * MIB,
            hard_limit: 100 * MIB,
        })
    );
    assert_eq!(
        settings("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 30").map(|s| s.soft_limit),
        Ok(70 * MIB)
    );
    // Percentages of the memory available (1000 MiB here).
    assert_eq!(
        settings("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 10")
            .map(|s| (s.soft_limit, s.hard_limit)),
        Ok((400 * MIB, 500 * MIB))
    );
    for (yaml, err) in [
        ("limit_mib: 100", "check_interval: required (e.g. 1s)"),
        (
            "check_interval: 0s\nlimit_mib: 100",
            "check_interval: must be more than 0",
        ),
        (
            "check_interval: 1s",
            "limit_mib: required (or limit_percentage)",
        ),
        (
            "check_interval: 1s\nlimit_mib: 100\nlimit_percentage: 50",
            "limit_mib: set together with limit_percentage; use one",
        ),
        (
            "check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100",
            "spike_limit_mib: must be below the limit (refusing starts at limit minus spike)",
        ),
        (
            "check_interval: 1s\nlimit_percentage: 101",
            "limit_percentage: 101 is not between 1 and 100",
        ),
    ] {
        assert_eq!(settings(yaml), Err(err.to_owned()), "{yaml}");
    }
    let e = serde_yaml::from_str::<Config>("check_interval: 1s\nballast_size_mib: 5").unwrap_err();
    assert!(
        e.to_string().contains("unknown field `ballast_size_mib`"),
        "{e}"
    );
}

#[test]
fn it_refuses_above_the_soft_limit_and_recovers_below_it() {
    let used = Arc::new(AtomicU64::new(10 * MIB));
    let meter: Meter = {
        let used = used.clone();
        Arc::new(move || Some(used.load(Ordering::Relaxed)))
    };
    let s = Settings {
        check_interval: Duration::from_secs(1),
        soft_limit: 80 * MIB,
        hard_limit: 100 * MIB,
    };
    let limiter = MemoryLimiter::new("memory_limiter", s, meter);
    assert!(limiter.admit().is_ok());
    used.store(90 * MIB, Ordering::Relaxed);
    limiter.check();
    let refused = limiter.admit().unwrap_err();
    assert_eq!(refused.retry_after, Some(RETRY_AFTER));
    assert!(!refused.permanent);
    assert_eq!(
        refused.reason,
        "the collector's memory is above the soft limit of processor memory_limiter (80 MiB); retry later"
    );
    used.store(79 * MIB, Ordering::Relaxed);
    limiter.check();
    assert!(limiter.admit().is_ok());
}

#[test]
fn this_process_resident_set_is_read() {
    let rss = resident_bytes().expect("/proc/self/statm");
    assert!(rss > MIB, "{rss}");
    assert!(available_bytes().is_some_and(|a| a > rss));
}

#[tokio::test]
async fn a_pipeline_over_its_limit_answers_503_with_retry_after() {
    // 1 MiB: below any process' resident set, so the limiter refuses from its first check.
    let yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
        processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: 1\n    spike_limit_mib: 0\n\
        exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
        service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [memory_limiter]\n      exporters: [prometheus]\n";
    let vigil = app::start(&AppConfig::from_yaml_str(yaml, "limiter").unwrap())
        .await
        .unwrap();
    let body = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "a")])])]).encode_to_vec();
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", vigil.http_addr.unwrap()))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 0);
    vigil.shutdown().await;
}

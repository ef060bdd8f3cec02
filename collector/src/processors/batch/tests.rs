//! The batch processor: its configuration, the cutting of groups, and the batcher's triggers,
//! acknowledgements and shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, ResourceMetrics, ScopeMetrics, metric::Data,
};
use prost::Message;

use super::split::{Piece, pieces};
use super::{Config, Settings};
use crate::pipeline::Refused;
use crate::pipeline::batch::{Batcher, Downstream};
use crate::pipeline::scan::random::{self, Rng};
use crate::pipeline::scan::scan;
use crate::pipeline::{Batch, BoxFuture, Signal};
use crate::test_support::{gauge, int_point, kv, request_from, resource_metrics};

// === Configuration ===

fn parse(yaml: &str) -> Result<Settings, String> {
    let config: Config = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    config.validate()
}

#[test]
fn defaults_are_the_collectors() {
    assert_eq!(
        serde_yaml::from_str::<Config>("{}").unwrap(),
        Config::default()
    );
    let settings = parse("{}").unwrap();
    assert_eq!(settings, Settings::default());
    assert_eq!(settings.send_batch_size, 8192);
    assert_eq!(settings.send_batch_max_size, None);
    assert_eq!(settings.timeout, Duration::from_millis(200));
}

#[test]
fn reads_every_key() {
    let settings = parse("send_batch_size: 100\nsend_batch_max_size: 250\ntimeout: 1m30s").unwrap();
    let want = Settings {
        send_batch_size: 100,
        send_batch_max_size: Some(250),
        timeout: Duration::from_secs(90),
    };
    assert_eq!(settings, want);
    assert_eq!(parse("timeout: 0").unwrap().timeout, Duration::ZERO);
    assert_eq!(
        parse("send_batch_size: 5\nsend_batch_max_size: 5")
            .unwrap()
            .send_batch_max_size,
        Some(5)
    );
    assert_eq!(
        parse("send_batch_max_size: 0").unwrap().send_batch_max_size,
        None
    );
}

#[test]
fn refuses_bad_values_naming_the_key() {
    let cases = [
        (
            "send_batch_size: 100\nsend_batch_max_size: 99",
            "send_batch_max_size: 99 is less than",
        ),
        (
            "send_batch_max_size: 10",
            "send_batch_max_size: 10 is less than send_batch_size (8192)",
        ),
        ("timeout: 5", "timeout: "),
        ("timeout: fast", "timeout: "),
        ("timeout: -1s", "timeout: "),
    ];
    for (yaml, want) in cases {
        let err = parse(yaml).unwrap_err();
        assert!(err.starts_with(want), "{yaml:?}: {err}");
    }
}

#[test]
fn refuses_metadata_keys_as_unknown() {
    for key in [
        "metadata_keys: [tenant]",
        "metadata_cardinality_limit: 10",
        "send_batch_sise: 1",
    ] {
        let err = parse(key).unwrap_err();
        assert!(err.contains("unknown field"), "{key}: {err}");
    }
}

// === Fixtures ===

/// A metrics batch of one resource (`id` = `id`) with one gauge of `points` points.
fn metrics_batch(id: &str, points: usize) -> Batch {
    let points = (0..points)
        .map(|i| int_point(i as i64, vec![]))
        .collect::<Vec<_>>();
    let n = points.len() as u64;
    let request = request_from(vec![resource_metrics(
        vec![kv("id", id)],
        vec![gauge("g", points)],
    )]);
    Batch {
        signal: Signal::Metrics,
        body: request.encode_to_vec().into(),
        items: n,
        tenant: None,
    }
}

fn batch_of(signal: Signal, body: Vec<u8>) -> Batch {
    let items = scan(signal, &body).unwrap().items;
    Batch {
        signal,
        body: body.into(),
        items,
        tenant: None,
    }
}

/// A downstream recording what it is sent and answering call `n` (from 0) with `answer(n)`.
fn recording(
    answer: impl Fn(usize) -> Result<(), Refused> + Send + Sync + 'static,
) -> (Downstream, Arc<Mutex<Vec<Batch>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&sent);
    let downstream: Downstream = Arc::new(move |batch: Batch| {
        let call = {
            let mut log = log.lock().unwrap();
            log.push(batch);
            log.len() - 1
        };
        let answer = answer(call);
        Box::pin(async move { answer })
    });
    (downstream, sent)
}

fn settings(send_batch_size: u64, send_batch_max_size: Option<u64>, timeout: Duration) -> Settings {
    Settings {
        send_batch_size,
        send_batch_max_size,
        timeout,
    }
}

fn full() -> Refused {
    Refused::unavailable("the otlp exporter's queue is full", Duration::from_secs(1))
}

/// Lets spawned tasks run (the tests run on one thread).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Every item of a request with the resource, scope and metric around it, as text, sorted:
/// two requests hold the same items in the same places exactly when these are equal.
fn items_in(signal: Signal, body: &[u8]) -> Vec<String> {
    let mut items = Vec::new();
    match signal {
        Signal::Metrics => {
            for rm in ExportMetricsServiceRequest::decode(body)
                .unwrap()
                .resource_metrics
            {
                let resource = format!("{:?}{:?}", rm.resource, rm.schema_url);
                for sm in rm.scope_metrics {
                    let scope = format!("{:?}{:?}", sm.scope, sm.schema_url);
                    for metric in sm.metrics {
                        for point in metric_points(metric) {
                            items.push(format!("{resource}|{scope}|{point}"));
                        }
                    }
                }
            }
        }
        Signal::Traces => {
            for rs in ExportTraceServiceRequest::decode(body)
                .unwrap()
                .resource_spans
            {
                let resource = format!("{:?}{:?}", rs.resource, rs.schema_url);
                for ss in rs.scope_spans {
                    let scope = format!("{:?}{:?}", ss.scope, ss.schema_url);
                    items.extend(ss.spans.iter().map(|s| format!("{resource}|{scope}|{s:?}")));
                }
            }
        }
        Signal::Logs => {
            for rl in ExportLogsServiceRequest::decode(body)
                .unwrap()
                .resource_logs
            {
                let resource = format!("{:?}{:?}", rl.resource, rl.schema_url);
                for sl in rl.scope_logs {
                    let scope = format!("{:?}{:?}", sl.scope, sl.schema_url);
                    items.extend(
                        sl.log_records
                            .iter()
                            .map(|l| format!("{resource}|{scope}|{l:?}")),
                    );
                }
            }
        }
    }
    items.sort();
    items
}

/// A metric's points, each with the metric (without its points) around it.
fn metric_points(mut metric: Metric) -> Vec<String> {
    fn take<P: std::fmt::Debug>(points: &mut Vec<P>) -> Vec<String> {
        std::mem::take(points)
            .iter()
            .map(|p| format!("{p:?}"))
            .collect()
    }
    let points = match metric.data.as_mut() {
        None => return Vec::new(),
        Some(Data::Gauge(d)) => take(&mut d.data_points),
        Some(Data::Sum(d)) => take(&mut d.data_points),
        Some(Data::Histogram(d)) => take(&mut d.data_points),
        Some(Data::ExponentialHistogram(d)) => take(&mut d.data_points),
        Some(Data::Summary(d)) => take(&mut d.data_points),
    };
    let shell = format!("{metric:?}");
    points.into_iter().map(|p| format!("{shell}|{p}")).collect()
}

/// Checks `pieces` against the `batches` they were cut from: at most `max` items each (as
/// counted by a scan of their bytes), and the same items in the same places overall.
fn check_pieces(signal: Signal, batches: &[Batch], pieces: &[Piece], max: u64) {
    let mut got = Vec::new();
    for piece in pieces {
        let found = scan(signal, &piece.body).unwrap();
        assert_eq!(found.items, piece.items);
        assert!(
            piece.items <= max,
            "{} items in a piece, max {max}",
            piece.items
        );
        assert!(piece.slots.start < piece.slots.end && piece.slots.end <= batches.len());
        got.extend(items_in(signal, &piece.body));
    }
    got.sort();
    let mut want: Vec<String> = batches
        .iter()
        .flat_map(|b| items_in(signal, &b.body))
        .collect();
    want.sort();
    assert_eq!(got.len(), want.len(), "items lost or duplicated");
    assert!(got == want, "items changed");
}

// === Cutting groups ===

#[test]
fn a_group_within_the_limit_is_the_concatenation_of_its_bodies() {
    let batches = [metrics_batch("a", 2), metrics_batch("b", 3)];
    let cut = pieces(Signal::Metrics, &batches, Some(5));
    assert_eq!(cut.len(), 1);
    assert_eq!(
        cut[0].body,
        [batches[0].body.clone(), batches[1].body.clone()].concat()
    );
    assert_eq!((cut[0].items, cut[0].slots.clone()), (5, 0..2));
    // One batch is passed on without a copy.
    let cut = pieces(Signal::Metrics, &batches[..1], None);
    assert_eq!(cut[0].body.as_ptr(), batches[0].body.as_ptr());
}

#[test]
fn cuts_between_resources_without_decoding() {
    let resources = (0..10)
        .map(|i| {
            let points = (0..3).map(|v| int_point(v, vec![])).collect();
            resource_metrics(vec![kv("id", i)], vec![gauge("g", points)])
        })
        .collect();
    let batch = batch_of(Signal::Metrics, request_from(resources).encode_to_vec());
    let cut = pieces(Signal::Metrics, std::slice::from_ref(&batch), Some(7));
    let sizes: Vec<u64> = cut.iter().map(|p| p.items).collect();
    assert_eq!(sizes, [6, 6, 6, 6, 6]);
    // Each piece is a slice of the body as received.
    for piece in &cut {
        let start = piece.body.as_ptr() as usize - batch.body.as_ptr() as usize;
        assert_eq!(
            piece.body,
            batch.body.slice(start..start + piece.body.len())
        );
    }
    check_pieces(Signal::Metrics, &[batch], &cut, 7);
}

#[test]
fn cuts_a_large_resource_by_scope_then_by_points() {
    let scope = |name: &str, points: i64| ScopeMetrics {
        metrics: vec![gauge(
            name,
            (0..points).map(|v| int_point(v, vec![])).collect(),
        )],
        ..Default::default()
    };
    let resource = ResourceMetrics {
        scope_metrics: vec![scope("a", 4), scope("b", 4), scope("c", 10)],
        ..resource_metrics(vec![kv("id", "big")], vec![])
    };
    let batch = batch_of(
        Signal::Metrics,
        request_from(vec![resource]).encode_to_vec(),
    );
    let cut = pieces(Signal::Metrics, std::slice::from_ref(&batch), Some(6));
    let sizes: Vec<u64> = cut.iter().map(|p| p.items).collect();
    // a; b with the first 2 points of c; then c's points 6 at a time.
    assert_eq!(sizes, [4, 6, 6, 2]);
    check_pieces(Signal::Metrics, &[batch], &cut, 6);
}

#[test]
fn cutting_random_groups_loses_and_duplicates_nothing() {
    let mut rng = Rng::new(7);
    for round in 0..300 {
        let signal = Signal::ALL[round % 3];
        let batches: Vec<Batch> = (0..=rng.below(4))
            .map(|_| batch_of(signal, random::request(&mut rng, signal, 5)))
            .collect();
        let max = 1 + rng.below(30) as u64;
        let cut = pieces(signal, &batches, Some(max));
        check_pieces(signal, &batches, &cut, max);
        // Every batch holding items is in the slots of some piece.
        for (slot, batch) in batches.iter().enumerate() {
            if batch.items > 0 {
                assert!(
                    cut.iter().any(|p| p.slots.contains(&slot)),
                    "round {round}: slot {slot}"
                );
            }
        }
    }
}

#[test]
fn a_body_that_does_not_scan_is_sent_whole() {
    let good = metrics_batch("a", 4);
    let bad = Batch {
        signal: Signal::Metrics,
        body: Bytes::from_static(&[0x0a, 0x09, 0x00]),
        items: 9,
        tenant: None,
    };
    let cut = pieces(Signal::Metrics, &[good.clone(), bad.clone()], Some(4));
    assert_eq!(cut.len(), 2);
    assert_eq!(
        (cut[0].body.clone(), cut[0].slots.clone()),
        (good.body, 0..1)
    );
    assert_eq!(
        (cut[1].body.clone(), cut[1].items, cut[1].slots.clone()),
        (bad.body, 9, 1..2)
    );
}

// === The batcher ===

#[tokio::test]
async fn merged_group_decodes_to_the_union_of_its_requests() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Batcher::new(
        settings(10, None, Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    );
    let batches = [
        metrics_batch("a", 3),
        metrics_batch("b", 3),
        metrics_batch("c", 4),
    ];
    let (a, b, c) = tokio::join!(
        batcher.submit(batches[0].clone()),
        batcher.submit(batches[1].clone()),
        batcher.submit(batches[2].clone()),
    );
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].items, 10);
    let merged = ExportMetricsServiceRequest::decode(sent[0].body.clone()).unwrap();
    let union = ExportMetricsServiceRequest {
        resource_metrics: batches
            .iter()
            .flat_map(|b| {
                ExportMetricsServiceRequest::decode(b.body.clone())
                    .unwrap()
                    .resource_metrics
            })
            .collect(),
    };
    assert_eq!(merged, union);
}

#[tokio::test]
async fn sends_once_the_group_reaches_send_batch_size() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Arc::new(Batcher::new(
        settings(10, None, Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    ));
    let first = tokio::spawn({
        let batcher = Arc::clone(&batcher);
        async move { batcher.submit(metrics_batch("a", 4)).await }
    });
    settle().await;
    assert!(sent.lock().unwrap().is_empty());
    assert!(!first.is_finished(), "answered before its group was sent");
    assert_eq!(batcher.submit(metrics_batch("b", 7)).await, Ok(()));
    assert_eq!(first.await.unwrap(), Ok(()));
    let sent = sent.lock().unwrap();
    assert_eq!(sent.iter().map(|b| b.items).collect::<Vec<_>>(), [11]);
}

#[tokio::test(start_paused = true)]
async fn sends_at_timeout_after_the_first_batch() {
    let (downstream, sent) = recording(|_| Ok(()));
    let timeout = Duration::from_millis(200);
    let batcher = Arc::new(Batcher::new(
        settings(100, None, timeout),
        Signal::Metrics,
        downstream,
    ));
    let submit = |batch: Batch| {
        let batcher = Arc::clone(&batcher);
        tokio::spawn(async move { batcher.submit(batch).await })
    };
    let first = submit(metrics_batch("a", 3));
    settle().await;
    tokio::time::advance(Duration::from_millis(100)).await;
    let second = submit(metrics_batch("b", 2));
    tokio::time::advance(Duration::from_millis(99)).await;
    settle().await;
    assert!(sent.lock().unwrap().is_empty(), "sent before the timeout");
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(first.await.unwrap(), Ok(()));
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(
        sent.lock()
            .unwrap()
            .iter()
            .map(|b| b.items)
            .collect::<Vec<_>>(),
        [5]
    );
    // The next group has a timer of its own.
    let third = submit(metrics_batch("c", 1));
    settle().await;
    tokio::time::advance(timeout).await;
    assert_eq!(third.await.unwrap(), Ok(()));
    assert_eq!(sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn cuts_groups_over_send_batch_max_size() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Batcher::new(
        settings(20, Some(8), Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    );
    let batches = [
        metrics_batch("a", 7),
        metrics_batch("b", 9),
        metrics_batch("c", 5),
    ];
    let results = tokio::join!(
        batcher.submit(batches[0].clone()),
        batcher.submit(batches[1].clone()),
        batcher.submit(batches[2].clone()),
    );
    assert_eq!(results, (Ok(()), Ok(()), Ok(())));
    let sent = sent.lock().unwrap();
    // a with b's first point (b alone is over the limit, so it is cut to fill the room left);
    // the rest of b; c, which fits in an empty piece but not in the room left.
    assert_eq!(sent.iter().map(|b| b.items).collect::<Vec<_>>(), [8, 8, 5]);
    let pieces: Vec<Piece> = sent
        .iter()
        .map(|b| Piece {
            body: b.body.clone(),
            items: b.items,
            slots: 0..3,
        })
        .collect();
    check_pieces(Signal::Metrics, &batches, &pieces, 8);
}

#[tokio::test]
async fn a_refusal_reaches_every_submitter_of_the_group() {
    let (downstream, sent) = recording(|_| Err(full()));
    let batcher = Batcher::new(
        settings(9, None, Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    );
    let results = tokio::join!(
        batcher.submit(metrics_batch("a", 3)),
        batcher.submit(metrics_batch("b", 3)),
        batcher.submit(metrics_batch("c", 3)),
    );
    assert_eq!(results, (Err(full()), Err(full()), Err(full())));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_piece_refuses_only_the_batches_in_it() {
    let (downstream, sent) = recording(|call| if call == 1 { Err(full()) } else { Ok(()) });
    let batcher = Batcher::new(
        settings(15, Some(5), Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    );
    let results = tokio::join!(
        batcher.submit(metrics_batch("a", 5)),
        batcher.submit(metrics_batch("b", 5)),
        batcher.submit(metrics_batch("c", 5)),
    );
    assert_eq!(results, (Ok(()), Err(full()), Ok(())));
    assert_eq!(sent.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn shutdown_sends_what_is_pending() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Arc::new(Batcher::new(
        settings(100, None, Duration::from_secs(3600)),
        Signal::Metrics,
        downstream,
    ));
    let pending = tokio::spawn({
        let batcher = Arc::clone(&batcher);
        async move { batcher.submit(metrics_batch("a", 3)).await }
    });
    settle().await;
    assert!(sent.lock().unwrap().is_empty());
    batcher.shutdown().await;
    assert_eq!(sent.lock().unwrap().len(), 1);
    assert_eq!(pending.await.unwrap(), Ok(()));
    // Afterwards each batch goes on its own, at once.
    assert_eq!(batcher.submit(metrics_batch("b", 1)).await, Ok(()));
    assert_eq!(sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn zero_size_or_timeout_sends_every_batch_on_its_own() {
    for settings in [
        settings(0, None, Duration::from_secs(60)),
        settings(100, None, Duration::ZERO),
    ] {
        let (downstream, sent) = recording(|_| Ok(()));
        let batcher = Batcher::new(settings, Signal::Metrics, downstream);
        assert_eq!(batcher.submit(metrics_batch("a", 2)).await, Ok(()));
        assert_eq!(batcher.submit(metrics_batch("b", 2)).await, Ok(()));
        assert_eq!(sent.lock().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_submitter_that_goes_away_does_not_lose_its_group() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Arc::new(Batcher::new(
        settings(10, None, Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    ));
    let gone = tokio::spawn({
        let batcher = Arc::clone(&batcher);
        async move { batcher.submit(metrics_batch("a", 6)).await }
    });
    settle().await;
    gone.abort();
    assert_eq!(batcher.submit(metrics_batch("b", 6)).await, Ok(()));
    assert_eq!(
        sent.lock()
            .unwrap()
            .iter()
            .map(|b| b.items)
            .collect::<Vec<_>>(),
        [12]
    );
}

#[tokio::test]
async fn a_downstream_that_panics_gets_submitters_refused_not_stuck() {
    let downstream: Downstream = Arc::new(|_: Batch| -> BoxFuture<'static, Result<(), Refused>> {
        panic!("downstream bug")
    });
    let batcher = Batcher::new(
        settings(2, None, Duration::from_secs(60)),
        Signal::Metrics,
        downstream,
    );
    let (a, b) = tokio::join!(
        batcher.submit(metrics_batch("a", 1)),
        batcher.submit(metrics_batch("b", 1))
    );
    assert!(a.is_err() && b.is_err());
    // Shutdown does not wait for the dead send.
    tokio::time::timeout(Duration::from_secs(5), batcher.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn refuses_a_batch_of_another_signal() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Batcher::new(Settings::default(), Signal::Traces, downstream);
    let refused = batcher.submit(metrics_batch("a", 1)).await.unwrap_err();
    assert!(
        refused.reason.contains("metrics batch"),
        "{}",
        refused.reason
    );
    assert!(sent.lock().unwrap().is_empty());
}

#[test]
fn submit_can_run_on_any_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let (downstream, _) = recording(|_| Ok(()));
    let batcher = Batcher::new(Settings::default(), Signal::Metrics, downstream);
    assert_send(&batcher.submit(metrics_batch("a", 1)));
    assert_send(&batcher.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_submitters_are_all_answered_once_sent() {
    let (downstream, sent) = recording(|_| Ok(()));
    let batcher = Arc::new(Batcher::new(
        settings(50, Some(64), Duration::from_millis(2)),
        Signal::Metrics,
        downstream,
    ));
    let mut tasks = Vec::new();
    for task in 0..16 {
        let batcher = Arc::clone(&batcher);
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let points = 1 + (task * 7 + i * 3) % 5;
                let id = format!("{task}/{i}");
                let batch = metrics_batch(&id, points);
                batcher.submit(batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
    batcher.shutdown().await;
    // Every batch arrived exactly once, whole.
    let mut seen = BTreeMap::new();
    for batch in sent.lock().unwrap().iter() {
        assert!(batch.items <= 64);
        for rm in ExportMetricsServiceRequest::decode(batch.body.clone())
            .unwrap()
            .resource_metrics
        {
            let id = format!("{:?}", rm.resource.unwrap().attributes);
            let points: usize = rm
                .scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(|m| random::points(m) as usize)
                .sum();
            *seen.entry(id).or_insert(0) += points;
        }
    }
    assert_eq!(seen.len(), 1600);
    for task in 0..16 {
        for i in 0..100 {
            let id = format!("{:?}", vec![kv("id", format!("{task}/{i}").as_str())]);
            assert_eq!(
                seen.get(&id),
                Some(&(1 + (task * 7 + i * 3) % 5)),
                "{task}/{i}"
            );
        }
    }
}

//! Side by side with the OpenTelemetry Collector's `prometheusremotewrite` exporter: the same
//! OTLP into both, each writing into its own Prometheus; the series that land (names, label
//! sets, values) are the same. [`DECISIONS`] would list a difference that is a documented
//! decision of Vigil's translation; for counters, gauges, histograms and `target_info` there is
//! none (otelcol v0.161.0).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use vigil_tests::peers::{Otelcol, QuerySample, Tsdb, free_port};

use super::otlp::{counter, gauge, histogram, now_ns, request, send};
use super::{WAIT, addr, vigil};

/// Labels that one side writes and the other does not, with the reason.
const DECISIONS: &[(&str, &str)] = &[];

fn all_series(tsdb: &Tsdb, count: usize) -> BTreeMap<String, f64> {
    tsdb.wait_for_query("{__name__=~\".+\"}", |got| got.len() >= count, WAIT)
        .into_iter()
        .map(|QuerySample { labels, value }| (format!("{labels:?}"), value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_and_otelcol_write_the_same_series() {
    let (ours, theirs) = super::blocking(|| (Tsdb::prometheus2(), Tsdb::prometheus2()));
    let vigil = vigil(&ours.remote_write_url(), "").await;
    let port = free_port();
    let mut otelcol = Otelcol::start(&format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}\n\
         exporters:\n  prometheusremotewrite:\n    endpoint: {}\n\
         service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheusremotewrite]\n",
        theirs.remote_write_url()
    ));
    let otelcol_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    super::blocking(|| otelcol.wait_ready(otelcol_addr));
    let t1 = now_ns();
    let t0 = t1 - 30_000_000_000;
    let req = request(
        "checkout",
        vec![
            counter("orders", false, 7, t0, t1),
            gauge("queue.depth", 12.5, t1),
            histogram("latency", [10, 20, 10, 0], 9.0, t0, t1),
        ],
    );
    send(addr(&vigil), req.clone()).await;
    send(otelcol_addr, req).await;
    // orders, queue_depth, 4 buckets + sum + count, target_info.
    let expected = 9;
    let ours_got = super::blocking(|| all_series(&ours, expected));
    let theirs_got = super::blocking(|| all_series(&theirs, expected));
    let only_ours: Vec<_> = ours_got
        .iter()
        .filter(|(k, _)| !theirs_got.contains_key(*k))
        .collect();
    let only_theirs: Vec<_> = theirs_got
        .iter()
        .filter(|(k, _)| !ours_got.contains_key(*k))
        .collect();
    let differing: Vec<_> = ours_got
        .iter()
        .filter(|(k, v)| theirs_got.get(*k).is_some_and(|t| t != *v))
        .collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty() && differing.is_empty(),
        "documented decisions: {DECISIONS:?}\nonly Vigil wrote: {only_ours:#?}\nonly otelcol wrote: {only_theirs:#?}\ndifferent values: {differing:#?}"
    );
    assert_eq!(ours_got.len(), expected);
    vigil.shutdown().await;
}

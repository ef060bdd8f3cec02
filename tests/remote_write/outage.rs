//! The database down for 20 s, then back: every sample written during the outage arrives, in
//! order (a sample out of order would be refused by Prometheus and missing from the count).

use std::time::Duration;

use vigil_tests::peers::{QuerySample, Tsdb};

use super::otlp::{counter, now_ns, request, send};
use super::{WAIT, addr, series, vigil};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_second_outage_loses_no_sample_and_keeps_their_order() {
    let mut tsdb = super::blocking(Tsdb::prometheus2);
    let vigil = vigil(&tsdb.remote_write_url(), "").await;
    let start = now_ns() - 1_000_000_000;
    // One cumulative point a second for 30 s; the database is down from the 5th to the 25th.
    const POINTS: i64 = 30;
    for i in 0..POINTS {
        match i {
            5 => super::blocking(|| tsdb.stop()),
            25 => super::blocking(|| tsdb.restart()),
            _ => {}
        }
        send(
            addr(&vigil),
            request(
                "checkout",
                vec![counter("outage", false, i + 1, start, now_ns())],
            ),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let labels = super::without_name(series("outage_total", &[("route", "/pay")]));
    let want = |value: f64| {
        vec![QuerySample {
            labels: labels.clone(),
            value,
        }]
    };
    super::expect(
        &tsdb,
        "count_over_time(outage_total[5m])",
        want(POINTS as f64),
    );
    super::expect(
        &tsdb,
        "max_over_time(outage_total[5m])",
        want(POINTS as f64),
    );
    // Increasing values in timestamp order: no reset anywhere in the series.
    super::expect(&tsdb, "resets(outage_total[5m])", want(0.0));
    let _ = WAIT;
    vigil.shutdown().await;
}

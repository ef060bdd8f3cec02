use super::*;

const PAGE: &str = "# HELP http_requests_total Requests.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{code=\"200\"} 1027\n\
                    http_requests_total{code=\"400\"} 3\n\
                    \n\
                    # TYPE temperature gauge\n\
                    temperature 21.5\n\
                    # EOF\n";

fn count(pieces: &[&[u8]]) -> u64 {
    let mut c = LineCounter::default();
    for p in pieces {
        c.feed(p);
    }
    c.sample_lines()
}

#[test]
fn sample_lines_leave_out_comments_and_empty_lines() {
    assert_eq!(count(&[PAGE.as_bytes()]), 3);
    assert_eq!(count(&[]), 0);
    assert_eq!(count(&[b""]), 0);
    assert_eq!(count(&[b"\n\n\n"]), 0);
    assert_eq!(count(&[b"# only a comment"]), 0);
    // The last line need not end with a newline.
    assert_eq!(count(&[b"a 1\nb 2"]), 2);
}

#[test]
fn sample_lines_are_the_same_however_the_body_is_cut() {
    let page = PAGE.as_bytes();
    for size in 1..=page.len() {
        let pieces: Vec<&[u8]> = page.chunks(size).collect();
        assert_eq!(count(&pieces), 3, "pieces of {size} bytes");
    }
    // Cut right after a newline and right before a '#'.
    assert_eq!(count(&[b"a 1\n", b"# x\n", b"b 2\n"]), 2);
    assert_eq!(count(&[b"a 1", b"\n#", b" x\nb", b" 2"]), 2);
    assert_eq!(count(&[b"", b"a", b"", b" 1\n"]), 1);
}

fn ok(ms: u64, bytes: u64, sample_lines: u64) -> ScrapeOutcome {
    ScrapeOutcome::Ok {
        duration: Duration::from_millis(ms),
        bytes,
        sample_lines,
    }
}

#[test]
fn report_has_percentiles_and_means_of_the_ok_scrapes() {
    let mut tally = ScrapeTally::default();
    // Ten OK scrapes of 10, 20, ..., 100 ms; pages of 1,000 + i bytes and 100 + i lines.
    for i in 1..=10u64 {
        tally.record(ok(10 * i, 1_000 + i, 100 + i));
    }
    tally.record(ScrapeOutcome::Failed("transport".into()));
    tally.record(ScrapeOutcome::Failed("http 503".into()));
    tally.record(ScrapeOutcome::Failed("http 503".into()));
    let r = ScrapeReport::new(
        "http://127.0.0.1:9464/metrics".into(),
        Duration::ZERO,
        tally,
    );
    assert_eq!(r.count, 13);
    assert_eq!(r.ok, 10);
    assert_eq!(r.errors, 3);
    assert_eq!(r.errors_by_kind["http 503"], 2);
    assert_eq!(r.errors_by_kind["transport"], 1);
    // Nearest rank over the OK scrapes only: failures take no time that counts.
    assert_eq!(r.duration_ms.p50, 50.0);
    assert_eq!(r.duration_ms.p90, 90.0);
    assert_eq!(r.duration_ms.p99, 100.0);
    assert_eq!(r.duration_ms.max, 100.0);
    assert_eq!(r.duration_ms.mean, 55.0);
    assert_eq!(r.mean_bytes, 1_005.5);
    assert_eq!(r.mean_sample_lines, 105.5);
    assert_eq!(r.interval_seconds, 0.0);

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["count"], 13);
    assert_eq!(json["errors"], 3);
    assert_eq!(json["duration_ms"]["p99"], 100.0);
    assert_eq!(json["mean_sample_lines"], 105.5);

    let text = r.text();
    assert!(
        text.contains("scrape      13 scrapes of http://127.0.0.1:9464/metrics, 10 ok, 3 failed\n"),
        "{text}"
    );
    assert!(
        text.contains("scrape ms   p50 50.00  p90 90.00  p99 100.00  max 100.00  mean 55.00\n"),
        "{text}"
    );
    assert!(
        text.contains("scrape page 0.00 MiB, 106 sample lines"),
        "{text}"
    );
    assert!(text.contains("scrape err  http 503: 2\n"), "{text}");
}

#[test]
fn a_window_without_ok_scrapes_reports_zeros() {
    let mut tally = ScrapeTally::default();
    tally.record(ScrapeOutcome::Failed("timeout".into()));
    let r = ScrapeReport::new("http://x/metrics".into(), Duration::from_secs(15), tally);
    assert_eq!((r.count, r.ok, r.errors), (1, 0, 1));
    assert_eq!(r.duration_ms, Latency::default());
    assert_eq!(r.mean_bytes, 0.0);
    assert_eq!(r.mean_sample_lines, 0.0);
    assert_eq!(r.interval_seconds, 15.0);
    let empty = ScrapeReport::new(
        "http://x/metrics".into(),
        Duration::ZERO,
        ScrapeTally::default(),
    );
    assert_eq!((empty.count, empty.ok, empty.errors), (0, 0, 0));
}

#[test]
fn scraper_takes_only_plain_http_urls() {
    let t = Duration::from_secs(1);
    assert!(Scraper::new("http://127.0.0.1:9464/metrics", t, Duration::ZERO).is_ok());
    assert!(Scraper::new("https://127.0.0.1:9464/metrics", t, Duration::ZERO).is_err());
    assert!(Scraper::new("127.0.0.1:9464", t, Duration::ZERO).is_err());
}

/// A one-shot HTTP/1.1 server on loopback: answers every request on each
/// connection with `status` and `body`, for at most `connections` connections.
async fn serve(status: u16, body: &'static str, connections: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..connections {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                // Bounded: a test client sends a handful of requests.
                for _ in 0..64 {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if socket.write_all(head.as_bytes()).await.is_err()
                            || socket.write_all(body.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}/metrics")
}

#[tokio::test]
async fn a_scrape_reads_the_whole_page() {
    let url = serve(200, PAGE, 1).await;
    let s = Scraper::new(&url, Duration::from_secs(5), Duration::ZERO).unwrap();
    match s.once().await {
        ScrapeOutcome::Ok {
            bytes,
            sample_lines,
            ..
        } => {
            assert_eq!(bytes, PAGE.len() as u64);
            assert_eq!(sample_lines, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn failed_scrapes_are_counted_by_kind() {
    let url = serve(503, "busy\n", 1).await;
    let s = Scraper::new(&url, Duration::from_secs(5), Duration::ZERO).unwrap();
    assert_eq!(s.once().await, ScrapeOutcome::Failed("http 503".into()));

    // Nothing listens on a port just released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = Scraper::new(
        &format!("http://127.0.0.1:{port}/metrics"),
        Duration::from_secs(5),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(s.once().await, ScrapeOutcome::Failed("transport".into()));
}

#[tokio::test]
async fn run_scrapes_until_stopped() {
    let url = serve(200, PAGE, 4).await;
    let s = Scraper::new(&url, Duration::from_secs(5), Duration::ZERO).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(s.run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(tally.scrapes > 0);
    assert!(tally.errors.is_empty(), "{:?}", tally.errors);
    assert_eq!(tally.bytes, tally.scrapes * PAGE.len() as u64);
    assert_eq!(tally.sample_lines, tally.scrapes * 3);

    // Already stopped: no scrape at all.
    let s = Scraper::new(&url, Duration::from_secs(5), Duration::ZERO).unwrap();
    let tally = s.run(stop).await;
    assert_eq!(tally.scrapes, 0);
}

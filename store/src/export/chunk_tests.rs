//! A page written in pieces is the page written whole.

use std::time::Instant;

use super::Encoder;
use super::prometheus::{Format, render, render_chunked};
use crate::store::{AttrValue, Filter, HistogramPoint, Kind, Number, NumberPoint, Options, Store};

const T0: u64 = 1_700_000_000_000_000_000;

/// Three services, each with a counter of 300 series and a histogram of 100.
fn store() -> Store {
    let store = Store::new(Options::default());
    for svc in ["a", "b", "c"] {
        let mut ingest = store.ingest_at(Instant::now());
        let r = ingest
            .resource(&[("service.name", AttrValue::Str(svc))][..], "")
            .unwrap();
        let none: &[(&str, AttrValue<'_>)] = &[];
        let s = ingest.scope(r, "lib", "1", "", none).unwrap();
        let kind = Kind::Sum {
            monotonic: true,
            delta: false,
        };
        let counter = ingest.metric(s, "jobs", "Jobs run.", "", kind).unwrap();
        let histogram = ingest
            .metric(s, "latency", "", "s", Kind::Histogram { delta: false })
            .unwrap();
        for i in 0..300i64 {
            let id = i.to_string();
            let attrs = [("worker", AttrValue::Str(&id))];
            let point = NumberPoint {
                start: T0,
                time: T0 + 1,
                value: Number::Int(i),
            };
            ingest
                .number(counter, &attrs[..], point, false, &[])
                .unwrap();
            if i < 100 {
                let point = HistogramPoint {
                    start: T0,
                    time: T0 + 1,
                    count: 3,
                    sum: Some(1.5),
                    min: None,
                    max: None,
                    bounds: &[0.1, 1.0],
                    counts: &[1, 1, 1],
                };
                ingest
                    .histogram(histogram, &attrs[..], point, false, &[])
                    .unwrap();
            }
        }
    }
    store
}

#[test]
fn pieces_join_into_the_whole_page_and_stay_near_their_size() {
    let snap = store().snapshot(&Filter::default());
    for format in [Format::Text, Format::OpenMetrics] {
        let whole = render(&snap, format);
        assert!(whole.len() > 100_000, "{}", whole.len());
        let mut pieces = Vec::new();
        render_chunked(&snap, format, 4096, &mut |p| {
            pieces.push(p);
            true
        });
        assert_eq!(pieces.concat(), whole);
        // Every piece but the last is at least a chunk, and over it by at most one series'
        // lines (a histogram series here: under 1 KiB).
        let (last, full) = pieces.split_last().unwrap();
        assert!(!last.is_empty());
        for p in full {
            assert!((4096..4096 + 1024).contains(&p.len()), "{}", p.len());
        }
        assert!(pieces.len() > whole.len() / 5120, "{} pieces", pieces.len());
        // The encoder gives the same pieces as bytes.
        let mut bytes = Vec::new();
        super::Prometheus(format).encode_chunked(&snap, 4096, &mut |p| {
            bytes.extend(p);
            true
        });
        assert_eq!(bytes, whole.as_bytes());
    }
}

#[test]
fn a_reader_that_stops_gets_no_more_pieces() {
    let snap = store().snapshot(&Filter::default());
    let mut calls = 0;
    render_chunked(&snap, Format::Text, 4096, &mut |_| {
        calls += 1;
        calls < 3
    });
    assert_eq!(calls, 3);
}

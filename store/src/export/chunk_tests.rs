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

/// Both JSON documents, written in pieces, are the documents serialized whole; one piece runs
/// past the chunk by at most one metric.
#[test]
fn json_documents_in_pieces_are_the_whole_documents() {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};

    use crate::store::otlp::ingest_request;
    use crate::testing::{gauge, int_point, kv, request_from, resource_metrics};

    let store = store();
    // A resource attribute that reads like the list the stream splits at.
    let tricky = KeyValue {
        key: "metrics".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![] })),
        }),
        ..Default::default()
    };
    let request = request_from(vec![resource_metrics(
        vec![kv("service.name", "d"), tricky],
        vec![gauge("g", vec![int_point(1, vec![kv("k", "v")])])],
    )]);
    assert_eq!(ingest_request(&store, &request).rejected, 0);
    let snap = store.snapshot(&Filter::default());
    let json_whole = serde_json::to_vec(&super::json::build(&snap)).unwrap();
    let otlp_whole = serde_json::to_vec(&super::otlp_json::to_request(&snap)).unwrap();
    let encoders: [(&dyn Encoder, &[u8]); 2] =
        [(&super::Json, &json_whole), (&super::OtlpJson, &otlp_whole)];
    for (encoder, whole) in encoders {
        assert!(whole.len() > 100_000, "{}", whole.len());
        assert_eq!(encoder.encode(&snap), whole);
        let mut pieces = Vec::new();
        encoder.encode_chunked(&snap, 4096, &mut |p| {
            pieces.push(p);
            true
        });
        assert_eq!(pieces.concat(), whole);
        let (_, full) = pieces.split_last().unwrap();
        assert!(full.len() >= 6, "{} pieces", pieces.len());
        for p in full {
            // The largest metric here (300 counter series) is under 64 KiB in either shape.
            assert!((4096..4096 + 65_536).contains(&p.len()), "{}", p.len());
        }
        let mut calls = 0;
        encoder.encode_chunked(&snap, 4096, &mut |_| {
            calls += 1;
            calls < 2
        });
        assert_eq!(calls, 2);
    }
}

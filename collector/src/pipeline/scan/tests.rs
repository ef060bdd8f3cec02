//! Scan against prost: hand-written cases, random requests, mutated bytes.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::random::{self, Rng};
use super::*;

/// What prost makes of `body`: the items per resource, or `None` if it refuses it.
fn prost_counts(signal: Signal, body: &[u8]) -> Option<Vec<u64>> {
    match signal {
        Signal::Metrics => ExportMetricsServiceRequest::decode(body)
            .ok()
            .map(|r| random::metrics_per_resource(&r)),
        Signal::Traces => ExportTraceServiceRequest::decode(body)
            .ok()
            .map(|r| random::spans_per_resource(&r)),
        Signal::Logs => ExportLogsServiceRequest::decode(body)
            .ok()
            .map(|r| random::logs_per_resource(&r)),
    }
}

fn scan_counts(signal: Signal, body: &[u8]) -> Option<Vec<u64>> {
    let found = scan(signal, body).ok()?;
    let per_resource: Vec<u64> = found.resources.iter().map(|e| e.items).collect();
    assert_eq!(found.items, per_resource.iter().sum::<u64>());
    Some(per_resource)
}

/// `field` as a length-delimited field holding `payload`.
fn len_field(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A metrics request with one resource and scope holding `metric` (encoded `Metric` bytes).
fn request_with_metric(metric: &[u8]) -> Vec<u8> {
    len_field(1, &len_field(2, &len_field(2, metric)))
}

fn error_kind(signal: Signal, body: &[u8]) -> ScanErrorKind {
    scan(signal, body).unwrap_err().kind
}

#[test]
fn empty_request_has_no_items() {
    assert_eq!(scan(Signal::Metrics, &[]), Ok(Scan::default()));
    let found = scan(Signal::Traces, &[0x0a, 0x00]).unwrap();
    assert_eq!(found.items, 0);
    assert_eq!(
        found.resources,
        vec![Entry {
            range: 0..2,
            items: 0
        }]
    );
}

#[test]
fn refuses_malformed_framing_naming_what_and_where() {
    use ScanErrorKind::*;
    let cases: &[(&[u8], ScanErrorKind, usize)] = &[
        (
            &[0x0a, 0x05, 0x00],
            Truncated {
                field: 1,
                needed: 5,
                available: 1,
            },
            0,
        ),
        (&[0x0a], InvalidVarint, 1),
        (
            &[0x0f],
            InvalidWireType {
                field: 1,
                wire_type: 7,
            },
            0,
        ),
        (&[0x02, 0x00], ZeroFieldNumber, 0),
        (
            &[0x08, 0x01],
            WrongWireType {
                field: 1,
                found: "VARINT",
                expected: "LEN",
            },
            0,
        ),
        (&[0x1c], UnexpectedEndGroup { field: 3 }, 0),
        (&[0x1b, 0x24], UnexpectedEndGroup { field: 4 }, 1),
        (&[0x1b, 0x08, 0x01], UnterminatedGroup { field: 3 }, 0),
        (
            &[0x80, 0x80, 0x80, 0x80, 0x10],
            InvalidKey { key: 1 << 32 },
            0,
        ),
        (
            &[
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
            InvalidVarint,
            1,
        ),
        (
            &[
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
            ],
            InvalidVarint,
            1,
        ),
        (
            &[0x11, 0x00, 0x00],
            Truncated {
                field: 2,
                needed: 8,
                available: 2,
            },
            0,
        ),
        // A resource whose scope runs past the resource's end.
        (
            &[0x0a, 0x02, 0x12, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00],
            Truncated {
                field: 2,
                needed: 5,
                available: 0,
            },
            2,
        ),
    ];
    for (body, kind, offset) in cases {
        let err = scan(Signal::Metrics, body).unwrap_err();
        assert_eq!((err.kind, err.offset), (*kind, *offset), "{body:02x?}");
        assert!(
            prost_counts(Signal::Metrics, body).is_none(),
            "prost accepts {body:02x?}"
        );
    }
    let err = scan(Signal::Metrics, &[0x0a, 0x02, 0x12, 0x05]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed ResourceMetrics at byte 2: field 2 needs 5 bytes, only 0 are left"
    );
}

#[test]
fn skips_unknown_fields_of_every_wire_type() {
    let mut body = vec![
        0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x01, // 2: varint u64::MAX
        0x19, 1, 2, 3, 4, 5, 6, 7, 8, // 3: I64
        0x25, 1, 2, 3, 4, // 4: I32
        0x2a, 0x02, 0xff, 0xfe, // 5: LEN, not UTF-8 (unknown fields are not strings)
        0x33, 0x08, 0x01, 0x3b, 0x3c, 0x34, // 6: group holding a varint and an empty group
    ];
    body.extend(len_field(1, &[0x20, 0x07])); // a resource with unknown field 4
    let found = scan(Signal::Logs, &body).unwrap();
    assert_eq!(
        found.resources,
        vec![Entry {
            range: body.len() - 4..body.len(),
            items: 0
        }]
    );
    assert_eq!(prost_counts(Signal::Logs, &body), Some(vec![0]));
}

#[test]
fn refuses_invalid_utf8_in_strings_and_bad_packed_lengths() {
    let name = len_field(1, &[0xc3, 0x28]);
    assert_eq!(
        error_kind(Signal::Metrics, &request_with_metric(&name)),
        ScanErrorKind::InvalidUtf8 { field: 1 }
    );
    // HistogramDataPoint.bucket_counts packed with 7 bytes.
    let point = len_field(6, &[0; 7]);
    let metric = len_field(9, &len_field(1, &point));
    let body = request_with_metric(&metric);
    assert_eq!(
        error_kind(Signal::Metrics, &body),
        ScanErrorKind::PackedLength {
            field: 6,
            len: 7,
            width: 8
        }
    );
    assert!(prost_counts(Signal::Metrics, &body).is_none());
    // Buckets.bucket_counts packed varints must end with the field.
    let buckets = len_field(2, &[0x01, 0x80]);
    let point = len_field(8, &buckets);
    let body = request_with_metric(&len_field(10, &len_field(1, &point)));
    assert_eq!(
        error_kind(Signal::Metrics, &body),
        ScanErrorKind::InvalidVarint
    );
    assert!(prost_counts(Signal::Metrics, &body).is_none());
}

#[test]
fn counts_the_metric_data_oneof_as_prost_merges_it() {
    let gauge = |points: usize| len_field(5, &len_field(1, &[]).repeat(points));
    let sum = |points: usize| len_field(7, &len_field(1, &[]).repeat(points));
    let cases: Vec<(Vec<u8>, u64)> = vec![
        ([gauge(2), sum(3)].concat(), 3),
        ([gauge(2), gauge(3)].concat(), 5),
        ([gauge(2), sum(3), gauge(1)].concat(), 1),
        ([sum(2), len_field(1, b"name"), sum(4)].concat(), 6),
        (len_field(1, b"no data"), 0),
    ];
    for (metric, want) in cases {
        let body = request_with_metric(&metric);
        assert_eq!(scan_counts(Signal::Metrics, &body), Some(vec![want]));
        assert_eq!(prost_counts(Signal::Metrics, &body), Some(vec![want]));
    }
}

#[test]
fn nesting_limit_matches_prost() {
    let mut outcomes = Vec::new();
    // Unknown groups nested `depth` deep at the top level.
    for depth in 95..=102 {
        let body = [vec![0x13; depth], vec![0x14; depth]].concat();
        let scanned = scan(Signal::Traces, &body);
        assert_eq!(
            scanned.is_ok(),
            prost_counts(Signal::Traces, &body).is_some(),
            "{depth}"
        );
        if let Err(err) = &scanned {
            assert_eq!(err.kind, ScanErrorKind::RecursionLimit);
        }
        outcomes.push(scanned.is_ok());
    }
    // Array values nested `depth` deep in a log record's body (two messages a level).
    for depth in 40..=50 {
        let mut value = Vec::new();
        for _ in 0..depth {
            value = len_field(5, &len_field(1, &value));
        }
        let body = len_field(1, &len_field(2, &len_field(2, &len_field(5, &value))));
        let scanned = scan_counts(Signal::Logs, &body);
        assert_eq!(scanned, prost_counts(Signal::Logs, &body), "{depth}");
        outcomes.push(scanned.is_some());
    }
    // Both sides of the limit were tried, in both cases.
    assert!(outcomes[..8].contains(&true) && outcomes[..8].contains(&false));
    assert!(outcomes[8..].contains(&true) && outcomes[8..].contains(&false));
}

#[test]
fn counts_and_entries_match_prost_on_random_requests() {
    let mut rng = Rng::new(1);
    for round in 0..600 {
        for signal in Signal::ALL {
            let body = random::request(&mut rng, signal, 4);
            let found = scan(signal, &body).unwrap();
            let want = prost_counts(signal, &body).unwrap();
            let got: Vec<u64> = found.resources.iter().map(|e| e.items).collect();
            assert_eq!(got, want, "round {round} {signal}");
            // The entries tile the request, and each is a request of its own.
            let tiled: Vec<u8> = found
                .resources
                .iter()
                .flat_map(|e| body[e.range.clone()].to_vec())
                .collect();
            assert_eq!(tiled, body);
            for entry in &found.resources {
                let alone = &body[entry.range.clone()];
                assert_eq!(prost_counts(signal, alone), Some(vec![entry.items]));
            }
            // Two requests concatenated are one holding both.
            let twice = [body.clone(), body.clone()].concat();
            assert_eq!(scan(signal, &twice).unwrap().items, 2 * found.items);
        }
    }
}

#[test]
fn agrees_with_prost_on_mutated_requests() {
    let mut rng = Rng::new(2);
    let (mut cases, mut refused) = (0u64, 0u64);
    for _ in 0..400 {
        for signal in Signal::ALL {
            let original = random::request(&mut rng, signal, 3);
            for _ in 0..25 {
                let mut body = original.clone();
                for _ in 0..=rng.below(3) {
                    random::mutate(&mut rng, &mut body);
                }
                let want = prost_counts(signal, &body);
                let got = scan_counts(signal, &body);
                assert_eq!(got, want, "{signal}: {body:02x?}");
                cases += 1;
                refused += u64::from(want.is_none());
            }
        }
    }
    // Most mutations must break something, or the test proves little.
    assert!(refused * 4 > cases, "{refused} of {cases} refused");
    println!("{cases} mutated requests, {refused} refused by both");
}

#[test]
fn never_panics_on_random_bytes() {
    let mut rng = Rng::new(3);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        for signal in Signal::ALL {
            assert_eq!(
                scan_counts(signal, &body),
                prost_counts(signal, &body),
                "{body:02x?}"
            );
        }
    }
}

/// CPU time this thread has used (Linux), else wall time since `since`.
fn cpu_time(since: Instant) -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    match schedstat.split(' ').next().and_then(|ns| ns.parse().ok()) {
        Some(ns) => Duration::from_nanos(ns),
        None => since.elapsed(),
    }
}

/// What an SDK sends: metrics of 20 points with 3 short attributes each.
fn typical_metrics() -> Vec<u8> {
    use crate::test_support::{histogram_point, int_point, kv, request_with, sum};
    let attributes = |i: usize| {
        vec![
            kv("http.route", format!("/api/v1/items/{}", i % 7).as_str()),
            kv("http.method", "GET"),
            kv("status", 200),
        ]
    };
    let metrics = (0..50)
        .map(|m| {
            if m % 5 == 0 {
                let points = (0..20)
                    .map(|i| {
                        histogram_point(
                            &[0.1, 0.5, 1.0, 5.0],
                            &[1, 2, 3, 4, 5],
                            12.5,
                            attributes(i),
                        )
                    })
                    .collect();
                crate::test_support::histogram(&format!("latency_{m}"), points)
            } else {
                sum(
                    &format!("requests_{m}"),
                    (0..20)
                        .map(|i| int_point(i as i64, attributes(i)))
                        .collect(),
                )
            }
        })
        .collect();
    request_with(metrics).encode_to_vec()
}

/// `cargo test -p vigil-collector --release --lib scan::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let mut rng = Rng::new(4);
    let mut workloads: Vec<(String, Signal, Vec<Vec<u8>>)> = vec![
        (
            "typical metrics".into(),
            Signal::Metrics,
            vec![typical_metrics()],
        ),
        (
            "typical spans".into(),
            Signal::Traces,
            vec![crate::test_support::traces_request(1000).encode_to_vec()],
        ),
        (
            "typical logs".into(),
            Signal::Logs,
            vec![crate::test_support::logs_request(1000).encode_to_vec()],
        ),
    ];
    for signal in Signal::ALL {
        let requests = (0..50)
            .map(|_| random::request(&mut rng, signal, 6))
            .collect();
        workloads.push((format!("random {signal}"), signal, requests));
    }
    for (name, signal, requests) in workloads {
        let bytes: usize = requests.iter().map(Vec::len).sum();
        let items: u64 = requests
            .iter()
            .map(|r| scan(signal, r).unwrap().items)
            .sum();
        // The best of five runs: the machine is shared.
        let measure = |f: &dyn Fn(&[u8])| {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let started = Instant::now();
                let cpu = cpu_time(started);
                let mut rounds = 0u64;
                while started.elapsed() < Duration::from_millis(300) {
                    for request in &requests {
                        f(request);
                    }
                    rounds += 1;
                }
                best = best.min((cpu_time(started) - cpu).as_secs_f64() / rounds as f64);
            }
            (bytes as f64 / best / 1e6, items as f64 / best / 1e6)
        };
        let (scan_mb, scan_items) = measure(&|r| {
            std::hint::black_box(scan(signal, r).unwrap());
        });
        let (prost_mb, prost_items) = measure(&|r| {
            std::hint::black_box(prost_counts(signal, r).unwrap());
        });
        println!(
            "{name}: {:.0} bytes/item; per CPU-second: scan {scan_mb:.0} MB, {scan_items:.2} M items; \
             prost decode {prost_mb:.0} MB, {prost_items:.2} M items",
            bytes as f64 / items as f64
        );
    }
}

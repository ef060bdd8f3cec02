//! The wire reader against the prost path: hand-written edge cases, random requests, damaged
//! requests, and a long fixed-seed fuzz run.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

use super::*;
use crate::pipeline::scan::random::{self, Rng};
use crate::pipeline::scan::{ScanError, ScanErrorKind};
use crate::store::Options;
use crate::store::otlp::ingest_request;

/// What a store holds, as both renderers show it (the clock of the copy left out).
fn state(store: &Store) -> (String, String) {
    crate::fuzzing::page_and_doc(store)
}

/// Feeds `body` to a prost-path store and a wire-path store, asserts they agree, and returns
/// the wire path's answer and state.
fn both(prost_store: &Store, wire_store: &Store, body: &[u8]) -> Result<Report, Error> {
    crate::fuzzing::differential(prost_store, wire_store, body)
}

/// Two stores that accept any timestamp: random requests stamp points anywhere in u64, and
/// the comparison is between the readers, not about the store's future-skew check.
fn stores() -> (Store, Store) {
    let options = || Options {
        max_future_skew: std::time::Duration::MAX,
        ..Options::default()
    };
    (Store::new(options()), Store::new(options()))
}

// === Encoding by hand ===

fn len_field(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(field, WireType::LengthDelimited, &mut out);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn varint_field(field: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(field, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    out
}

fn fixed64_field(field: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(field, WireType::SixtyFourBit, &mut out);
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// One unknown field of every wire type, a group holding a field among them.
fn unknown_fields() -> Vec<u8> {
    let mut out = varint_field(90, 7);
    out.extend(fixed64_field(91, 1));
    out.extend([0xe5, 0x05, 1, 2, 3, 4]); // 92: I32
    out.extend(len_field(93, &[0xff, 0xfe])); // not UTF-8: unknown fields are no strings
    out.extend([0xeb, 0x05, 0x08, 0x01, 0xec, 0x05]); // 93: group holding a varint
    out
}

fn string_kv(key: &str, value: &str, extra: &[u8]) -> Vec<u8> {
    let any = [len_field(1, value.as_bytes()), extra.to_vec()].concat();
    [
        len_field(1, key.as_bytes()),
        len_field(2, &any),
        extra.to_vec(),
    ]
    .concat()
}

/// A request of one resource (`service.name=svc`), one scope and the encoded `metric`, with
/// `extra` appended to every message on the way.
fn request(metric: &[u8], extra: &[u8]) -> Vec<u8> {
    let resource = [
        len_field(1, &string_kv("service.name", "svc", extra)),
        extra.to_vec(),
    ]
    .concat();
    let scope = [len_field(1, b"lib"), extra.to_vec()].concat();
    let sm = [len_field(1, &scope), len_field(2, metric), extra.to_vec()].concat();
    let rm = [len_field(1, &resource), len_field(2, &sm), extra.to_vec()].concat();
    [len_field(1, &rm), extra.to_vec()].concat()
}

/// A cumulative monotonic sum `jobs` with one int point `{queue="a"} = value` at time 2000.
fn sum_metric(value: u64, extra: &[u8]) -> Vec<u8> {
    let point = [
        len_field(7, &string_kv("queue", "a", extra)),
        fixed64_field(3, 2000),
        fixed64_field(6, value),
        extra.to_vec(),
    ]
    .concat();
    let sum = [
        len_field(1, &point),
        varint_field(2, 2),
        varint_field(3, 1),
        extra.to_vec(),
    ]
    .concat();
    [len_field(1, b"jobs"), len_field(7, &sum), extra.to_vec()].concat()
}

fn sample_lines(store: &Store) -> Vec<String> {
    state(store)
        .0
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

// === Edge cases ===

#[test]
fn reads_a_sum_point_into_the_store() {
    let (a, b) = stores();
    let report = both(&a, &b, &request(&sum_metric(5, &[]), &[])).unwrap();
    assert_eq!(
        report,
        Report {
            accepted: 1,
            rejected: 0,
            message: None
        }
    );
    assert_eq!(
        sample_lines(&b),
        [
            "jobs_total{job=\"svc\",queue=\"a\",otel_scope_name=\"lib\"} 5",
            "jobs_created{job=\"svc\",queue=\"a\",otel_scope_name=\"lib\"} 0.000002",
        ]
    );
}

#[test]
fn skips_unknown_fields_at_every_level() {
    let (a, b) = stores();
    let extra = unknown_fields();
    let report = both(&a, &b, &request(&sum_metric(5, &extra), &extra)).unwrap();
    assert_eq!(report.accepted, 1);
    let (plain, _) = stores();
    ingest(&plain, &request(&sum_metric(5, &[]), &[])).unwrap();
    assert_eq!(state(&b), state(&plain), "unknown fields change nothing");
}

#[test]
fn an_empty_request_and_empty_messages_hold_nothing() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        len_field(1, &[]),
        len_field(1, &len_field(2, &[])),
        request(&[], &[]),
        request(&len_field(1, b"no data"), &[]),
        request(
            &[len_field(1, b"no points"), len_field(5, &[])].concat(),
            &[],
        ),
    ];
    for body in cases {
        let (a, b) = stores();
        assert_eq!(
            both(&a, &b, &body).unwrap(),
            Report::default(),
            "{body:02x?}"
        );
        assert_eq!(b.series_count(), 0);
    }
}

#[test]
fn packed_and_unpacked_buckets_are_the_same_histogram() {
    let counts = [1u64, 2, 3];
    let bounds = [1.0f64, 5.0];
    let packed = |values: &[u64]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let attrs = len_field(9, &string_kv("k", "v", &[]));
    let head = [attrs, fixed64_field(3, 2000), fixed64_field(4, 6)].concat();
    let packed_point = [
        head.clone(),
        len_field(6, &packed(&counts)),
        len_field(7, &packed(&bounds.map(f64::to_bits))),
    ]
    .concat();
    let unpacked_point = [
        head,
        counts.iter().flat_map(|c| fixed64_field(6, *c)).collect(),
        bounds
            .iter()
            .flat_map(|b| fixed64_field(7, b.to_bits()))
            .collect(),
    ]
    .concat();
    let mut states = Vec::new();
    for point in [packed_point, unpacked_point] {
        let histogram = [len_field(1, &point), varint_field(2, 2)].concat();
        let metric = [len_field(1, b"lat"), len_field(9, &histogram)].concat();
        let (a, b) = stores();
        assert_eq!(both(&a, &b, &request(&metric, &[])).unwrap().accepted, 1);
        states.push(sample_lines(&b));
    }
    assert_eq!(states[0], states[1]);
    let labels = "job=\"svc\",k=\"v\",otel_scope_name=\"lib\"";
    assert_eq!(
        states[0][..4],
        [
            format!("lat_bucket{{{labels},le=\"1.0\"}} 1"),
            format!("lat_bucket{{{labels},le=\"5.0\"}} 3"),
            format!("lat_bucket{{{labels},le=\"+Inf\"}} 6"),
            format!("lat_count{{{labels}}} 6"),
        ]
    );
}

#[test]
fn packed_buckets_of_an_exponential_histogram_at_any_offset() {
    // Buckets: offset -2 (sint32), counts packed, then one more unpacked.
    let buckets = [
        varint_field(1, 3),
        len_field(2, &[1, 2]),
        varint_field(2, 4),
    ]
    .concat();
    let point = [
        fixed64_field(3, 2000),
        fixed64_field(4, 7),
        varint_field(6, 2),
        len_field(8, &buckets),
    ]
    .concat();
    let exp = [len_field(1, &point), varint_field(2, 2)].concat();
    let metric = [len_field(1, b"size"), len_field(10, &exp)].concat();
    let (a, b) = stores();
    assert_eq!(both(&a, &b, &request(&metric, &[])).unwrap().accepted, 1);
}

#[test]
fn refuses_malformed_requests_before_touching_the_store() {
    let good = request(&sum_metric(5, &[]), &[]);
    let not_utf8 = request(
        &[len_field(1, &[0xc3, 0x28]), len_field(5, &[])].concat(),
        &[],
    );
    let cases: Vec<(Vec<u8>, ScanErrorKind)> = vec![
        (not_utf8, ScanErrorKind::InvalidUtf8 { field: 1 }),
        (vec![0x0a], ScanErrorKind::InvalidVarint),
        (vec![0x0a, 0x80], ScanErrorKind::InvalidVarint),
        (
            [good.clone(), vec![0x0a, 0x05, 0x00]].concat(),
            ScanErrorKind::Truncated {
                field: 1,
                needed: 5,
                available: 1,
            },
        ),
        (
            good[..good.len() - 1].to_vec(),
            ScanErrorKind::Truncated {
                field: 1,
                needed: good[1] as u64,
                available: good.len() - 3,
            },
        ),
    ];
    for (body, kind) in cases {
        let (a, b) = stores();
        match both(&a, &b, &body) {
            Err(Error::Scan(ScanError { kind: got, .. })) => assert_eq!(got, kind, "{body:02x?}"),
            other => panic!("{other:?} for {body:02x?}"),
        }
        assert_eq!(b.series_count(), 0);
    }
}

#[test]
fn the_trusting_entry_refuses_what_it_cannot_read() {
    let store = Store::new(Options::default());
    let cases: &[(&[u8], &str)] = &[
        (
            &[0x0a],
            "malformed ExportMetricsServiceRequest at byte 1: truncated or overlong varint",
        ),
        (
            &[0x0a, 0x05, 0x01],
            "malformed ExportMetricsServiceRequest at byte 0: length past the end",
        ),
        (
            &[0x08, 0x01],
            "malformed ExportMetricsServiceRequest at byte 0: a known field has the wrong wire type",
        ),
        (
            &[0x0c],
            "malformed ExportMetricsServiceRequest at byte 0: end-group tag without a start",
        ),
        (
            &[0x0b, 0x08],
            "malformed ExportMetricsServiceRequest at byte 2: truncated or overlong varint",
        ),
        (
            &[0x0b],
            "malformed ExportMetricsServiceRequest at byte 0: group not closed",
        ),
        (
            &[0x0a, 0x02, 0x1a, 0x00, 0x0a, 0x01],
            "malformed ExportMetricsServiceRequest at byte 4: length past the end",
        ),
    ];
    for (body, message) in cases {
        let err = ingest_scanned(&store, body, &mut |_| {}).unwrap_err();
        assert_eq!(err.to_string(), *message, "{body:02x?}");
    }
}

#[test]
fn merges_repeated_fields_as_prost_does() {
    // Two keys and two values in one KeyValue; two names in a Metric; the data oneof switching
    // variant and back; a resource given twice.
    let kv = [
        len_field(1, b"first"),
        len_field(1, b"queue"),
        len_field(2, &len_field(1, b"x")),
        len_field(2, &varint_field(3, 9)),
    ]
    .concat();
    let point = [
        len_field(7, &kv),
        fixed64_field(3, 2000),
        fixed64_field(4, 2.5f64.to_bits()),
    ]
    .concat();
    let gauge = len_field(1, &point);
    let metric = [
        len_field(1, b"old"),
        len_field(5, &gauge),
        len_field(7, &len_field(1, &point)),
        len_field(5, &gauge),
        len_field(1, b"temp"),
        len_field(5, &gauge),
    ]
    .concat();
    let mut body = request(&metric, &[]);
    body.extend(len_field(
        1,
        &len_field(1, &len_field(1, &string_kv("host", "h", &[]))),
    ));
    let (a, b) = stores();
    assert_eq!(both(&a, &b, &body).unwrap().accepted, 2);
    assert_eq!(
        sample_lines(&b)[0],
        "temp{job=\"svc\",queue=\"9\",otel_scope_name=\"lib\"} 2.5"
    );
}

#[test]
fn complex_attribute_values_find_the_series_the_prost_path_made() {
    // An array value `["a", 1]`: the wire path decodes it with prost, then both agree.
    let array = [len_field(1, b"a"), varint_field(3, 1)]
        .map(|v| len_field(1, &v))
        .concat();
    let kv = [len_field(1, b"tags"), len_field(2, &len_field(5, &array))].concat();
    let point = [
        len_field(7, &kv),
        fixed64_field(3, 2000),
        fixed64_field(6, 1),
    ]
    .concat();
    let metric = [len_field(1, b"up"), len_field(5, &len_field(1, &point))].concat();
    let body = request(&metric, &[]);
    let store = Store::new(Options::default());
    ingest_request(
        &store,
        &ExportMetricsServiceRequest::decode(&body[..]).unwrap(),
    );
    ingest(&store, &body).unwrap();
    assert_eq!(
        store.series_count(),
        1,
        "one series, whichever path found it"
    );
    assert_eq!(
        sample_lines(&store)[0],
        "up{job=\"svc\",tags=\"[\\\"a\\\",1]\",otel_scope_name=\"lib\"} 1"
    );
}

#[test]
fn calls_back_after_every_point_the_store_took() {
    let store = Store::new(Options::default());
    let mut seen = Vec::new();
    let body = request(&sum_metric(5, &[]), &[]);
    let report = ingest_with(&store, &body, &mut |session| {
        seen.push(session.current().map(|c| c.desc.name.to_string()));
    })
    .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(seen, [Some("jobs".to_string())]);
}

// === Random requests ===

#[test]
fn agrees_with_prost_on_random_requests() {
    let mut rng = Rng::new(11);
    let mut accepted = 0;
    for _ in 0..60 {
        // A few requests into the same stores, so later ones update earlier series.
        let (a, b) = stores();
        for _ in 0..5 {
            let body = random::metrics(&mut rng, 3).encode_to_vec();
            accepted += both(&a, &b, &body).unwrap().accepted;
        }
    }
    assert!(
        accepted > 100,
        "{accepted} points accepted: the test must store some"
    );
}

#[test]
fn agrees_with_prost_on_damaged_requests() {
    let mut rng = Rng::new(12);
    let (mut cases, mut refused) = (0u64, 0u64);
    for _ in 0..100 {
        let original = random::metrics(&mut rng, 3).encode_to_vec();
        let (a, b) = stores();
        for _ in 0..10 {
            let mut body = original.clone();
            for _ in 0..=rng.below(3) {
                random::mutate(&mut rng, &mut body);
            }
            cases += 1;
            refused += u64::from(both(&a, &b, &body).is_err());
        }
    }
    assert!(
        refused * 4 > cases && refused < cases,
        "{refused} of {cases} refused"
    );
}

/// A long run with a fixed seed: random and damaged requests, and random bytes handed to the
/// trusting entry (which must not panic either). Bounded, so it finishes in seconds.
#[test]
fn fuzz_never_panics_and_always_agrees_with_prost() {
    let mut rng = Rng::new(0x5eed);
    let trusting = Store::new(Options::default());
    for round in 0..4000 {
        let mut body = random::metrics(&mut rng, 2 + round % 3).encode_to_vec();
        for _ in 0..rng.below(4) {
            random::mutate(&mut rng, &mut body);
        }
        let (a, b) = stores();
        let _ = both(&a, &b, &body);
        let _ = ingest_scanned(&trusting, &body, &mut |_| {});
        let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let _ = ingest_scanned(&trusting, &noise, &mut |_| {});
    }
}

/// A gauge `name` with one int point `{}` = 5 at time 2000 and a `prometheus.type` entry
/// (twice: the last one counts) in its metadata.
fn hinted_gauge(name: &str, first: &str, last: &str) -> Vec<u8> {
    let point = [fixed64_field(3, 2000), fixed64_field(6, 5)].concat();
    let gauge = len_field(1, &point);
    [
        len_field(1, name.as_bytes()),
        len_field(5, &gauge),
        len_field(12, &string_kv("prometheus.type", first, &[])),
        len_field(12, &string_kv("other", "x", &[])),
        len_field(12, &string_kv("prometheus.type", last, &[])),
    ]
    .concat()
}

#[test]
fn a_prometheus_type_hint_types_the_family_on_both_paths() {
    let (prost_store, wire_store) = stores();
    for (name, first, last) in [
        ("temp", "gauge", "unknown"),
        ("build", "unknown", "info"),
        ("level", "info", "stateset"),
    ] {
        let report = both(
            &prost_store,
            &wire_store,
            &request(&hinted_gauge(name, first, last), &[]),
        );
        assert_eq!(report.map(|r| r.accepted), Ok(1));
    }
    let typed = |page: &str| -> Vec<String> {
        page.lines()
            .filter(|l| l.starts_with("# TYPE") || !l.starts_with('#'))
            .filter(|l| !l.contains("target_info") && !l.starts_with("# EOF"))
            .map(str::to_string)
            .collect()
    };
    let line = |name: &str| format!(r#"{name}{{job="svc",otel_scope_name="lib"}} 5"#);
    // OpenMetrics has the info and unknown types; 0.0.4 text has neither, and reads them as a
    // gauge (with the `_info` suffix on the family name) and untyped.
    assert_eq!(
        typed(&state(&wire_store).0),
        [
            "# TYPE build info".to_string(),
            line("build_info"),
            "# TYPE level gauge".to_string(),
            line("level"),
            "# TYPE temp unknown".to_string(),
            line("temp"),
        ]
    );
    let text = crate::export::prometheus::render(
        &wire_store.snapshot(&crate::store::Filter::default()),
        crate::export::prometheus::Format::Text,
    );
    assert_eq!(
        typed(&text),
        [
            "# TYPE build_info gauge".to_string(),
            line("build_info"),
            "# TYPE level gauge".to_string(),
            line("level"),
            "# TYPE temp untyped".to_string(),
            line("temp"),
        ]
    );
}

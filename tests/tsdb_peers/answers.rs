//! How each peer answers what a remote-write exporter must handle, asserted
//! exactly, since the exporter's decisions rest on these answers:
//!
//! * a 2.0 request sent to a 1.0-only receiver (Prometheus 2.42,
//!   VictoriaMetrics 1.79) is a 204 that stores nothing, and only the
//!   missing `X-Prometheus-Remote-Write-*-Written` headers tell: the
//!   exporter's fallback to 1.0 must key on them, not on the status;
//! * an out-of-order sample or a duplicate timestamp with another value is
//!   a 400 from Prometheus (never retry it), which drops the *whole* 1.0
//!   request but only the offending series of a 2.0 request; VictoriaMetrics
//!   stores both and answers 204;
//! * a body that is not snappy, or not a protobuf message, is a 400;
//! * a native histogram over 1.0 is a 500 from Prometheus 2.42 (no
//!   `native-histograms` feature flag): a retry loop would never end.

use super::rw::{
    Answer, CONTENT_TYPE_V1, CONTENT_TYPE_V2, Request, Sample, Symbols, V2TimeSeries, VERSION_V1,
    VERSION_V2, post, series, snappy, v1_body, v2_body,
};
use super::{ms_ago, native_histogram, query_at, v2_request, wait_for_series};
use vigil_tests::peers::{QuerySample, Tsdb};

/// A series' labels: `__name__` and `job`.
type Labels = [(&'static str, &'static str); 2];

const X: Labels = [("__name__", "x_total"), ("job", "answers")];
const Y: Labels = [("__name__", "y"), ("job", "answers")];
const Z: Labels = [("__name__", "z"), ("job", "answers")];

fn post_v1(tsdb: &Tsdb, body: Vec<u8>) -> Answer {
    post(&tsdb.remote_write_url(), body, CONTENT_TYPE_V1, VERSION_V1)
}

/// A 204 with no body and no `X-Prometheus-Remote-Write-*` headers.
fn no_content() -> Answer {
    Answer {
        status: 204,
        body: String::new(),
        rw_headers: Default::default(),
    }
}

/// A 400 whose body is `body`.
fn bad_request(body: &str) -> Answer {
    Answer {
        status: 400,
        body: body.to_owned(),
        rw_headers: Default::default(),
    }
}

// === a 2.0 request to a 1.0 receiver ===

/// Prometheus 2.42 and VictoriaMetrics 1.79 read any body as a 1.0
/// `WriteRequest`, whatever the Content-Type. A 2.0 `Request` uses only
/// fields 4 and 5, unknown to 1.0, so it reads as an empty request.
fn answers_2_0_with_204_and_stores_nothing(tsdb: &Tsdb) {
    let t = ms_ago(10);
    let answer = post(
        &tsdb.remote_write_url(),
        v2_body(&v2_request(t)),
        CONTENT_TYPE_V2,
        VERSION_V2,
    );
    assert_eq!(answer, no_content(), "{:?}", tsdb.kind());

    // Proof that nothing was stored: a 1.0 write after it is all there is.
    assert_eq!(
        post_v1(tsdb, v1_body(vec![series(&X, &[(t, 1.0)])])),
        no_content()
    );
    wait_for_series(tsdb, "x_total", 1);
    assert_eq!(tsdb.series_names(), vec!["x_total"]);
}

#[test]
fn prometheus2_answers_a_2_0_request_with_204_and_stores_nothing() {
    answers_2_0_with_204_and_stores_nothing(&Tsdb::prometheus2());
}

#[test]
fn victoria_metrics_answers_a_2_0_request_with_204_and_stores_nothing() {
    answers_2_0_with_204_and_stores_nothing(&Tsdb::victoria_metrics());
}

/// The other way round on Prometheus 3: the Content-Type decides how the
/// body is read. A 1.0 body sent as 2.0 is an empty 2.0 request, and the
/// headers say so; a 2.0 body sent as 1.0 is an empty 1.0 request; an
/// unknown `proto=` is a 415.
#[test]
fn prometheus3_reads_the_body_as_the_content_type_says() {
    let tsdb = Tsdb::prometheus3();
    let t = ms_ago(10);
    let url = tsdb.remote_write_url();
    let zero = [
        ("x-prometheus-remote-write-exemplars-written", "0"),
        ("x-prometheus-remote-write-histograms-written", "0"),
        ("x-prometheus-remote-write-samples-written", "0"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let v1 = || v1_body(vec![series(&X, &[(t, 1.0)])]);
    assert_eq!(
        post(&url, v1(), CONTENT_TYPE_V2, VERSION_V2),
        Answer {
            rw_headers: zero,
            ..no_content()
        }
    );
    assert_eq!(
        post(&url, v2_body(&v2_request(t)), CONTENT_TYPE_V1, VERSION_V1),
        no_content()
    );
    assert_eq!(
        post(
            &url,
            v1(),
            "application/x-protobuf;proto=foo.Bar",
            VERSION_V2
        ),
        Answer {
            status: 415,
            body: "got application/x-protobuf;proto=foo.Bar content type; unknown type for \
                   remote write protobuf message foo.Bar, supported: prometheus.WriteRequest, \
                   io.prometheus.write.v2.Request"
                .to_owned(),
            rw_headers: Default::default(),
        }
    );
    assert_eq!(tsdb.series_names(), Vec::<String>::new());
}

// === out-of-order and duplicate samples ===

/// Prometheus over 1.0: x at t, then (x at t-5s, y at t) is a 400 that
/// stores neither; (x at t with another value, z at t) likewise. The same
/// value again is accepted (a resend after a lost answer is harmless).
fn rejects_the_whole_1_0_request(tsdb: &Tsdb, out_of_order: &str, duplicate: &str) {
    let t = ms_ago(30);
    let write = |series_: Vec<_>| post_v1(tsdb, v1_body(series_));
    assert_eq!(write(vec![series(&X, &[(t, 1.0)])]), no_content());
    assert_eq!(
        write(vec![
            series(&X, &[(t - 5_000, 2.0)]),
            series(&Y, &[(t, 3.0)])
        ]),
        bad_request(out_of_order)
    );
    assert_eq!(
        write(vec![series(&X, &[(t, 99.0)]), series(&Z, &[(t, 4.0)])]),
        bad_request(duplicate)
    );
    assert_eq!(write(vec![series(&X, &[(t, 1.0)])]), no_content());
    assert_eq!(tsdb.series_names(), vec!["x_total"]);
    assert_eq!(
        query_at(tsdb, "x_total", t),
        vec![QuerySample::new(&X, 1.0)]
    );
    assert_eq!(
        query_at(tsdb, "count_over_time(x_total[1m])", t),
        vec![QuerySample::new(&X[1..], 1.0)]
    );
}

#[test]
fn prometheus2_rejects_out_of_order_and_duplicate_samples_with_the_whole_request() {
    rejects_the_whole_1_0_request(
        &Tsdb::prometheus2(),
        "out of order sample",
        "duplicate sample for timestamp",
    );
}

#[test]
fn prometheus3_rejects_out_of_order_and_duplicate_samples_with_the_whole_1_0_request() {
    let tsdb = Tsdb::prometheus3();
    let t = ms_ago(30);
    rejects_the_whole_1_0_request(
        &tsdb,
        "out of order sample",
        &format!(
            "duplicate sample for timestamp {t}; overrides not allowed: existing 1, new value 99"
        ),
    );
}

/// Over 2.0, Prometheus 3 still answers 400, but stores the request's
/// other series, and the headers count them.
#[test]
fn prometheus3_stores_the_rest_of_a_2_0_request_with_an_out_of_order_sample() {
    let tsdb = Tsdb::prometheus3();
    let t = ms_ago(30);
    let request = |series_: &[(&Labels, i64, f64)]| {
        let mut symbols = Symbols::new();
        let timeseries = series_
            .iter()
            .map(|(labels, ts, v)| V2TimeSeries {
                labels_refs: symbols.refs(&labels[..]),
                samples: vec![Sample {
                    value: *v,
                    timestamp: *ts,
                }],
                ..V2TimeSeries::default()
            })
            .collect();
        v2_body(&Request {
            symbols: symbols.into_table(),
            timeseries,
        })
    };
    let write = |body| post(&tsdb.remote_write_url(), body, CONTENT_TYPE_V2, VERSION_V2);
    let written = |samples: &str| {
        [
            ("x-prometheus-remote-write-exemplars-written", "0"),
            ("x-prometheus-remote-write-histograms-written", "0"),
            ("x-prometheus-remote-write-samples-written", samples),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
    };
    let series_x = r#"{__name__="x_total", job="answers"}"#;

    assert_eq!(
        write(request(&[(&X, t, 1.0)])),
        Answer {
            rw_headers: written("1"),
            ..no_content()
        }
    );
    assert_eq!(
        write(request(&[(&X, t - 5_000, 2.0), (&Y, t, 3.0)])),
        Answer {
            rw_headers: written("1"),
            ..bad_request(&format!("out of order sample for series {series_x}"))
        }
    );
    assert_eq!(
        write(request(&[(&X, t, 99.0), (&Z, t, 4.0)])),
        Answer {
            rw_headers: written("1"),
            ..bad_request(&format!(
                "duplicate sample for timestamp {t}; overrides not allowed: existing 1, new \
                 value 99 for series {series_x}"
            ))
        }
    );
    assert_eq!(tsdb.series_names(), vec!["x_total", "y", "z"]);
    assert_eq!(
        query_at(&tsdb, r#"{job="answers"}"#, t),
        vec![
            QuerySample::new(&X, 1.0),
            QuerySample::new(&Y, 3.0),
            QuerySample::new(&Z, 4.0),
        ]
    );
}

/// VictoriaMetrics takes both: an out-of-order sample is stored where it
/// belongs, a duplicate timestamp is stored beside the first (an instant
/// query shows one of them).
#[test]
fn victoria_metrics_stores_out_of_order_and_duplicate_samples() {
    let tsdb = Tsdb::victoria_metrics();
    let t = ms_ago(30);
    let write = |series_: Vec<_>| post_v1(&tsdb, v1_body(series_));
    assert_eq!(write(vec![series(&X, &[(t, 1.0)])]), no_content());
    assert_eq!(
        write(vec![
            series(&X, &[(t - 5_000, 2.0)]),
            series(&Y, &[(t, 3.0)])
        ]),
        no_content()
    );
    assert_eq!(
        write(vec![series(&X, &[(t, 99.0)]), series(&Z, &[(t, 4.0)])]),
        no_content()
    );
    wait_for_series(&tsdb, r#"{job="answers"}"#, 3);
    assert_eq!(tsdb.series_names(), vec!["x_total", "y", "z"]);
    assert_eq!(
        query_at(&tsdb, "x_total", t - 5_000),
        vec![QuerySample::new(&X, 2.0)]
    );
    let job = &X[1..];
    let at_t = |f: &str| query_at(&tsdb, &format!("{f}(x_total[1s])"), t);
    assert_eq!(at_t("count_over_time"), vec![QuerySample::new(job, 2.0)]);
    // VictoriaMetrics keeps __name__ where Prometheus drops it.
    assert_eq!(at_t("min_over_time"), vec![QuerySample::new(&X, 1.0)]);
    assert_eq!(at_t("max_over_time"), vec![QuerySample::new(&X, 99.0)]);
}

// === bodies that are no request; native histograms over 1.0 ===

/// Not snappy, then snappy around bytes that are no protobuf message.
fn rejects_malformed_bodies(tsdb: &Tsdb, not_snappy: &str, not_protobuf: &str) {
    assert_eq!(
        post_v1(tsdb, b"not a snappy block".to_vec()),
        bad_request(not_snappy)
    );
    assert_eq!(post_v1(tsdb, snappy(&[0xff; 4])), bad_request(not_protobuf));
}

/// One series `h` with [`native_histogram`] in 1.0's `histograms` field.
fn native_histogram_1_0(tsdb: &Tsdb) -> Answer {
    let mut h = series(&[("__name__", "h"), ("job", "answers")], &[]);
    h.histograms.push(native_histogram(ms_ago(10)));
    post_v1(tsdb, v1_body(vec![h]))
}

#[test]
fn prometheus2_refuses_malformed_bodies_and_native_histograms() {
    let tsdb = Tsdb::prometheus2();
    rejects_malformed_bodies(&tsdb, "snappy: corrupt input", "unexpected EOF");
    assert_eq!(
        native_histogram_1_0(&tsdb),
        Answer {
            status: 500,
            body: "native histograms are disabled".to_owned(),
            rw_headers: Default::default()
        }
    );
}

#[test]
fn prometheus3_refuses_malformed_bodies_and_stores_native_histograms_over_1_0() {
    let tsdb = Tsdb::prometheus3();
    rejects_malformed_bodies(&tsdb, "s2: corrupt input", "unexpected EOF");
    assert_eq!(native_histogram_1_0(&tsdb), no_content());
    assert_eq!(
        tsdb.query("histogram_count(h)"),
        vec![QuerySample::new(&[("job", "answers")], 7.0)]
    );
}

/// VictoriaMetrics' 400 bodies name the client's address; the port differs
/// per connection, so the prefix is compared without it.
#[test]
fn victoria_metrics_refuses_malformed_bodies_and_drops_native_histograms() {
    let tsdb = Tsdb::victoria_metrics();
    let without_port = |mut a: Answer| {
        const HEAD: &str = "remoteAddr: \"127.0.0.1:";
        if let (true, Some(end)) = (a.body.starts_with(HEAD), a.body.find("\"; ")) {
            a.body.replace_range(HEAD.len()..end, "PORT");
        }
        a
    };
    let prefix = "remoteAddr: \"127.0.0.1:PORT\"; requestURI: /api/v1/write; ";
    assert_eq!(
        without_port(post_v1(&tsdb, b"not a snappy block".to_vec())),
        bad_request(&format!(
            "{prefix}cannot decompress request with length 18: snappy: corrupt input"
        ))
    );
    assert_eq!(
        without_port(post_v1(&tsdb, snappy(&[0xff; 4]))),
        bad_request(&format!(
            "{prefix}cannot unmarshal prompb.WriteRequest with size 4 bytes: unexpected EOF"
        ))
    );
    assert_eq!(native_histogram_1_0(&tsdb), no_content());
    tsdb.flush();
    assert_eq!(tsdb.series_names(), Vec::<String>::new());
}

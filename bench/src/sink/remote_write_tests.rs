//! Remote-write requests built by hand, with prost messages written here from
//! the specifications' field numbers, so the counting pass is checked against
//! an independent encoder.

use axum::body::Body;
use http::Request;
use prost::Message as _;
use tower::ServiceExt;

use super::*;

const V1: &str = "application/x-protobuf";
const V1_NAMED: &str = "application/x-protobuf;proto=prometheus.WriteRequest";
const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

// === remote-write 1.0 ===

#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<Empty>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    exemplars: Vec<Empty>,
    #[prost(message, repeated, tag = "4")]
    histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// A histogram's count and timestamp are enough to make it a non-empty message.
#[derive(Clone, PartialEq, prost::Message)]
struct Histogram {
    #[prost(uint64, tag = "1")]
    count_int: u64,
    #[prost(int64, tag = "15")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

// === remote-write 2.0 ===

#[derive(Clone, PartialEq, prost::Message)]
struct RequestV2 {
    #[prost(string, repeated, tag = "4")]
    symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    timeseries: Vec<TimeSeriesV2>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeriesV2 {
    #[prost(uint32, repeated, packed = "true", tag = "1")]
    labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    histograms: Vec<Histogram>,
    #[prost(message, repeated, tag = "4")]
    exemplars: Vec<Empty>,
    #[prost(message, optional, tag = "5")]
    metadata: Option<Empty>,
    #[prost(int64, tag = "6")]
    created_timestamp: i64,
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn samples(n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            value: i as f64 + 0.5,
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

fn histograms(n: usize) -> Vec<Histogram> {
    (0..n)
        .map(|i| Histogram {
            count_int: 3,
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

/// Three series: 2 + 3 float samples, one native histogram with an exemplar, and
/// one series with unsorted labels.
fn v1_request() -> WriteRequest {
    WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![label("__name__", "up"), label("job", "a")],
                samples: samples(2),
                ..Default::default()
            },
            TimeSeries {
                labels: vec![label("job", "a"), label("__name__", "unsorted")],
                samples: samples(3),
                ..Default::default()
            },
            TimeSeries {
                labels: vec![label("__name__", "latency"), label("job", "a")],
                histograms: histograms(1),
                exemplars: vec![Empty {}],
                ..Default::default()
            },
        ],
        metadata: vec![Empty {}],
    }
}

/// Symbols `"" __name__ up job a latency`; two series: 4 float samples, then two
/// native histograms with three exemplars.
fn v2_request() -> RequestV2 {
    RequestV2 {
        symbols: ["", "__name__", "up", "job", "a", "latency"]
            .map(String::from)
            .to_vec(),
        timeseries: vec![
            TimeSeriesV2 {
                labels_refs: vec![1, 2, 3, 4],
                samples: samples(4),
                metadata: Some(Empty {}),
                created_timestamp: 1_699_999_999_000,
                ..Default::default()
            },
            TimeSeriesV2 {
                labels_refs: vec![1, 5, 3, 4],
                histograms: histograms(2),
                exemplars: vec![Empty {}, Empty {}, Empty {}],
                ..Default::default()
            },
        ],
    }
}

fn snappy(message: &impl prost::Message) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&message.encode_to_vec())
        .unwrap()
}

fn state() -> Arc<State> {
    Arc::new(State::default())
}

#[test]
fn content_types_choose_the_message() {
    let snappy = Some("snappy");
    assert_eq!(Message::negotiate(Some(V1), snappy), Ok(Message::V1));
    assert_eq!(Message::negotiate(Some(V1_NAMED), snappy), Ok(Message::V1));
    assert_eq!(Message::negotiate(Some(V2), snappy), Ok(Message::V2));
    assert_eq!(
        Message::negotiate(
            Some("Application/X-Protobuf; proto=\"io.prometheus.write.v2.Request\""),
            Some("SNAPPY")
        ),
        Ok(Message::V2)
    );
    for (content_type, encoding) in [
        (Some("application/json"), snappy),
        (None, snappy),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            snappy,
        ),
        (Some(V1), Some("gzip")),
        (Some(V1), None),
    ] {
        assert!(
            Message::negotiate(content_type, encoding).is_err(),
            "{content_type:?} {encoding:?}"
        );
    }
}

#[test]
fn counts_a_v1_request_exactly() {
    let raw = v1_request().encode_to_vec();
    assert_eq!(
        wire::count_v1(&raw),
        Ok(Tally {
            series: 3,
            float_samples: 5,
            histograms: 1,
            exemplars: 1,
            bad_labels: 1,
        })
    );
    let s = state();
    let body = snappy(&v1_request());
    assert!(
        s.accept_remote_write(Some(V1), Some("snappy"), &body)
            .is_ok()
    );
    assert!(
        s.accept_remote_write(Some(V1_NAMED), Some("snappy"), &body)
            .is_ok()
    );
    let c = s.counts();
    let v1 = &c["remote_write"]["v1"];
    assert_eq!(v1["requests"], 2);
    assert_eq!(v1["series"], 6);
    assert_eq!(v1["samples"], 12);
    assert_eq!(v1["float_samples"], 10);
    assert_eq!(v1["histogram_samples"], 2);
    assert_eq!(v1["exemplars"], 2);
    assert_eq!(v1["bad_label_series"], 2);
    assert_eq!(v1["wire_bytes"], 2 * body.len() as u64);
    assert_eq!(v1["bytes"], 2 * raw.len() as u64);
    assert_eq!(c["remote_write"]["v2"]["requests"], 0);
    assert_eq!(c["requests"], 2);
    assert_eq!(c["bytes"], 2 * raw.len() as u64);
}

#[test]
fn counts_a_v2_request_exactly() {
    let raw = v2_request().encode_to_vec();
    let want = Tally {
        series: 2,
        float_samples: 4,
        histograms: 2,
        exemplars: 3,
        bad_labels: 0,
    };
    assert_eq!(wire::count_v2(&raw), Ok(want));
    let s = state();
    let body = snappy(&v2_request());
    assert_eq!(
        s.accept_remote_write(Some(V2), Some("snappy"), &body),
        Ok((Message::V2, want))
    );
    let v2 = &s.counts()["remote_write"]["v2"];
    assert_eq!(v2["requests"], 1);
    assert_eq!(v2["series"], 2);
    assert_eq!(v2["samples"], 6);
    assert_eq!(v2["float_samples"], 4);
    assert_eq!(v2["histogram_samples"], 2);
    assert_eq!(v2["exemplars"], 3);
    assert_eq!(v2["wire_bytes"], body.len() as u64);
    assert_eq!(v2["bytes"], raw.len() as u64);
}

#[test]
fn v2_accepts_unpacked_label_refs_and_flags_a_series_without_a_name() {
    // labels_refs written unpacked (tag 1, varint each): job=a, no __name__.
    let mut series = vec![0x08, 3, 0x08, 4];
    series.extend(
        TimeSeriesV2 {
            samples: samples(1),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let mut raw = RequestV2 {
        symbols: ["", "__name__", "up", "job", "a"]
            .map(String::from)
            .to_vec(),
        timeseries: vec![],
    }
    .encode_to_vec();
    raw.push(0x2a); // field 5, length-delimited
    raw.push(series.len() as u8);
    raw.extend(&series);
    assert_eq!(
        wire::count_v2(&raw),
        Ok(Tally {
            series: 1,
            float_samples: 1,
            bad_labels: 1,
            ..Tally::default()
        })
    );
}

#[test]
fn malformed_messages_are_refused_with_the_reason() {
    let mut out_of_range = v2_request();
    out_of_range.timeseries[0].labels_refs = vec![1, 9];
    let mut odd = v2_request();
    odd.timeseries[1].labels_refs = vec![1, 5, 3];
    let mut no_empty_symbol = v2_request();
    no_empty_symbol.symbols[0] = "x".into();
    for (raw, want) in [
        (
            out_of_range.encode_to_vec(),
            "timeseries[0]: label ref 9 is past the 6 symbols",
        ),
        (
            odd.encode_to_vec(),
            "timeseries[1]: 3 label refs, not name/value pairs",
        ),
        (
            no_empty_symbol.encode_to_vec(),
            "symbols[0] is not the empty string",
        ),
    ] {
        assert_eq!(wire::count_v2(&raw), Err(want.to_string()));
    }
    // Cut inside the last series (the request ends with an empty metadata message, 2 bytes).
    let mut truncated = v1_request().encode_to_vec();
    truncated.truncate(truncated.len() - 3);
    assert_eq!(
        wire::count_v1(&truncated),
        Err("WriteRequest: length past the end of the message".to_string())
    );
    // timeseries[0] holds a sample whose value has the varint wire type.
    let bad_sample = [0x0a, 0x04, 0x12, 0x02, 0x08, 0x01];
    assert_eq!(
        wire::count_v1(&bad_sample),
        Err("timeseries[0]: sample: value is not a double".to_string())
    );
    // A label name that is not UTF-8.
    let bad_label = [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff];
    assert!(
        wire::count_v1(&bad_label)
            .is_err_and(|e| e.starts_with("timeseries[0]: label name is not UTF-8"))
    );
}

async fn post(s: Arc<State>, content_type: &str, body: Vec<u8>) -> Response {
    let request = Request::post(PATH)
        .header("content-type", content_type)
        .header("content-encoding", "snappy")
        .body(Body::from(body))
        .unwrap();
    router(s).oneshot(request).await.unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn v2_answers_204_with_the_written_headers() {
    let response = post(state(), V2, snappy(&v2_request())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h[SAMPLES_WRITTEN], "4");
    assert_eq!(h[HISTOGRAMS_WRITTEN], "2");
    assert_eq!(h[EXEMPLARS_WRITTEN], "3");
    let response = post(state(), V1, snappy(&v1_request())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().get(SAMPLES_WRITTEN).is_none());
}

#[tokio::test]
async fn other_content_types_get_415() {
    let s = state();
    let response = post(s.clone(), "application/json", snappy(&v1_request())).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        text(response)
            .await
            .contains("is not application/x-protobuf")
    );
    let c = s.counts();
    assert_eq!(c["remote_write"]["unsupported_media_type"], 1);
    assert_eq!(c["remote_write"]["v1"]["requests"], 0);
    assert_eq!(c["failed"], 1);
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_message() {
    let s = state();
    let response = post(s.clone(), V1, b"not snappy".to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(response)
            .await
            .starts_with("cannot decode the request: snappy: ")
    );
    // Valid snappy around a 2.0 message whose symbol table does not start with "".
    let mut bad = v2_request();
    bad.symbols[0] = "x".into();
    let response = post(s.clone(), V2, snappy(&bad)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()[SAMPLES_WRITTEN], "0");
    assert_eq!(
        text(response).await,
        "cannot decode the request: symbols[0] is not the empty string"
    );
    let c = s.counts();
    assert_eq!(c["decode_errors"], 2);
    assert_eq!(c["failed"], 2);
    assert_eq!(c["remote_write"]["v2"]["requests"], 0);
}

#[tokio::test]
async fn injected_failures_apply_to_remote_write() {
    let s = Arc::new(State {
        fail_remaining: AtomicU64::new(1),
        fail_status: Some(FailStatus::TooManyRequests),
        retry_after: Some(Duration::from_millis(1500)),
        ..State::default()
    });
    let response = post(s.clone(), V1, snappy(&v1_request())).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    let response = post(s.clone(), V1, snappy(&v1_request())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.counts()["remote_write"]["v1"]["requests"], 1);
}

#[test]
fn no_decode_counts_bytes_from_the_snappy_header() {
    let s = Arc::new(State {
        no_decode: true,
        ..State::default()
    });
    let raw = v1_request().encode_to_vec();
    let body = snappy(&v1_request());
    assert!(
        s.accept_remote_write(Some(V1), Some("snappy"), &body)
            .is_ok()
    );
    let v1 = &s.counts()["remote_write"]["v1"];
    assert_eq!(v1["requests"], 1);
    assert_eq!(v1["series"], 0);
    assert_eq!(v1["wire_bytes"], body.len() as u64);
    assert_eq!(v1["bytes"], raw.len() as u64);
}

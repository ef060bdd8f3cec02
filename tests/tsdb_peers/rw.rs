//! Remote-write 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`) messages as the tests send them, and
//! posting them with the spec's headers.
//!
//! Declared from the specs' field numbers, with only the fields the tests
//! send: this is a test client, not Vigil's encoder.

use std::collections::BTreeMap;

/// `prometheus.WriteRequest` (metadata = 3 is not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries` (exemplars = 3 not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    /// `prometheus.Histogram` has the same field numbers as 2.0's.
    #[prost(message, repeated, tag = "4")]
    pub(crate) histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `prometheus.Sample`, also `io.prometheus.write.v2.Sample` (same
/// fields; 2.0 adds start_timestamp = 3, not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// `io.prometheus.write.v2.Request`: 1-3 are reserved, so a 1.0
/// receiver finds none of its fields in it.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Request {
    #[prost(string, repeated, tag = "4")]
    pub(crate) symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) timeseries: Vec<V2TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries` (exemplars = 4 not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct V2TimeSeries {
    /// Pairs of indexes into `symbols`: name, value, name, value...
    #[prost(uint32, repeated, packed = "true", tag = "1")]
    pub(crate) labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) histograms: Vec<Histogram>,
    #[prost(message, optional, tag = "5")]
    pub(crate) metadata: Option<Metadata>,
    #[prost(int64, tag = "6")]
    pub(crate) created_timestamp: i64,
}

/// `io.prometheus.write.v2.Metadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Metadata {
    /// MetricType: 1 counter, 2 gauge, 3 histogram.
    #[prost(int32, tag = "1")]
    pub(crate) r#type: i32,
    #[prost(uint32, tag = "3")]
    pub(crate) help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub(crate) unit_ref: u32,
}

/// `io.prometheus.write.v2.Histogram` and 1.0's `prometheus.Histogram`,
/// integer counts only. The
/// `count`/`zero_count` oneofs are plain optional fields here: on the
/// wire a set oneof member is just that field.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub(crate) count_int: Option<u64>,
    #[prost(double, tag = "3")]
    pub(crate) sum: f64,
    #[prost(sint32, tag = "4")]
    pub(crate) schema: i32,
    #[prost(double, tag = "5")]
    pub(crate) zero_threshold: f64,
    #[prost(uint64, optional, tag = "6")]
    pub(crate) zero_count_int: Option<u64>,
    #[prost(message, repeated, tag = "8")]
    pub(crate) negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub(crate) negative_deltas: Vec<i64>,
    #[prost(message, repeated, tag = "11")]
    pub(crate) positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub(crate) positive_deltas: Vec<i64>,
    /// ResetHint: 0 unknown, 1 yes, 2 no, 3 gauge.
    #[prost(int32, tag = "14")]
    pub(crate) reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub(crate) timestamp: i64,
}

/// `io.prometheus.write.v2.BucketSpan`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub(crate) offset: i32,
    #[prost(uint32, tag = "2")]
    pub(crate) length: u32,
}

pub(crate) const CONTENT_TYPE_V1: &str = "application/x-protobuf";
pub(crate) const CONTENT_TYPE_V2: &str =
    "application/x-protobuf;proto=io.prometheus.write.v2.Request";
pub(crate) const VERSION_V1: &str = "0.1.0";
pub(crate) const VERSION_V2: &str = "2.0.0";

/// A 1.0 series: `labels` (with `__name__`), one sample per `(ts, v)`.
pub(crate) fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

/// A 1.0 request body: protobuf, then snappy's block format.
pub(crate) fn v1_body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    snappy(&prost::Message::encode_to_vec(&WriteRequest { timeseries }))
}

pub(crate) fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("snappy-compress")
}

/// What a receiver answered.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Trimmed.
    pub(crate) body: String,
    /// `x-prometheus-remote-write-*` headers, lower-cased names.
    pub(crate) rw_headers: BTreeMap<String, String>,
}

/// POSTs a remote-write body with the spec's headers.
pub(crate) fn post(url: &str, body: Vec<u8>, content_type: &str, version: &str) -> Answer {
    let resp = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", content_type)
        .header("X-Prometheus-Remote-Write-Version", version)
        .header("User-Agent", "vigil-tests/tsdb_peers")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let rw_headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-prometheus-remote-write"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or("<not ASCII>").to_owned(),
            )
        })
        .collect();
    let body = resp.text().unwrap_or_default().trim().to_owned();
    Answer {
        status,
        body,
        rw_headers,
    }
}

/// A 2.0 request's symbol table: `""` first (the spec requires it), each
/// string once.
#[derive(Debug)]
pub(crate) struct Symbols {
    table: Vec<String>,
}

impl Symbols {
    pub(crate) fn new() -> Symbols {
        Symbols {
            table: vec![String::new()],
        }
    }

    /// The index of `s`, added when new.
    pub(crate) fn index(&mut self, s: &str) -> u32 {
        let i = match self.table.iter().position(|t| t == s) {
            Some(i) => i,
            None => {
                self.table.push(s.to_owned());
                self.table.len() - 1
            }
        };
        u32::try_from(i).expect("fewer than 2^32 symbols")
    }

    /// `labels_refs` for `labels`: name, value, name, value...
    pub(crate) fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|(n, v)| [self.index(n), self.index(v)])
            .collect()
    }

    pub(crate) fn into_table(self) -> Vec<String> {
        self.table
    }
}

/// A 2.0 request body: protobuf, then snappy's block format.
pub(crate) fn v2_body(request: &Request) -> Vec<u8> {
    snappy(&prost::Message::encode_to_vec(request))
}

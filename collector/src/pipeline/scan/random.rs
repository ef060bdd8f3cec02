//! Random OTLP requests with every field set, and random damage to them, for property tests of
//! the scan, the batch processor and the wire decoder.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric::Data,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

use crate::pipeline::Signal;

/// SplitMix64: small, seeded, good enough to pick shapes. Or a tape of bytes (a fuzzer's
/// input), read eight at a time, so that a coverage-guided fuzzer steers every choice; once
/// the tape runs out, SplitMix64 seeded by its length goes on.
pub(crate) struct Rng {
    state: u64,
    tape: Vec<u8>,
    at: usize,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng {
            state: seed,
            tape: Vec::new(),
            at: 0,
        }
    }

    /// Choices read from `tape`.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn tape(tape: &[u8]) -> Rng {
        Rng {
            state: tape.len() as u64,
            tape: tape.to_vec(),
            at: 0,
        }
    }

    pub(crate) fn next(&mut self) -> u64 {
        if self.at < self.tape.len() {
            let mut word = [0u8; 8];
            let end = (self.at + 8).min(self.tape.len());
            word[..end - self.at].copy_from_slice(&self.tape[self.at..end]);
            self.at = end;
            return u64::from_le_bytes(word);
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn string(&mut self) -> String {
        const WORDS: [&str; 8] = [
            "",
            "http.route",
            "service.name",
            "é",
            "日本",
            "a",
            "/api/v1/{id}",
            "→ok",
        ];
        (0..self.below(3))
            .map(|_| WORDS[self.below(WORDS.len())])
            .collect()
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(17)).map(|_| self.next() as u8).collect()
    }

    /// A finite double (decoded messages are compared with `==`, so no NaN).
    fn double(&mut self) -> f64 {
        (self.next() % 100_000) as f64 / 8.0 - 1000.0
    }

    fn few<T>(&mut self, most: usize, mut make: impl FnMut(&mut Self) -> T) -> Vec<T> {
        (0..self.below(most + 1)).map(|_| make(self)).collect()
    }
}

/// Applies one random change to `body`: most changes make a request malformed, some make
/// another valid one.
pub(crate) fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
    let len = body.len();
    let at = rng.below(len.max(1));
    match rng.below(8) {
        0 if len > 0 => body[at] ^= 1 << rng.below(8),
        1 if len > 0 => body[at] = rng.next() as u8,
        2 => {
            for _ in 0..=rng.below(3) {
                body.insert(at.min(body.len()), rng.next() as u8);
            }
        }
        3 if len > 0 => {
            let end = (at + 1 + rng.below(8)).min(len);
            body.drain(at..end);
        }
        4 => body.truncate(at),
        5 if len > 0 => {
            let end = (at + 1 + rng.below(16)).min(len);
            let copy = body[at..end].to_vec();
            let to = rng.below(len + 1);
            body.splice(to..to, copy);
        }
        6 if len > 0 => body[at] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)],
        7 if len > 0 => body[at] ^= 1 + rng.below(7) as u8, // another wire type
        _ => body.push(rng.next() as u8),
    }
}

/// An encoded random request of `signal`, with up to `fanout` children per level.
pub(crate) fn request(rng: &mut Rng, signal: Signal, fanout: usize) -> Vec<u8> {
    match signal {
        Signal::Metrics => metrics(rng, fanout).encode_to_vec(),
        Signal::Traces => traces(rng, fanout).encode_to_vec(),
        Signal::Logs => logs(rng, fanout).encode_to_vec(),
    }
}

fn any_value(rng: &mut Rng, depth: usize) -> AnyValue {
    use any_value::Value;
    let value = match rng.below(if depth == 0 { 6 } else { 8 }) {
        0 => None,
        1 => Some(Value::StringValue(rng.string())),
        2 => Some(Value::BoolValue(rng.chance(50))),
        3 => Some(Value::IntValue(rng.next() as i64)),
        4 => Some(Value::DoubleValue(rng.double())),
        5 => Some(Value::BytesValue(rng.bytes())),
        6 => Some(Value::ArrayValue(ArrayValue {
            values: rng.few(3, |r| any_value(r, depth - 1)),
        })),
        _ => Some(Value::KvlistValue(KeyValueList {
            values: attributes_at(rng, depth - 1),
        })),
    };
    AnyValue { value }
}

fn attributes_at(rng: &mut Rng, depth: usize) -> Vec<KeyValue> {
    rng.few(3, |r| KeyValue {
        key: r.string(),
        value: if r.chance(90) {
            Some(any_value(r, depth))
        } else {
            None
        },
        key_strindex: if r.chance(10) { r.next() as i32 } else { 0 },
    })
}

fn attributes(rng: &mut Rng) -> Vec<KeyValue> {
    attributes_at(rng, 2)
}

fn resource(rng: &mut Rng) -> Option<Resource> {
    rng.chance(80).then(|| Resource {
        attributes: attributes(rng),
        dropped_attributes_count: rng.below(3) as u32,
        entity_refs: rng.few(1, |r| EntityRef {
            schema_url: r.string(),
            r#type: r.string(),
            id_keys: r.few(2, Rng::string),
            description_keys: r.few(2, Rng::string),
        }),
    })
}

fn scope(rng: &mut Rng) -> Option<InstrumentationScope> {
    rng.chance(80).then(|| InstrumentationScope {
        name: rng.string(),
        version: rng.string(),
        attributes: attributes(rng),
        dropped_attributes_count: rng.below(3) as u32,
    })
}

fn exemplars(rng: &mut Rng) -> Vec<Exemplar> {
    rng.few(2, |r| Exemplar {
        filtered_attributes: attributes(r),
        time_unix_nano: r.next(),
        span_id: r.bytes(),
        trace_id: r.bytes(),
        value: match r.below(3) {
            0 => None,
            1 => Some(exemplar::Value::AsDouble(r.double())),
            _ => Some(exemplar::Value::AsInt(r.next() as i64)),
        },
    })
}

fn number_point(rng: &mut Rng) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(rng),
        start_time_unix_nano: rng.next(),
        time_unix_nano: rng.next(),
        exemplars: exemplars(rng),
        flags: rng.below(2) as u32,
        value: match rng.below(3) {
            0 => None,
            1 => Some(number_data_point::Value::AsDouble(rng.double())),
            _ => Some(number_data_point::Value::AsInt(rng.next() as i64)),
        },
    }
}

fn histogram_point(rng: &mut Rng) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: attributes(rng),
        start_time_unix_nano: rng.next(),
        time_unix_nano: rng.next(),
        count: rng.next(),
        sum: rng.chance(50).then(|| rng.double()),
        bucket_counts: rng.few(4, Rng::next),
        explicit_bounds: rng.few(3, Rng::double),
        exemplars: exemplars(rng),
        flags: rng.below(2) as u32,
        min: rng.chance(50).then(|| rng.double()),
        max: rng.chance(50).then(|| rng.double()),
    }
}

fn buckets(rng: &mut Rng) -> Option<Buckets> {
    rng.chance(70).then(|| Buckets {
        offset: rng.next() as i32,
        bucket_counts: rng.few(4, |r| r.next() >> r.below(64)),
    })
}

fn exponential_point(rng: &mut Rng) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        attributes: attributes(rng),
        start_time_unix_nano: rng.next(),
        time_unix_nano: rng.next(),
        count: rng.next(),
        sum: rng.chance(50).then(|| rng.double()),
        scale: rng.below(40) as i32 - 20,
        zero_count: rng.next(),
        positive: buckets(rng),
        negative: buckets(rng),
        flags: rng.below(2) as u32,
        exemplars: exemplars(rng),
        min: rng.chance(50).then(|| rng.double()),
        max: rng.chance(50).then(|| rng.double()),
        zero_threshold: rng.double(),
    }
}

fn summary_point(rng: &mut Rng) -> SummaryDataPoint {
    SummaryDataPoint {
        attributes: attributes(rng),
        start_time_unix_nano: rng.next(),
        time_unix_nano: rng.next(),
        count: rng.next(),
        sum: rng.double(),
        quantile_values: rng.few(3, |r| ValueAtQuantile {
            quantile: r.double(),
            value: r.double(),
        }),
        flags: rng.below(2) as u32,
    }
}

fn metric(rng: &mut Rng, fanout: usize) -> Metric {
    let temporality = rng.below(3) as i32;
    let data = match rng.below(6) {
        0 => None,
        1 => Some(Data::Gauge(Gauge {
            data_points: rng.few(fanout, number_point),
        })),
        2 => Some(Data::Sum(Sum {
            data_points: rng.few(fanout, number_point),
            aggregation_temporality: temporality,
            is_monotonic: rng.chance(50),
        })),
        3 => Some(Data::Histogram(Histogram {
            data_points: rng.few(fanout, histogram_point),
            aggregation_temporality: temporality,
        })),
        4 => Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: rng.few(fanout, exponential_point),
            aggregation_temporality: temporality,
        })),
        _ => Some(Data::Summary(Summary {
            data_points: rng.few(fanout, summary_point),
        })),
    };
    Metric {
        name: rng.string(),
        description: rng.string(),
        unit: rng.string(),
        metadata: attributes(rng),
        data,
    }
}

pub(crate) fn metrics(rng: &mut Rng, fanout: usize) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: rng.few(fanout, |r| ResourceMetrics {
            resource: resource(r),
            scope_metrics: r.few(fanout, |r| ScopeMetrics {
                scope: scope(r),
                metrics: r.few(fanout, |r| metric(r, fanout)),
                schema_url: r.string(),
            }),
            schema_url: r.string(),
        }),
    }
}

fn span(rng: &mut Rng) -> Span {
    Span {
        trace_id: rng.bytes(),
        span_id: rng.bytes(),
        trace_state: rng.string(),
        parent_span_id: rng.bytes(),
        flags: rng.next() as u32,
        name: rng.string(),
        kind: rng.below(6) as i32,
        start_time_unix_nano: rng.next(),
        end_time_unix_nano: rng.next(),
        attributes: attributes(rng),
        dropped_attributes_count: rng.below(3) as u32,
        events: rng.few(2, |r| span::Event {
            time_unix_nano: r.next(),
            name: r.string(),
            attributes: attributes(r),
            dropped_attributes_count: r.below(3) as u32,
        }),
        dropped_events_count: rng.below(3) as u32,
        links: rng.few(2, |r| span::Link {
            trace_id: r.bytes(),
            span_id: r.bytes(),
            trace_state: r.string(),
            attributes: attributes(r),
            dropped_attributes_count: r.below(3) as u32,
            flags: r.next() as u32,
        }),
        dropped_links_count: rng.below(3) as u32,
        status: rng.chance(50).then(|| Status {
            message: rng.string(),
            code: rng.below(3) as i32,
        }),
    }
}

pub(crate) fn traces(rng: &mut Rng, fanout: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: rng.few(fanout, |r| ResourceSpans {
            resource: resource(r),
            scope_spans: r.few(fanout, |r| ScopeSpans {
                scope: scope(r),
                spans: r.few(fanout * 2, span),
                schema_url: r.string(),
            }),
            schema_url: r.string(),
        }),
    }
}

fn log_record(rng: &mut Rng) -> LogRecord {
    LogRecord {
        time_unix_nano: rng.next(),
        observed_time_unix_nano: rng.next(),
        severity_number: rng.below(25) as i32,
        severity_text: rng.string(),
        body: rng.chance(80).then(|| any_value(rng, 2)),
        attributes: attributes(rng),
        dropped_attributes_count: rng.below(3) as u32,
        flags: rng.next() as u32,
        trace_id: rng.bytes(),
        span_id: rng.bytes(),
        event_name: rng.string(),
    }
}

pub(crate) fn logs(rng: &mut Rng, fanout: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: rng.few(fanout, |r| ResourceLogs {
            resource: resource(r),
            scope_logs: r.few(fanout, |r| ScopeLogs {
                scope: scope(r),
                log_records: r.few(fanout * 2, log_record),
                schema_url: r.string(),
            }),
            schema_url: r.string(),
        }),
    }
}

/// Data points in a metric, as decoded.
pub(crate) fn points(metric: &Metric) -> u64 {
    metric
        .data
        .as_ref()
        .map_or(0, crate::store::otlp::point_count)
}

pub(crate) fn metrics_per_resource(request: &ExportMetricsServiceRequest) -> Vec<u64> {
    let scopes = |rm: &ResourceMetrics| {
        rm.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(points)
            .sum()
    };
    request.resource_metrics.iter().map(scopes).collect()
}

pub(crate) fn spans_per_resource(request: &ExportTraceServiceRequest) -> Vec<u64> {
    let scopes = |rs: &ResourceSpans| rs.scope_spans.iter().map(|s| s.spans.len() as u64).sum();
    request.resource_spans.iter().map(scopes).collect()
}

pub(crate) fn logs_per_resource(request: &ExportLogsServiceRequest) -> Vec<u64> {
    let scopes = |rl: &ResourceLogs| {
        rl.scope_logs
            .iter()
            .map(|s| s.log_records.len() as u64)
            .sum()
    };
    request.resource_logs.iter().map(scopes).collect()
}

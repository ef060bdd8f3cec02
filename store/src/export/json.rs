//! Vigil's JSON snapshot (`GET /api/v1/snapshot`), schema in [`vigil_proto::snapshot`].
//!
//! The document is written in pieces, one metric at a time (see `stream.rs`), each metric built
//! under `catch_unwind`: a metric that fails to build is left out and its service carries an
//! `error`, so one bad part never costs the whole response.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::AnyValue;
use serde_json::{Map, Value as Json};
use vigil_proto::snapshot::{self as doc, float};

use super::buckets::{self, Classic};
use super::stream::{self, JsonStream};
use crate::store::{MetricSnap, Number, OwnedAttrs, OwnedValue, SnapValue, Snapshot};
use crate::translate::{self, OtelKind};

/// Encode the snapshot document.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    stream::whole(|emit| encode_chunked(snap, usize::MAX, emit))
}

/// Encode the snapshot document in pieces of about `chunk` bytes (see `stream.rs`): one
/// metric at a time is built, so a read never holds the whole document. A metric that fails to
/// build is left out, and its service says so in `error`. `emit` returns `false` to stop.
pub fn encode_chunked(snap: &Snapshot, chunk: usize, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
    let mut out = JsonStream::new(chunk, emit);
    let shell = doc::Snapshot {
        schema_version: doc::SCHEMA_VERSION,
        generated_at: rfc3339(snap.generated_at),
        services: Vec::new(),
    };
    let Some(end) = out.open(&shell, "services") else {
        return;
    };
    let mut first_service = true;
    for (ri, resource) in snap.resources.iter().enumerate() {
        let shell = doc::Service {
            service: resource.service_name().to_string(),
            job: resource.job.as_deref().map(str::to_string),
            instance: resource.instance.as_deref().map(str::to_string),
            resource: attrs_json(&resource.attrs),
            metrics: Vec::new(),
            error: None,
        };
        out.separate(&mut first_service);
        let Some(service_end) = out.open(&shell, "metrics") else {
            return;
        };
        let mut first = true;
        let mut failed = false;
        for m in metrics_of(snap, ri) {
            match catch_unwind(AssertUnwindSafe(|| metric(snap, m))) {
                Ok(doc) => failed |= !out.item(&mut first, &doc),
                Err(_) => failed = true,
            }
            if out.stopped() {
                return;
            }
        }
        let error = failed.then_some(concat!(
            r#""error":"some metrics of this section could not be built"#,
            r#" and are left out; see the collector's log""#
        ));
        out.close(service_end, error);
    }
    out.close(end, None);
    out.finish();
}

/// Build the document whole (tests; the server streams with [`encode_chunked`]).
pub fn build(snap: &Snapshot) -> doc::Snapshot {
    let services = (0..snap.resources.len())
        .map(|ri| service(snap, ri))
        .collect();
    doc::Snapshot {
        schema_version: doc::SCHEMA_VERSION,
        generated_at: rfc3339(snap.generated_at),
        services,
    }
}

/// The metrics of resource `ri`: a snapshot lists metrics grouped by resource, in order.
fn metrics_of(snap: &Snapshot, ri: usize) -> &[MetricSnap] {
    let start = snap.metrics.partition_point(|m| m.resource < ri);
    let end = snap.metrics.partition_point(|m| m.resource <= ri);
    snap.metrics.get(start..end).unwrap_or(&[])
}

fn service(snap: &Snapshot, ri: usize) -> doc::Service {
    let r = &snap.resources[ri];
    let metrics = metrics_of(snap, ri)
        .iter()
        .map(|m| metric(snap, m))
        .collect();
    doc::Service {
        service: r.service_name().to_string(),
        job: r.job.as_deref().map(str::to_string),
        instance: r.instance.as_deref().map(str::to_string),
        resource: attrs_json(&r.attrs),
        metrics,
        error: None,
    }
}

fn metric(snap: &Snapshot, m: &MetricSnap) -> doc::Metric {
    let d = &m.desc;
    let (kind, temporality, monotonic) = match d.kind {
        OtelKind::Sum { monotonic } => ("sum", Some(m.delta), Some(monotonic)),
        OtelKind::Gauge => ("gauge", None, None),
        OtelKind::Histogram => ("histogram", Some(m.delta), None),
        OtelKind::ExponentialHistogram => ("exponential_histogram", Some(m.delta), None),
        OtelKind::Summary => ("summary", None, None),
    };
    let scope = snap.scopes.get(m.scope);
    doc::Metric {
        name: d.name.to_string(),
        kind: kind.into(),
        unit: d.unit.to_string(),
        description: d.description.to_string(),
        temporality: temporality
            .map(|delta| if delta { "delta" } else { "cumulative" }.to_string()),
        monotonic,
        scope: doc::Scope {
            name: scope.map(|s| s.name.to_string()).unwrap_or_default(),
            version: scope.map(|s| s.version.to_string()).unwrap_or_default(),
        },
        prometheus: doc::Prometheus {
            family: d.prom.family.clone(),
            kind: d.prom.prom_type.as_str().into(),
        },
        series: snap.series_of(m).iter().map(|s| series(snap, s)).collect(),
    }
}

fn series(snap: &Snapshot, s: &crate::store::SeriesSnap) -> doc::Series {
    let mut out = doc::Series {
        attributes: attrs_json(&s.meta.attrs),
        start_time: rfc3339(UNIX_EPOCH + Duration::from_nanos(s.start)),
        last_update: rfc3339(UNIX_EPOCH + Duration::from_nanos(s.time)),
        ..Default::default()
    };
    match &s.value {
        SnapValue::Number(Number::Int(i)) => out.value = Some(Json::from(*i)),
        SnapValue::Number(Number::Double(d)) => out.value = Some(float(*d)),
        SnapValue::Histogram {
            bounds,
            counts,
            count,
            sum,
            min,
            max,
        } => {
            let counts = snap.counts.get(counts.clone()).unwrap_or(&[]);
            out.buckets = Some(classic_json(buckets::explicit(bounds, counts, *count)));
            out.count = Some(*count);
            out.sum = sum.map(float);
            out.min = min.map(float);
            out.max = max.map(float);
        }
        SnapValue::Exp(e) => {
            out.count = Some(e.count);
            out.sum = e.sum.map(float);
            out.min = e.min.map(float);
            out.max = e.max.map(float);
            out.buckets = Some(classic_json(buckets::exponential(e)));
            out.exponential = Some(doc::Exponential {
                scale: e.scale,
                zero_count: e.zero_count,
                zero_threshold: e.zero_threshold,
                positive_offset: e.positive.offset,
                positive: e.positive.counts.clone(),
                negative_offset: e.negative.offset,
                negative: e.negative.counts.clone(),
            });
        }
        SnapValue::Summary {
            count,
            sum,
            quantiles,
        } => {
            out.count = Some(*count);
            out.sum = Some(float(*sum));
            out.quantiles = Some(
                snap.quantiles
                    .get(quantiles.clone())
                    .unwrap_or(&[])
                    .iter()
                    .map(|(q, v)| doc::Quantile {
                        quantile: *q,
                        value: float(*v),
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Classic buckets as the snapshot lists them: cumulative, `+Inf` last.
fn classic_json(classic: Classic<impl Iterator<Item = buckets::Bucket>>) -> Vec<doc::Bucket> {
    let mut out: Vec<doc::Bucket> = classic
        .finite
        .map(|b| doc::Bucket {
            le: float(b.le),
            count: b.cumulative,
        })
        .collect();
    out.push(doc::Bucket {
        le: float(f64::INFINITY),
        count: classic.inf,
    });
    out
}

/// Attributes as a JSON object, values keeping their OTel types. What has no JSON type of its
/// own reads as in labels ([`translate::attr_value_string`]): bytes in Base64, a non-finite
/// double as `NaN`, `Infinity` or `-Infinity`.
pub fn attrs_json(attrs: &OwnedAttrs) -> Map<String, Json> {
    attrs
        .0
        .iter()
        .map(|(k, v)| {
            let value = match v {
                OwnedValue::Str(s) => Json::String(s.to_string()),
                OwnedValue::SharedStr(s) => Json::String(s.to_string()),
                OwnedValue::Bool(b) => Json::Bool(*b),
                OwnedValue::Int(i) => Json::from(*i),
                OwnedValue::Double(d) if d.is_finite() => float(*d),
                OwnedValue::Complex(any) => complex_json(any),
                OwnedValue::Double(_) | OwnedValue::Bytes(_) => {
                    Json::String(v.as_ref().to_label_value().into_owned())
                }
                OwnedValue::Empty => Json::Null,
            };
            (k.to_string(), value)
        })
        .collect()
}

/// An array or map attribute value: the label text read back as JSON, so the snapshot and the
/// pages hold the same values (one encoder, [`translate::attr_value_string`]). Two things the
/// reading does not keep: a map's key order (the snapshot's objects list keys sorted, the
/// label keeps the sender's order; JSON gives the order no meaning) and a key repeated in one
/// map (the last one stays). The text is JSON by
/// construction; were it ever not, the snapshot shows it as a string rather than nothing.
fn complex_json(any: &AnyValue) -> Json {
    let text = translate::attr_value_string(&translate::AttrValueRef::Complex(any));
    serde_json::from_str(&text).unwrap_or_else(|_| Json::String(text.into_owned()))
}

/// RFC 3339 in UTC with nanoseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
    };
    use serde_json::json;

    use super::*;
    use crate::export::prometheus::{Format, render};
    use crate::store::{AttrValue, Filter, Kind, Number, NumberPoint, Options, Store, unix_nanos};

    #[test]
    fn attribute_values_read_alike_on_the_page_and_in_the_snapshot() {
        // Regression (issue 9): the snapshot spelled bytes in hex (`fffe`), the page in Base64.
        // And (one encoder): a nested infinity read `"+Inf"` in labels but `"Infinity"` in the
        // encoder the translation tests checked, and map keys came out sorted in labels (the
        // page line below holds them in their order; the snapshot's map compares as a map).
        let v = |value| AnyValue { value: Some(value) };
        let list = v(any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                v(any_value::Value::BytesValue(b"hi".to_vec())),
                v(any_value::Value::DoubleValue(f64::INFINITY)),
                v(any_value::Value::DoubleValue(0.1)),
            ],
        }));
        let kv = |key: &str, i| KeyValue {
            key: key.into(),
            value: Some(v(any_value::Value::IntValue(i))),
            ..Default::default()
        };
        let map = v(any_value::Value::KvlistValue(KeyValueList {
            values: vec![kv("z", 1), kv("a", 2)],
        }));
        let attrs: &[(&str, AttrValue<'_>)] = &[
            ("blob", AttrValue::Bytes(&[0xff, 0xfe])),
            ("list", AttrValue::Complex(&list)),
            ("low", AttrValue::Double(f64::NEG_INFINITY)),
            ("map", AttrValue::Complex(&map)),
        ];
        let empty: &[(&str, AttrValue<'_>)] = &[];
        let store = Store::new(Options::default());
        let mut ingest = store.ingest();
        let r = ingest.resource(empty, "").unwrap();
        let s = ingest.scope(r, "", "", "", empty).unwrap();
        let m = ingest.metric(s, "g", "", "", Kind::Gauge).unwrap();
        let p = NumberPoint {
            start: 0,
            time: unix_nanos(SystemTime::now()),
            value: Number::Int(1),
        };
        ingest.number(m, attrs, p, false, &[]).unwrap();
        drop(ingest);
        let snap = store.snapshot(&Filter::default());
        let page = render(&snap, Format::Text);
        let lines: Vec<&str> = page.lines().filter(|l| l.starts_with("g{")).collect();
        assert_eq!(
            lines,
            [concat!(
                r#"g{blob="//4=",list="[\"aGk=\",\"Infinity\",0.1]","#,
                r#"low="-Infinity",map="{\"z\":1,\"a\":2}"} 1"#
            )]
        );
        let doc = build(&snap);
        assert_eq!(
            Json::Object(doc.services[0].metrics[0].series[0].attributes.clone()),
            json!({
                "blob": "//4=",
                "list": ["aGk=", "Infinity", 0.1],
                "low": "-Infinity",
                "map": {"z": 1, "a": 2},
            })
        );
    }
}

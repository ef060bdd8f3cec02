//! The walk from an encoded `ExportMetricsServiceRequest` to the store's [`Ingest`] calls.
//!
//! It makes the calls `store::otlp::ingest_request_with` makes for the prost-decoded request,
//! in the same order and with the same values, so the two paths leave the same store and the
//! same [`Report`]. Where protobuf lets a message repeat a field, the value is the one prost
//! would build: the last scalar wins, repeated fields and repeats of a message add up (a
//! `resource`, a `scope`, a `Buckets`), and in a `Metric` only the last `data` variant counts,
//! merged over its repeats since the last other variant. Because of that, a message whose
//! identity (a resource's attributes, a metric's name and type) may come after its children is
//! read twice: once for the head, once for the children; both readings only step over bytes.

use opentelemetry_proto::tonic::metrics::v1::Exemplar;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;

use super::attrs::{self, AttrScratch};
use super::wire::{Malformed, Msg, Value};
use crate::store::otlp::{self, Report};
use crate::store::{
    Applied, AttrValue, Ingest, Kind, PointError, Refusal, ResourceId, ScopeId, Store,
};

// `Metric` field numbers of the `data` oneof.
const GAUGE: u32 = 5;
const SUM: u32 = 7;
const HISTOGRAM: u32 = 9;
const EXP_HISTOGRAM: u32 = 10;
const SUMMARY: u32 = 11;

/// Ingests `body`, which [`crate::pipeline::scan::scan`] accepted, calling `on_point` as
/// `ingest_request_with` does. Should the bytes not be a request after all, the error comes
/// where the walk finds out, and what came before it stays ingested.
pub fn ingest_scanned(
    store: &Store,
    body: &[u8],
    on_point: &mut dyn FnMut(&Ingest<'_>),
) -> Result<Report, Malformed> {
    let mut reader = Reader {
        session: store.ingest(),
        report: Report::default(),
        on_point,
        scratch: Scratch::default(),
    };
    let mut fields = Msg::request(body).fields("ExportMetricsServiceRequest");
    while let Some((field, value, at)) = fields.next()? {
        match (field, value) {
            (1, Value::Len(rm)) => reader.resource_metrics(rm)?,
            (1, _) => return Err(fields.wrong_type(at)),
            _ => {}
        }
    }
    Ok(reader.report)
}

/// What one request reuses from point to point.
#[derive(Default)]
pub(super) struct Scratch<'a> {
    pub(super) attrs: AttrScratch<'a>,
    pub(super) counts: Vec<u64>,
    pub(super) bounds: Vec<f64>,
    pub(super) positive: Vec<u64>,
    pub(super) negative: Vec<u64>,
    pub(super) quantiles: Vec<ValueAtQuantile>,
    /// Exemplars are rare and the store takes prost's type: decoded with prost when present.
    pub(super) exemplars: Vec<Exemplar>,
}

/// One request being read into one store session.
pub(super) struct Reader<'a, 's, 'f> {
    pub(super) session: Ingest<'s>,
    report: Report,
    on_point: &'f mut dyn FnMut(&Ingest<'_>),
    pub(super) scratch: Scratch<'a>,
}

/// What a `Metric` is, read before its points.
#[derive(Default)]
struct Head<'a> {
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    /// Field number of the `data` variant that counts (0: none).
    data: u32,
    /// Offset of its first repeat that counts.
    from: usize,
    points: u64,
    temporality: i32,
    monotonic: bool,
    /// The `prometheus.type` metadata entry, when a string.
    type_hint: Option<&'a str>,
}

fn head(metric: Msg<'_>) -> Result<Head<'_>, Malformed> {
    const M: &str = "Metric";
    let mut head = Head::default();
    let mut fields = metric.fields(M);
    while let Some((field, value, at)) = fields.next()? {
        match (field, value) {
            (1, Value::Len(s)) => head.name = s.str(M)?,
            (2, Value::Len(s)) => head.description = s.str(M)?,
            (3, Value::Len(s)) => head.unit = s.str(M)?,
            (GAUGE | SUM | HISTOGRAM | EXP_HISTOGRAM | SUMMARY, Value::Len(data)) => {
                if field != head.data {
                    // Another variant replaces the data: prost starts from a default message.
                    head = Head {
                        data: field,
                        from: at,
                        ..head
                    };
                    (head.points, head.temporality, head.monotonic) = (0, 0, false);
                }
                let mut inner = data.fields("Metric.data");
                while let Some((f, v, at)) = inner.next()? {
                    match (field, f, v) {
                        (_, 1, Value::Len(_)) => head.points += 1,
                        (SUM | HISTOGRAM | EXP_HISTOGRAM, 2, Value::Varint(t)) => {
                            head.temporality = t as i32
                        }
                        (SUM, 3, Value::Varint(b)) => head.monotonic = b != 0,
                        (_, 1, _) | (SUM | HISTOGRAM | EXP_HISTOGRAM, 2, _) | (SUM, 3, _) => {
                            return Err(inner.wrong_type(at));
                        }
                        _ => {}
                    }
                }
            }
            (12, Value::Len(kv)) => {
                // The last entry wins, as it would in a map built from the list.
                if let Some((otlp::PROMETHEUS_TYPE, value)) = attrs::plain(kv)? {
                    head.type_hint = match value {
                        AttrValue::Str(s) => Some(s),
                        _ => None,
                    };
                }
            }
            (1..=3 | 5 | 7 | 9..=12, _) => return Err(fields.wrong_type(at)),
            _ => {}
        }
    }
    Ok(head)
}

impl Head<'_> {
    /// The store's kind, or `None` when a temporality is needed and unspecified.
    fn kind(&self) -> Option<Kind> {
        let delta = otlp::delta(self.temporality);
        match self.data {
            SUM => delta.map(|delta| Kind::Sum {
                monotonic: self.monotonic,
                delta,
            }),
            HISTOGRAM => delta.map(|delta| Kind::Histogram { delta }),
            EXP_HISTOGRAM => delta.map(|delta| Kind::ExpHistogram { delta }),
            SUMMARY => Some(Kind::Summary),
            _ => Some(Kind::Gauge),
        }
    }
}

/// Points in the metrics of one `ScopeMetrics`.
fn scope_points(sm: Msg<'_>) -> Result<u64, Malformed> {
    let mut points = 0;
    let mut fields = sm.fields("ScopeMetrics");
    while let Some((field, value, _)) = fields.next()? {
        if let (2, Value::Len(metric)) = (field, value) {
            points += head(metric)?.points;
        }
    }
    Ok(points)
}

impl<'a> Reader<'a, '_, '_> {
    fn resource_metrics(&mut self, rm: Msg<'a>) -> Result<(), Malformed> {
        const RM: &str = "ResourceMetrics";
        let attrs = &mut self.scratch.attrs;
        attrs.clear();
        let mut schema_url = "";
        let mut fields = rm.fields(RM);
        while let Some((field, value, at)) = fields.next()? {
            match (field, value) {
                (1, Value::Len(resource)) => {
                    let mut inner = resource.fields("Resource");
                    while let Some((f, v, at)) = inner.next()? {
                        match (f, v) {
                            (1, Value::Len(kv)) => attrs.push(kv)?,
                            (2, Value::Varint(_)) | (3, Value::Len(_)) => {}
                            (1..=3, _) => return Err(inner.wrong_type(at)),
                            _ => {}
                        }
                    }
                }
                (2, Value::Len(_)) => {}
                (3, Value::Len(s)) => schema_url = s.str(RM)?,
                (1..=3, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        let resource = match self.session.resource(&attrs.view(), schema_url) {
            Ok(id) => id,
            Err(_) => {
                let mut n = 0;
                let mut fields = rm.fields(RM);
                while let Some((field, value, _)) = fields.next()? {
                    if let (2, Value::Len(sm)) = (field, value) {
                        n += scope_points(sm)?;
                    }
                }
                self.report
                    .reject(n, || "resource attributes repeat a key".to_string());
                return Ok(());
            }
        };
        let mut fields = rm.fields(RM);
        while let Some((field, value, _)) = fields.next()? {
            if let (2, Value::Len(sm)) = (field, value) {
                self.scope_metrics(resource, sm)?;
            }
        }
        Ok(())
    }

    fn scope_metrics(&mut self, resource: ResourceId, sm: Msg<'a>) -> Result<(), Malformed> {
        const SM: &str = "ScopeMetrics";
        const SCOPE: &str = "InstrumentationScope";
        let attrs = &mut self.scratch.attrs;
        attrs.clear();
        let (mut name, mut version, mut schema_url) = ("", "", "");
        let mut fields = sm.fields(SM);
        while let Some((field, value, at)) = fields.next()? {
            match (field, value) {
                (1, Value::Len(scope)) => {
                    let mut inner = scope.fields(SCOPE);
                    while let Some((f, v, at)) = inner.next()? {
                        match (f, v) {
                            (1, Value::Len(s)) => name = s.str(SCOPE)?,
                            (2, Value::Len(s)) => version = s.str(SCOPE)?,
                            (3, Value::Len(kv)) => attrs.push(kv)?,
                            (4, Value::Varint(_)) => {}
                            (1..=4, _) => return Err(inner.wrong_type(at)),
                            _ => {}
                        }
                    }
                }
                (2, Value::Len(_)) => {}
                (3, Value::Len(s)) => schema_url = s.str(SM)?,
                (1..=3, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        let scope = match self
            .session
            .scope(resource, name, version, schema_url, &attrs.view())
        {
            Ok(id) => id,
            Err(_) => {
                let n = scope_points(sm)?;
                self.report
                    .reject(n, || format!("scope {name:?}: attributes repeat a key"));
                return Ok(());
            }
        };
        let mut fields = sm.fields(SM);
        while let Some((field, value, _)) = fields.next()? {
            if let (2, Value::Len(metric)) = (field, value) {
                self.metric(scope, metric)?;
            }
        }
        Ok(())
    }

    fn metric(&mut self, scope: ScopeId, metric: Msg<'a>) -> Result<(), Malformed> {
        let head = head(metric)?;
        let n = head.points;
        if head.data == 0 || n == 0 {
            // No data, or no points: nothing to accept or reject.
            return Ok(());
        }
        let Some(kind) = head.kind() else {
            let refusal = Refusal::UnspecifiedTemporality {
                metric: head.name.to_string(),
            };
            self.session.refuse_points(&refusal, n);
            self.report.reject(n, || refusal.to_string());
            return Ok(());
        };
        let id = match self.session.metric_with_type_hint(
            scope,
            head.name,
            head.description,
            head.unit,
            kind,
            head.type_hint,
        ) {
            Ok(id) => id,
            Err(refusal) => {
                self.session.refuse_points(&refusal, n);
                self.report.reject(n, || refusal.to_string());
                return Ok(());
            }
        };
        let mut fields = metric.fields("Metric");
        while let Some((field, value, at)) = fields.next()? {
            let (true, Value::Len(data)) = (field == head.data && at >= head.from, value) else {
                continue;
            };
            let mut inner = data.fields("Metric.data");
            while let Some((f, v, _)) = inner.next()? {
                let (1, Value::Len(point)) = (f, v) else {
                    continue;
                };
                let r = match head.data {
                    GAUGE | SUM => self.number(id, point)?,
                    HISTOGRAM => self.histogram(id, point)?,
                    EXP_HISTOGRAM => self.exp_histogram(id, point)?,
                    _ => self.summary(id, point)?,
                };
                self.settle(r, head.name);
            }
        }
        self.session.release_if_empty(id);
        Ok(())
    }

    /// Counts a point's outcome, as the prost path does.
    fn settle(&mut self, r: Result<Applied, PointError>, metric: &str) {
        match r {
            Ok(_) => {
                self.report.accepted += 1;
                (self.on_point)(&self.session);
            }
            Err(e) => {
                self.session.refuse_point(&e);
                self.report.reject(1, || format!("metric {metric:?}: {e}"));
            }
        }
    }
}

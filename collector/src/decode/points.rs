//! The data points of a metric, read into the store: one reader per point type.
//!
//! Each reads the fields of one point (the last scalar wins, repeated fields add up, packed or
//! not) into locals and the request's scratch, then makes one store call. Nothing here
//! allocates once the scratch vectors have grown to the largest point of the request, except
//! for exemplars, which are decoded with prost.

use opentelemetry_proto::tonic::metrics::v1::Exemplar;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use prost::Message;

use super::metrics::Reader;
use super::wire::{Malformed, Msg, Value, sint32};
use crate::store::otlp;
use crate::store::{
    Applied, ExpHistogramPoint, HistogramPoint, MetricId, Number, NumberPoint, PointError,
    SummaryPoint,
};

/// A point's outcome in the store, or why its bytes could not be read.
type Read = Result<Result<Applied, PointError>, Malformed>;

impl<'a> Reader<'a, '_, '_> {
    fn start_point(&mut self) {
        let s = &mut self.scratch;
        s.attrs.clear();
        s.exemplars.clear();
        s.counts.clear();
        s.bounds.clear();
        s.positive.clear();
        s.negative.clear();
        s.quantiles.clear();
    }

    pub(super) fn number(&mut self, id: MetricId, p: Msg<'a>) -> Read {
        const P: &str = "NumberDataPoint";
        self.start_point();
        let (mut start, mut time, mut flags, mut value) = (0, 0, 0, None);
        let mut fields = p.fields(P);
        while let Some((field, v, at)) = fields.next()? {
            match (field, v) {
                (7, Value::Len(kv)) => self.scratch.attrs.push(kv)?,
                (2, Value::I64(t)) => start = t,
                (3, Value::I64(t)) => time = t,
                (4, Value::I64(d)) => value = Some(Number::Double(f64::from_bits(d))),
                (6, Value::I64(i)) => value = Some(Number::Int(i as i64)),
                (5, Value::Len(e)) => exemplar(e, &mut self.scratch.exemplars)?,
                (8, Value::Varint(f)) => flags = f as u32,
                (2..=8, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        let no_value = otlp::no_value(flags);
        let value = match value {
            Some(v) => v,
            None if no_value => Number::Int(0),
            None => return Ok(Err(PointError::MissingValue)),
        };
        let point = NumberPoint { start, time, value };
        let s = &self.scratch;
        Ok(self
            .session
            .number(id, &s.attrs.view(), point, no_value, &s.exemplars))
    }

    pub(super) fn histogram(&mut self, id: MetricId, p: Msg<'a>) -> Read {
        const P: &str = "HistogramDataPoint";
        self.start_point();
        let (mut start, mut time, mut count, mut flags) = (0, 0, 0, 0);
        let (mut sum, mut min, mut max) = (None, None, None);
        let s = &mut self.scratch;
        let mut fields = p.fields(P);
        while let Some((field, v, at)) = fields.next()? {
            match (field, v) {
                (9, Value::Len(kv)) => s.attrs.push(kv)?,
                (2, Value::I64(t)) => start = t,
                (3, Value::I64(t)) => time = t,
                (4, Value::I64(c)) => count = c,
                (5, Value::I64(d)) => sum = Some(f64::from_bits(d)),
                (6, Value::I64(c)) => s.counts.push(c),
                (6, Value::Len(packed)) => packed.packed_fixed64(P, &mut s.counts, |c| c)?,
                (7, Value::I64(b)) => s.bounds.push(f64::from_bits(b)),
                (7, Value::Len(packed)) => {
                    packed.packed_fixed64(P, &mut s.bounds, f64::from_bits)?
                }
                (8, Value::Len(e)) => exemplar(e, &mut s.exemplars)?,
                (10, Value::Varint(f)) => flags = f as u32,
                (11, Value::I64(d)) => min = Some(f64::from_bits(d)),
                (12, Value::I64(d)) => max = Some(f64::from_bits(d)),
                (2..=12, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        // A histogram without buckets is one +Inf bucket holding the count.
        let only = [count];
        let (bounds, counts) = if s.counts.is_empty() && s.bounds.is_empty() {
            (&[][..], &only[..])
        } else {
            (s.bounds.as_slice(), s.counts.as_slice())
        };
        let point = HistogramPoint {
            start,
            time,
            count,
            sum,
            min,
            max,
            bounds,
            counts,
        };
        let no_value = otlp::no_value(flags);
        Ok(self
            .session
            .histogram(id, &s.attrs.view(), point, no_value, &s.exemplars))
    }

    pub(super) fn exp_histogram(&mut self, id: MetricId, p: Msg<'a>) -> Read {
        const P: &str = "ExponentialHistogramDataPoint";
        self.start_point();
        let (mut start, mut time, mut count, mut flags, mut scale) = (0, 0, 0, 0, 0);
        let (mut sum, mut min, mut max) = (None, None, None);
        let (mut zero_count, mut zero_threshold) = (0, 0.0);
        let (mut positive, mut negative) = (0, 0);
        let s = &mut self.scratch;
        let mut fields = p.fields(P);
        while let Some((field, v, at)) = fields.next()? {
            match (field, v) {
                (1, Value::Len(kv)) => s.attrs.push(kv)?,
                (2, Value::I64(t)) => start = t,
                (3, Value::I64(t)) => time = t,
                (4, Value::I64(c)) => count = c,
                (5, Value::I64(d)) => sum = Some(f64::from_bits(d)),
                (6, Value::Varint(v)) => scale = sint32(v),
                (7, Value::I64(c)) => zero_count = c,
                (8, Value::Len(b)) => buckets(b, &mut positive, &mut s.positive)?,
                (9, Value::Len(b)) => buckets(b, &mut negative, &mut s.negative)?,
                (10, Value::Varint(f)) => flags = f as u32,
                (11, Value::Len(e)) => exemplar(e, &mut s.exemplars)?,
                (12, Value::I64(d)) => min = Some(f64::from_bits(d)),
                (13, Value::I64(d)) => max = Some(f64::from_bits(d)),
                (14, Value::I64(d)) => zero_threshold = f64::from_bits(d),
                (1..=14, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        let point = ExpHistogramPoint {
            start,
            time,
            count,
            sum,
            min,
            max,
            // Checked by the session: a scale outside [-10, 20] is refused.
            scale,
            zero_count,
            zero_threshold,
            positive: (positive, &s.positive),
            negative: (negative, &s.negative),
        };
        let no_value = otlp::no_value(flags);
        Ok(self
            .session
            .exp_histogram(id, &s.attrs.view(), point, no_value, &s.exemplars))
    }

    pub(super) fn summary(&mut self, id: MetricId, p: Msg<'a>) -> Read {
        const P: &str = "SummaryDataPoint";
        self.start_point();
        let (mut start, mut time, mut count, mut flags, mut sum) = (0, 0, 0, 0, 0.0);
        let s = &mut self.scratch;
        let mut fields = p.fields(P);
        while let Some((field, v, at)) = fields.next()? {
            match (field, v) {
                (7, Value::Len(kv)) => s.attrs.push(kv)?,
                (2, Value::I64(t)) => start = t,
                (3, Value::I64(t)) => time = t,
                (4, Value::I64(c)) => count = c,
                (5, Value::I64(d)) => sum = f64::from_bits(d),
                (6, Value::Len(q)) => s.quantiles.push(quantile(q)?),
                (8, Value::Varint(f)) => flags = f as u32,
                (2..=8, _) => return Err(fields.wrong_type(at)),
                _ => {}
            }
        }
        let point = SummaryPoint {
            start,
            time,
            count,
            sum,
            quantiles: &s.quantiles,
        };
        let no_value = otlp::no_value(flags);
        Ok(self.session.summary(id, &s.attrs.view(), point, no_value))
    }
}

/// Exemplars are rare, and the store takes prost's type: each is decoded with prost.
fn exemplar(e: Msg<'_>, out: &mut Vec<Exemplar>) -> Result<(), Malformed> {
    let exemplar = Exemplar::decode(e.bytes).map_err(|_| Malformed {
        offset: e.base,
        message: "Exemplar",
        problem: "prost refuses it",
    })?;
    out.push(exemplar);
    Ok(())
}

/// One repeat of a `Buckets` message, merged into `offset` and `counts`.
fn buckets(b: Msg<'_>, offset: &mut i32, counts: &mut Vec<u64>) -> Result<(), Malformed> {
    const B: &str = "Buckets";
    let mut fields = b.fields(B);
    while let Some((field, v, at)) = fields.next()? {
        match (field, v) {
            (1, Value::Varint(o)) => *offset = sint32(o),
            (2, Value::Varint(c)) => counts.push(c),
            (2, Value::Len(packed)) => packed.packed_varint(B, counts)?,
            (1 | 2, _) => return Err(fields.wrong_type(at)),
            _ => {}
        }
    }
    Ok(())
}

fn quantile(q: Msg<'_>) -> Result<ValueAtQuantile, Malformed> {
    const Q: &str = "ValueAtQuantile";
    let mut out = ValueAtQuantile::default();
    let mut fields = q.fields(Q);
    while let Some((field, v, at)) = fields.next()? {
        match (field, v) {
            (1, Value::I64(d)) => out.quantile = f64::from_bits(d),
            (2, Value::I64(d)) => out.value = f64::from_bits(d),
            (1 | 2, _) => return Err(fields.wrong_type(at)),
            _ => {}
        }
    }
    Ok(out)
}

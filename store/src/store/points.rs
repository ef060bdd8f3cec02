//! The point methods of an [`Ingest`] session: one per OTLP point type, each checking the
//! point, then folding it into its series through `Ingest::upsert`.

use opentelemetry_proto::tonic::metrics::v1::Exemplar;

use super::overflow::Fold;
use super::series;
use super::{
    Applied, Attributes, ExpHistogramPoint, HistogramPoint, Ingest, Kind, MetricId, NumberPoint,
    PointError, SummaryPoint, Value, checks,
};

impl Ingest<'_> {
    fn stamp(&self, time: u64) -> u64 {
        if time == 0 { self.now_ns } else { time }
    }

    fn check_time(&self, time: u64) -> Result<(), PointError> {
        checks::time(time, self.now_ns, self.store.options.max_future_skew)
    }

    /// A Sum or Gauge point.
    pub fn number<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: NumberPoint,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        let p = NumberPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value
            && let Some(m) = self
                .held(metric.visit)
                .and_then(|i| i.metrics.get(metric.id))
        {
            checks::number(m.kind, p.value)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            Fold::Number(&p),
            |_| (p.start, p.time, Value::Number(p.value)),
            |s, kind, _| match kind {
                Kind::Sum { monotonic, delta } => s.apply_sum(&p, delta, monotonic),
                _ => s.apply_gauge(&p),
            },
        )
    }

    /// An explicit-bucket histogram point.
    pub fn histogram<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: HistogramPoint<'_>,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        if !no_value {
            if point.counts.len() != point.bounds.len() + 1 {
                return Err(PointError::BucketMismatch {
                    bounds: point.bounds.len(),
                    counts: point.counts.len(),
                });
            }
            let increasing = point.bounds.windows(2).all(|w| w[0] < w[1]);
            if !increasing || point.bounds.iter().any(|b| !b.is_finite()) {
                return Err(PointError::BadBounds);
            }
        }
        let p = HistogramPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value {
            checks::histogram_count(p.count, p.counts)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            Fold::Histogram(&p),
            |layout| {
                (
                    p.start,
                    p.time,
                    Value::Histogram(Box::new(series::new_histogram(&p, layout))),
                )
            },
            |s, kind, layout| s.apply_histogram(&p, kind.is_delta(), layout),
        )
    }

    /// An exponential histogram point.
    pub fn exp_histogram<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: ExpHistogramPoint<'_>,
        no_value: bool,
        exemplars: &[Exemplar],
    ) -> Result<Applied, PointError> {
        let p = ExpHistogramPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        checks::exp_histogram(&p, no_value)?;
        self.upsert(
            metric,
            attrs,
            no_value,
            exemplars,
            Fold::Refused,
            |_| (p.start, p.time, Value::Exp(Box::new(series::new_exp(&p)))),
            |s, kind, _| s.apply_exp(&p, kind.is_delta()),
        )
    }

    /// A summary point.
    pub fn summary<A: Attributes + ?Sized>(
        &mut self,
        metric: MetricId,
        attrs: &A,
        point: SummaryPoint<'_>,
        no_value: bool,
    ) -> Result<Applied, PointError> {
        let p = SummaryPoint {
            time: self.stamp(point.time),
            ..point
        };
        self.check_time(p.time)?;
        if !no_value {
            checks::quantiles(p.quantiles)?;
        }
        self.upsert(
            metric,
            attrs,
            no_value,
            &[],
            Fold::Refused,
            |_| {
                (
                    p.start,
                    p.time,
                    Value::Summary(Box::new(series::new_summary(&p))),
                )
            },
            |s, _, _| s.apply_summary(&p),
        )
    }
}

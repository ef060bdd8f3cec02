//! What the last point left in its series, read inside the ingest session.
//!
//! The `prometheusremotewrite` exporter writes one sample per point, and remote-write cannot
//! carry deltas: it needs each point's cumulative result, folded by the same rules that feed
//! `/metrics`. Rather than a second copy of those rules, it ingests into a store of its own and
//! reads, after each point, the series that point changed.

use std::sync::Arc;

use super::{Ingest, Kind, MetricDesc, ResourceInfo, SeriesMeta, Value};

/// The series the last point of an [`Ingest`] session changed, after the change.
#[derive(Debug)]
pub struct Current<'a> {
    /// The metric.
    pub desc: &'a Arc<MetricDesc>,
    /// Its kind and temporality as last sent.
    pub kind: Kind,
    /// The resource the series belongs to.
    pub resource: &'a Arc<ResourceInfo>,
    /// Attributes and label text.
    pub meta: &'a Arc<SeriesMeta>,
    /// Start of the cumulative value, Unix nanoseconds (0 = unknown).
    pub start: u64,
    /// Time of the point, Unix nanoseconds.
    pub time: u64,
    /// The cumulative value.
    pub value: &'a Value,
    /// The point created the series or started it over (a counter reset).
    pub reset: bool,
}

impl Ingest<'_> {
    /// The series the last point changed, or `None` when the last point changed nothing
    /// (refused, older than its series, or a no-recorded-value point that removed it).
    pub fn current(&self) -> Option<Current<'_>> {
        let (metric, series, reset) = self.last?;
        let inner = self.held(self.visit)?;
        let m = inner.metrics.get(metric)?;
        let s = m.series.get(series)?;
        let resource = inner.resources.get(m.resource)?;
        Some(Current {
            desc: &m.desc,
            kind: m.kind,
            resource: &resource.info,
            meta: &s.meta,
            start: s.start,
            time: s.time,
            value: &s.value,
            reset,
        })
    }
}

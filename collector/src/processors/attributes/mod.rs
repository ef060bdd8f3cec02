//! The `attributes` processor: insert, update, upsert or delete attributes of data points, spans and log records.
//!
//! It exists so a pipeline can add, fix or strip labels on the telemetry itself (not on the
//! resource; that is the `resource` processor) with the OpenTelemetry Collector's configuration
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/attributesprocessor>).
//! The actions run on every data point of every metric type (gauge, sum, histogram, exponential
//! histogram, summary), on every span's attributes and on every log record's attributes; span
//! events and links, scopes and resources are left alone, as in the Collector.
//!
//! Deliberately not here: the Collector's `include`/`exclude` match properties (every item is
//! acted on) and its `hash`/`extract`/`convert` actions; both are configuration errors, see
//! [`config`]. The action engine itself is [`actions`], shared with the `resource` processor.

pub mod actions;
pub mod config;
#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::{Request, Transform};
use actions::Actions;
pub use config::{Config, Settings};

/// The `attributes` processor, built from validated [`Settings`].
#[derive(Clone, Debug)]
pub struct Attributes {
    actions: Actions,
}

// === impl Attributes ===

impl Attributes {
    /// A processor that runs `settings.actions`.
    pub fn new(settings: Settings) -> Self {
        Self {
            actions: settings.actions,
        }
    }
}

impl Transform for Attributes {
    /// Runs the actions on each item's attributes; drops nothing, so returns 0.
    fn process(&self, request: &mut Request) -> u64 {
        let actions = &self.actions;
        match request {
            Request::Metrics(request) => {
                let metrics = request
                    .resource_metrics
                    .iter_mut()
                    .flat_map(|resource| &mut resource.scope_metrics)
                    .flat_map(|scope| &mut scope.metrics);
                for metric in metrics {
                    match &mut metric.data {
                        Some(Data::Gauge(gauge)) => gauge
                            .data_points
                            .iter_mut()
                            .for_each(|point| actions.apply(&mut point.attributes)),
                        Some(Data::Sum(sum)) => sum
                            .data_points
                            .iter_mut()
                            .for_each(|point| actions.apply(&mut point.attributes)),
                        Some(Data::Histogram(histogram)) => histogram
                            .data_points
                            .iter_mut()
                            .for_each(|point| actions.apply(&mut point.attributes)),
                        Some(Data::ExponentialHistogram(histogram)) => histogram
                            .data_points
                            .iter_mut()
                            .for_each(|point| actions.apply(&mut point.attributes)),
                        Some(Data::Summary(summary)) => summary
                            .data_points
                            .iter_mut()
                            .for_each(|point| actions.apply(&mut point.attributes)),
                        None => {}
                    }
                }
            }
            Request::Traces(request) => request
                .resource_spans
                .iter_mut()
                .flat_map(|resource| &mut resource.scope_spans)
                .flat_map(|scope| &mut scope.spans)
                .for_each(|span| actions.apply(&mut span.attributes)),
            Request::Logs(request) => request
                .resource_logs
                .iter_mut()
                .flat_map(|resource| &mut resource.scope_logs)
                .flat_map(|scope| &mut scope.log_records)
                .for_each(|record| actions.apply(&mut record.attributes)),
        }
        0
    }
}

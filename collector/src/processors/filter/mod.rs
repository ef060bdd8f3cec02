//! The `filter` processor: keep or drop whole metrics by name.
//!
//! It exists so a pipeline can shed metrics nobody looks at before they reach the store or an
//! exporter, with the OpenTelemetry Collector's `metrics.include`/`metrics.exclude` configuration
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/filterprocessor>;
//! see [`config`] for the exact keys and what is rejected). As in the Collector, `include`
//! runs first and keeps only matching metrics, then `exclude` drops matching ones; `regexp`
//! patterns match anywhere in the name unless anchored.
//!
//! After filtering, a scope with no metrics left is removed, and so is a resource with no
//! scopes left, as the Collector does (which also removes scopes and resources that arrived
//! empty). A filter with no names at all leaves requests untouched.
//!
//! Traces and logs pass through untouched: this filter knows only metric names. The number it
//! reports as dropped is data points, the unit the pipeline counts metrics in (the Collector's
//! `otelcol_processor_filter_datapoints.filtered` counts the same).

pub mod config;
#[cfg(test)]
mod tests;

use super::{Request, Transform};
use crate::pipeline::Signal;
use crate::store::otlp::point_count;
use config::NameMatcher;
pub use config::{Config, Settings};

/// The `filter` processor, built from validated [`Settings`].
#[derive(Clone, Debug)]
pub struct Filter {
    include: Option<NameMatcher>,
    exclude: Option<NameMatcher>,
}

// === impl Filter ===

impl Filter {
    /// A processor that applies `settings.include`, then `settings.exclude`.
    pub fn new(settings: Settings) -> Self {
        Self {
            include: settings.include,
            exclude: settings.exclude,
        }
    }

    /// Whether the metric called `name` survives the filter.
    pub fn keeps(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.matches(name))
            && !self.exclude.as_ref().is_some_and(|set| set.matches(name))
    }
}

impl Transform for Filter {
    /// Only metrics, and only with a name list.
    fn changes(&self, signal: Signal) -> bool {
        signal == Signal::Metrics && (self.include.is_some() || self.exclude.is_some())
    }

    /// Drops the metrics that do not survive, then emptied scopes and resources; returns the
    /// number of data points dropped. Traces and logs: untouched, 0.
    fn process(&self, request: &mut Request) -> u64 {
        let Request::Metrics(request) = request else {
            return 0;
        };
        if self.include.is_none() && self.exclude.is_none() {
            return 0;
        }
        let mut dropped = 0;
        request.resource_metrics.retain_mut(|resource| {
            resource.scope_metrics.retain_mut(|scope| {
                scope.metrics.retain(|metric| {
                    let keep = self.keeps(&metric.name);
                    if !keep {
                        dropped += metric.data.as_ref().map_or(0, point_count);
                    }
                    keep
                });
                !scope.metrics.is_empty()
            });
            !resource.scope_metrics.is_empty()
        });
        dropped
    }
}

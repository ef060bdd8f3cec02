//! The `resource` processor: insert, update, upsert or delete the resource attributes of every resource in a request.
//!
//! It exists so a pipeline can tag everything a service sends (`deployment.environment`,
//! `k8s.cluster.name`) or strip a noisy resource attribute before export, with the OpenTelemetry
//! Collector's configuration
//! (<https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/processor/resourceprocessor>).
//! It runs the attributes processor's action engine
//! ([`crate::processors::attributes::actions`]) on `resource.attributes` of every
//! `ResourceMetrics`, `ResourceSpans` and `ResourceLogs`; it never looks at scopes, data points,
//! spans or log records.
//!
//! OTLP lets a resource be absent, where the Collector's data model always has one (possibly
//! empty). An absent resource is treated as an empty one, and created only when an action
//! actually adds an attribute, so `update`/`delete` never leave an empty resource behind.

pub mod config;
#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

use super::{Request, Transform};
use crate::processors::attributes::actions::Actions;
pub use config::{Config, Settings};

/// The `resource` processor, built from validated [`Settings`].
#[derive(Clone, Debug)]
pub struct Resource {
    actions: Actions,
}

// === impl Resource ===

impl Resource {
    /// A processor that runs `settings.attributes` on each resource.
    pub fn new(settings: Settings) -> Self {
        Self {
            actions: settings.attributes,
        }
    }

    fn apply(&self, resource: &mut Option<OtlpResource>) {
        match resource {
            Some(resource) => self.actions.apply(&mut resource.attributes),
            None => {
                let mut attributes = Vec::new();
                self.actions.apply(&mut attributes);
                if !attributes.is_empty() {
                    *resource = Some(OtlpResource {
                        attributes,
                        ..Default::default()
                    });
                }
            }
        }
    }
}

impl Transform for Resource {
    /// Runs the actions on each resource's attributes; drops nothing, so returns 0.
    fn process(&self, request: &mut Request) -> u64 {
        match request {
            Request::Metrics(request) => request
                .resource_metrics
                .iter_mut()
                .for_each(|resource| self.apply(&mut resource.resource)),
            Request::Traces(request) => request
                .resource_spans
                .iter_mut()
                .for_each(|resource| self.apply(&mut resource.resource)),
            Request::Logs(request) => request
                .resource_logs
                .iter_mut()
                .for_each(|resource| self.apply(&mut resource.resource)),
        }
        0
    }
}

//! The Prometheus exposition: how the store's OTel state is named on the `/metrics` pages (and
//! in the JSON snapshot and remote-write, which use the same names), and what those pages
//! cannot show.
//!
//! The store knows none of this. It asks [`Prometheus`], through the
//! [`Exposition`] trait, when a resource, a metric or a series is new,
//! and keeps the answers with its state. What is decided here:
//!
//! * **Names** (`families.rs`): a metric's Prometheus name, its type (the `prometheus.type`
//!   hint included), and the reservation of every name its family puts on a page; a second
//!   type under a name, or a second OTel name giving the same Prometheus name, is refused.
//! * **Unusable names**: a name with no letter or digit, and a metric that would be named
//!   `target_info` (the resources' own series), are refused.
//! * **Identities**: a resource's `job` and `instance` labels, made distinct when another live
//!   resource with other attributes renders alike (`labels.rs`).
//! * **Label text** (`labels.rs`): a series' labels, built once, and which attributes may give
//!   the same text as another set (the store then compares texts, see `store/clash.rs`).
//!
//! State shared by all shards of one store (the taken names, the live identities) sits behind
//! one lock here, taken only when a resource or metric is created or goes.

mod families;
mod labels;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use families::Families;
#[cfg(test)]
pub(crate) use labels::distinct_instance;

use crate::store::{
    AttrValue, Exposition, LabelFrame, LabelText, Named, NewMetric, OwnedAttrs, Refusal,
    ResourceInfo, ScopeInfo,
};
use crate::translate::{self, MetricName};

/// The Prometheus exposition of one store (see the module comment).
#[derive(Default)]
pub struct Prometheus {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    families: Families,
    /// Live resources per (`job`, `instance`) label pair: a new resource whose pair is taken
    /// gets a distinct instance.
    identities: HashMap<Identity, u32>,
}

/// A resource's `job` and `instance` labels.
type Identity = (Option<Box<str>>, Option<Box<str>>);

/// Tries at a distinct `instance` before a resource is left sharing its identity (a hash
/// clash four times over).
const DISTINCT_TRIES: u64 = 4;

impl Prometheus {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a set of names and counts: one left half-updated by a panic is still
        // a usable set, so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Exposition for Prometheus {
    fn open_metric(&self, metric: NewMetric<'_>) -> Result<Named, Refusal> {
        let name = translate::metric_name_with_type_hint(
            metric.name,
            metric.unit,
            metric.kind,
            metric.type_hint,
        );
        usable(metric.name, &name)?;
        let claim = self.lock().families.reserve(metric.name, &name)?;
        Ok(Named { name, claim })
    }

    fn close_metric(&self, claim: &[Box<str>]) {
        self.lock().families.release(claim);
    }

    fn open_resource(&self, attrs: OwnedAttrs, schema_url: &str) -> ResourceInfo {
        let mut info = labels::resource_info(attrs, schema_url, None);
        let mut state = self.lock();
        // Another live resource renders with the same job and instance: make this one's
        // instance distinct (see `labels::distinct_instance`).
        let mut salt = 0;
        while salt < DISTINCT_TRIES
            && state
                .identities
                .contains_key(&(info.job.clone(), info.instance.clone()))
        {
            let attrs = std::mem::take(&mut info.attrs);
            let own = attrs
                .get_str("service.instance.id")
                .filter(|i| !i.is_empty());
            let instance = labels::distinct_instance(&attrs, own, salt);
            info = labels::resource_info(attrs, schema_url, Some(&instance));
            salt += 1;
        }
        *state
            .identities
            .entry((info.job.clone(), info.instance.clone()))
            .or_default() += 1;
        info
    }

    fn close_resource(&self, info: &ResourceInfo) {
        let key = (info.job.clone(), info.instance.clone());
        let mut state = self.lock();
        if let Some(n) = state.identities.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.identities.remove(&key);
            }
        }
    }

    fn series_text(
        &self,
        resource: Option<&ResourceInfo>,
        scope: Option<&ScopeInfo>,
        attrs: &OwnedAttrs,
        frame: &mut Option<Arc<LabelFrame>>,
    ) -> LabelText {
        labels::series_text(resource, scope, attrs, frame)
    }

    fn may_clash(&self, key: &str, value: AttrValue<'_>) -> bool {
        let renamed = translate::label_name(key) != key;
        let special = matches!(key, "le" | "quantile" | "job" | "instance")
            || key.starts_with("exported_")
            || key.starts_with("otel_scope_");
        let value_like_another = !matches!(value, AttrValue::Str(s) if !s.is_empty());
        renamed || special || value_like_another
    }

    fn families(&self) -> usize {
        self.lock().families.count()
    }
}

/// Whether a metric's name can be put on a page at all.
///
/// * A name with no letter or digit sanitizes to nothing (`é` became the family `_total`,
///   which the Prometheus parsers refuse along with the whole page).
/// * A metric whose family would be `target_info` collides with the resources' own
///   `target_info` series, so it is refused instead of being stored and never shown.
fn usable(name: &str, prom: &MetricName) -> Result<(), Refusal> {
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(Refusal::UnusableName {
            metric: name.to_owned(),
        });
    }
    if prom.family == "target_info" || prom.openmetrics_family == "target" {
        return Err(Refusal::ReservedName {
            metric: name.to_owned(),
        });
    }
    Ok(())
}

//! The Prometheus labels the store builds once per series and once per resource: a series'
//! label text (`job`, `instance`, scope labels, its attributes) and a resource's `job`,
//! `instance` and `target_info` labels.
//!
//! They are built here, when a series or resource is created, so that neither a scrape nor an
//! update formats labels again. The naming rules themselves are the translate module's; this
//! module only applies them to the store's resources, scopes and attribute sets. Like the
//! family reservation, this is Prometheus knowledge held by the store, which issue 9 asks to
//! move to the exposition side.

use std::borrow::Cow;

use super::attrs::{KeyCache, SortedView};
use super::table::Table;
use super::{Attributes, OwnedAttrs, Resource, ResourceInfo, Scope, SeriesMeta};
use crate::translate;

/// A new resource's stored form: its attributes, with `job`, `instance` and the label text of
/// its `target_info` sample (when it has labels beyond `job` and `instance`).
///
/// `instance`, when given, stands in for `service.instance.id` (see [`distinct_instance`]).
pub(super) fn resource_info(
    attrs: OwnedAttrs,
    schema_url: &str,
    instance: Option<&str>,
) -> ResourceInfo {
    let mut pairs = attrs.label_pairs();
    if let Some(instance) = instance {
        pairs.retain(|(k, _)| *k != SERVICE_INSTANCE_ID);
        let at = pairs.partition_point(|(k, _)| *k < SERVICE_INSTANCE_ID);
        pairs.insert(at, (SERVICE_INSTANCE_ID, Cow::Borrowed(instance)));
    }
    let (job, instance) = translate::job_instance(&pairs);
    let target = translate::target_info_labels(&pairs);
    let has_more = target.iter().any(|(k, _)| k != "job" && k != "instance");
    let target_info_labels = has_more.then(|| labels_text(&target).into_boxed_str());
    drop(pairs);
    ResourceInfo {
        attrs,
        schema_url: schema_url.into(),
        job: job.map(String::into_boxed_str),
        instance: instance.map(String::into_boxed_str),
        target_info_labels,
    }
}

const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// The `instance` a resource gets when its `job` and `instance` labels equal those of a live
/// resource with other attributes (no `service.instance.id`, or the same one on two hosts):
/// without it, both resources' series would render as identical lines and Prometheus would
/// keep one. It is the resource's own `service.instance.id` (or `resource`) and `~`, then 16
/// hex digits of a fixed hash of all its attributes (and `salt`, tried again on the rare
/// clash), so it is the same for the same attributes across restarts.
pub(super) fn distinct_instance(attrs: &OwnedAttrs, instance: Option<&str>, salt: u64) -> String {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the label must not change between runs (flooding is not a concern here, as
    // the value only names a resource that already passed the identity check).
    let mut hasher = std::hash::DefaultHasher::new();
    salt.hash(&mut hasher);
    for (k, v) in attrs.label_pairs() {
        k.hash(&mut hasher);
        v.hash(&mut hasher);
    }
    format!(
        "{}~{:016x}",
        instance.unwrap_or("resource"),
        hasher.finish()
    )
}

/// Build a new series' attributes and label text (once per series).
pub(super) fn build_meta<A: Attributes + ?Sized>(
    resources: &Table<Resource>,
    scopes: &Table<Scope>,
    (resource, scope): (u32, u32),
    keys: &mut KeyCache,
    view: &SortedView<'_, A>,
) -> SeriesMeta {
    let attrs = view.to_owned_attrs_with(keys);
    let resource = resources.get(resource).map(|r| r.info.clone());
    let scope = scopes.get(scope).map(|s| s.info.clone());
    let pairs = attrs.label_pairs();
    let empty = OwnedAttrs::default();
    let scope_info = scope.as_deref();
    let scope_pairs = scope_info
        .map(|s| s.attrs.label_pairs())
        .unwrap_or_else(|| empty.label_pairs());
    let tscope = translate::Scope {
        name: scope_info.map(|s| &*s.name).unwrap_or(""),
        version: scope_info.map(|s| &*s.version).unwrap_or(""),
        schema_url: scope_info.map(|s| &*s.schema_url).unwrap_or(""),
        attributes: &scope_pairs,
    };
    let labels = translate::series_labels(
        resource.as_ref().and_then(|r| r.job.as_deref()),
        resource.as_ref().and_then(|r| r.instance.as_deref()),
        &tscope,
        &pairs,
    );
    let text = labels_text(&labels);
    drop(pairs);
    SeriesMeta {
        attrs,
        labels: text.into_boxed_str(),
    }
}

/// `k="v",k2="v2"` with values escaped.
fn labels_text(labels: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        translate::escape_label_value(v, &mut out);
        out.push('"');
    }
    out
}

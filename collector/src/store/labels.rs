//! The Prometheus labels the store builds once per series and once per resource: a series'
//! label text (`job`, `instance`, scope labels, its attributes) and a resource's `job`,
//! `instance` and `target_info` labels.
//!
//! They are built here, when a series or resource is created, so that neither a scrape nor an
//! update formats labels again. The naming rules themselves are the translate module's; this
//! module only applies them to the store's resources, scopes and attribute sets. Like the
//! family reservation, this is Prometheus knowledge held by the store, which issue 9 asks to
//! move to the exposition side.

use super::attrs::{KeyCache, SortedView};
use super::table::Table;
use super::{Attributes, OwnedAttrs, Resource, ResourceInfo, Scope, SeriesMeta};
use crate::translate;

/// A new resource's stored form: its attributes, with `job`, `instance` and the label text of
/// its `target_info` sample (when it has labels beyond `job` and `instance`).
pub(super) fn resource_info(attrs: OwnedAttrs, schema_url: &str) -> ResourceInfo {
    let pairs = attrs.label_pairs();
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

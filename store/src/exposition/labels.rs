//! The Prometheus labels the store builds once per series and once per resource: a series'
//! label text (`job`, `instance`, scope labels, its attributes) and a resource's `job`,
//! `instance` and `target_info` labels.
//!
//! They are built here, when the store asks its exposition about a new series or resource, so
//! that neither a scrape nor an update formats labels again; the store keeps the text with the
//! series without reading it. The naming rules themselves are the translate module's; this
//! module only applies them to the store's resources, scopes and attribute sets.

use std::borrow::Cow;
use std::sync::Arc;

use crate::store::{LabelFrame, LabelText, OwnedAttrs, ResourceInfo, ScopeInfo};
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
pub(crate) fn distinct_instance(attrs: &OwnedAttrs, instance: Option<&str>, salt: u64) -> String {
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

/// The label text a metric's series share around their own labels: the resource's `job` and
/// `instance`, and the scope's labels.
fn frame(
    resource: Option<&ResourceInfo>,
    scope: Option<&ScopeInfo>,
    attrs: &OwnedAttrs,
) -> LabelFrame {
    let prefix = translate::series_labels(
        resource.and_then(|r| r.job.as_deref()),
        resource.and_then(|r| r.instance.as_deref()),
        &NO_SCOPE,
        &[],
    );
    let suffix = match scope {
        Some(s) => {
            let pairs = s.attrs.label_pairs();
            let scope = translate::Scope {
                name: &s.name,
                version: &s.version,
                schema_url: &s.schema_url,
                attributes: &pairs,
            };
            labels_text(&translate::series_labels(None, None, &scope, &[]))
        }
        None => String::new(),
    };
    LabelFrame {
        prefix: labels_text(&prefix).into_boxed_str(),
        suffix: suffix.into_boxed_str(),
        write: Some(write_own),
        // The metric's series nearly always share their keys (and the `Arc`s of them, see
        // `store/shared.rs`): each key's `name="`, sanitized once here rather than on every page.
        keys: attrs
            .0
            .iter()
            .map(|(key, _)| {
                let mut name = String::new();
                translate::push_label_name(key, &mut name);
                name.push_str("=\"");
                (key.clone(), name.into_boxed_str())
            })
            .collect(),
    }
}

const NO_SCOPE: translate::Scope<'static> = translate::Scope {
    name: "",
    version: "",
    schema_url: "",
    attributes: &[],
};

/// A new series' label text (built once per series). The text is not kept at all when the
/// metric's `frame` (made on first use) around what [`write_own`] makes of the attributes gives
/// exactly the whole text; else the series' own part is kept inside the frame when that gives
/// exactly the whole text; else it is kept whole.
pub(super) fn series_text(
    resource: Option<&ResourceInfo>,
    scope: Option<&ScopeInfo>,
    attrs: &OwnedAttrs,
    frame: &mut Option<Arc<LabelFrame>>,
) -> LabelText {
    let whole = whole_text(resource, scope, attrs);
    let frame = frame
        .get_or_insert_with(|| Arc::new(self::frame(resource, scope, attrs)))
        .clone();
    // The cheapest form whose text, written as a page writes it, is the whole text.
    let is_whole = |form: &LabelText| {
        let mut text = String::with_capacity(whole.len());
        form.write_with(attrs, &mut text);
        text == whole
    };
    let derived = LabelText::derived(frame.clone());
    if is_whole(&derived) {
        return derived;
    }
    let pairs = attrs.label_pairs();
    let own = labels_text(&translate::series_labels(None, None, &NO_SCOPE, &pairs));
    drop(pairs);
    let framed = LabelText::framed(frame, own.into_boxed_str());
    if is_whole(&framed) {
        framed
    } else {
        LabelText::whole(whole.into_boxed_str())
    }
}

/// A series' own labels as most series have them: each attribute as `name="value"`, in the
/// attributes' order, the name sanitized, the value escaped. The translation gives exactly this
/// when no two keys sanitize alike, sanitizing keeps the keys' order, no key is reserved and no
/// value is empty; [`series_text`] checks that it does before a series relies on it, so a series
/// this would misname keeps its text instead. Allocates nothing for string, integer and boolean
/// values (it runs once per derived series per page; see [`translate::push_label_value`]).
fn write_own(frame: &LabelFrame, attrs: &OwnedAttrs, out: &mut String) {
    for (i, (key, value)) in attrs.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match frame.keys.get(i) {
            Some((known, name)) if Arc::ptr_eq(known, key) || known == key => out.push_str(name),
            _ => {
                translate::push_label_name(key, out);
                out.push_str("=\"");
            }
        }
        translate::push_label_value(&value.as_ref().view(), out);
        out.push('"');
    }
}

/// A series' whole label text: `job`, `instance`, its attributes, its scope's labels.
fn whole_text(
    resource: Option<&ResourceInfo>,
    scope: Option<&ScopeInfo>,
    attrs: &OwnedAttrs,
) -> String {
    let pairs = attrs.label_pairs();
    let empty = OwnedAttrs::default();
    let scope_pairs = scope
        .map(|s| s.attrs.label_pairs())
        .unwrap_or_else(|| empty.label_pairs());
    let tscope = translate::Scope {
        name: scope.map(|s| &*s.name).unwrap_or(""),
        version: scope.map(|s| &*s.version).unwrap_or(""),
        schema_url: scope.map(|s| &*s.schema_url).unwrap_or(""),
        attributes: &scope_pairs,
    };
    let labels = translate::series_labels(
        resource.and_then(|r| r.job.as_deref()),
        resource.and_then(|r| r.instance.as_deref()),
        &tscope,
        &pairs,
    );
    labels_text(&labels)
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

#[cfg(test)]
mod tests {
    use crate::store::{AttrValue, Filter, Kind, LabelForm, Number, NumberPoint, Options, Store};

    /// The text of each series of metric `g`, and the form it is kept in.
    fn texts(attrs: &[&[(&str, AttrValue<'_>)]]) -> Vec<(String, &'static str)> {
        let store = Store::new(Options::default());
        let mut ingest = store.ingest();
        let resource = [
            ("service.name", AttrValue::Str("svc")),
            ("service.instance.id", AttrValue::Str("i-1")),
        ];
        let r = ingest.resource(&resource[..], "").unwrap();
        let none: &[(&str, AttrValue<'_>)] = &[];
        let s = ingest.scope(r, "lib", "1.0", "", none).unwrap();
        let m = ingest.metric(s, "g", "", "", Kind::Gauge).unwrap();
        let point = NumberPoint {
            start: 0,
            time: 1,
            value: Number::Int(1),
        };
        for a in attrs {
            ingest.number(m, *a, point, false, &[]).unwrap();
        }
        drop(ingest);
        let snap = store.snapshot(&Filter::default());
        snap.series
            .iter()
            .map(|s| {
                let form = match s.meta.labels.form() {
                    LabelForm::Whole => "whole",
                    LabelForm::Framed => "framed",
                    LabelForm::Derived => "derived",
                };
                let text = s.meta.label_text().into_owned();
                // The comparison agrees with the text, and only with it.
                assert!(s.meta.labels_are(&text), "{text}");
                assert!(!s.meta.labels_are(&format!("{text},")), "{text}");
                assert!(!s.meta.labels_are(&text.replacen(',', "", 1)), "{text}");
                (text, form)
            })
            .collect()
    }

    #[test]
    fn series_keep_only_what_their_attributes_and_the_metrics_frame_do_not_give() {
        let plain: &[(&str, AttrValue<'_>)] =
            &[("k", AttrValue::Str("v\"q")), ("z", AttrValue::Int(2))];
        let bare: &[(&str, AttrValue<'_>)] = &[];
        // A renamed key is sanitized as it is written; an empty value (left out) and two keys
        // that sanitize alike (merged) are not what the attributes say.
        let renamed: &[(&str, AttrValue<'_>)] =
            &[("a.b", AttrValue::Str("1")), ("c", AttrValue::Bool(true))];
        let merged: &[(&str, AttrValue<'_>)] =
            &[("a.b", AttrValue::Str("1")), ("a_b", AttrValue::Str("2"))];
        let empty: &[(&str, AttrValue<'_>)] =
            &[("e", AttrValue::Str("")), ("k", AttrValue::Str("w"))];
        // An attribute named like a label the translation adds joins the resource's part.
        let mixed: &[(&str, AttrValue<'_>)] = &[("job", AttrValue::Str("mine"))];
        let got = texts(&[plain, bare, renamed, empty, merged, mixed]);
        let frame = r#"job="svc",instance="i-1""#;
        let scope = r#"otel_scope_name="lib",otel_scope_version="1.0""#;
        let want = [
            (format!(r#"{frame},k="v\"q",z="2",{scope}"#), "derived"),
            (format!("{frame},{scope}"), "derived"),
            (format!(r#"{frame},a_b="1",c="true",{scope}"#), "derived"),
            (format!(r#"{frame},k="w",{scope}"#), "framed"),
            (format!(r#"{frame},a_b="1;2",{scope}"#), "framed"),
        ];
        assert_eq!(got[..5], want);
        assert_eq!(got[5].1, "whole", "{:?}", got[5]);
        assert!(got[5].0.contains("mine"), "{:?}", got[5]);
    }
}

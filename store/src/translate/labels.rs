//! Label names and label sets: attribute keys, scope and resource into the ordered labels of one
//! series or of a resource's `target_info`.
//!
//! Follows "Metric Attributes", "Instrumentation Scope" and "Resource Attributes" of "OTLP Metric
//! points to Prometheus"; the module docs (`translate/mod.rs`) give the reasons for every choice
//! the spec leaves open (collision order, `le`/`quantile`, empty values, leading `_`).

use std::borrow::Cow;

/// Label carrying `<service.namespace>/<service.name>`.
pub const JOB_LABEL: &str = "job";
/// Label carrying `service.instance.id`.
pub const INSTANCE_LABEL: &str = "instance";
/// Label carrying the instrumentation scope name.
pub const SCOPE_NAME_LABEL: &str = "otel_scope_name";
/// Label carrying the instrumentation scope version.
pub const SCOPE_VERSION_LABEL: &str = "otel_scope_version";
/// Label carrying the instrumentation scope schema URL.
pub const SCOPE_SCHEMA_URL_LABEL: &str = "otel_scope_schema_url";
/// Prefix of the labels made from scope attributes.
pub const SCOPE_ATTRIBUTE_PREFIX: &str = "otel_scope_";

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// An instrumentation scope as the labels need it. Empty strings mean "not set", as in OTLP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub schema_url: &'a str,
    /// Scope attributes, values already stringified (see `attr_value_string`).
    pub attributes: &'a [(&'a str, Cow<'a, str>)],
}

// === Label names ===

/// Sanitize one attribute key into a Prometheus label name (`[a-zA-Z][a-zA-Z0-9_]*`).
///
/// Every character outside `[a-zA-Z0-9_]` (each Unicode scalar) becomes `_` and runs of `_`
/// collapse into one, as "Metric Attributes" says. A name that would then start with `_` or a
/// digit gets `key` in front (`_foo` → `key_foo`, `2xx` → `key_2xx`, `__name__` → `key_name_`):
/// OpenMetrics reserves label names beginning with `_`, and Prometheus reserves `__`. The empty
/// key (which OTel forbids) stays empty and the label builders drop it. Borrows when `key` is
/// already a valid name.
pub fn label_name(key: &str) -> Cow<'_, str> {
    if key.is_empty() || is_valid_label_name(key) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 4);
    push_sanitized(key, &mut out);
    Cow::Owned(out)
}

/// Appends [`label_name`]`(key)` to `out`, without allocating.
pub fn push_label_name(key: &str, out: &mut String) {
    if key.is_empty() || is_valid_label_name(key) {
        out.push_str(key);
    } else {
        push_sanitized(key, out);
    }
}

/// The sanitizing rule of [`label_name`] for a key that is not a valid name already. The
/// prefix goes before the sanitized key; runs of `_` collapse within the key only.
fn push_sanitized(key: &str, out: &mut String) {
    let sanitize = |c: char| if c.is_ascii_alphanumeric() { c } else { '_' };
    match key.chars().next().map(sanitize) {
        Some('_') => out.push_str("key"),
        Some(c) if c.is_ascii_digit() => out.push_str("key_"),
        _ => {}
    }
    let mut previous_underscore = false;
    for c in key.chars().map(sanitize) {
        let underscore = c == '_';
        if !(underscore && previous_underscore) {
            out.push(c);
        }
        previous_underscore = underscore;
    }
}

fn is_valid_label_name(key: &str) -> bool {
    let bytes = key.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut previous_underscore = false;
    for &b in bytes {
        let underscore = b == b'_';
        if (underscore && previous_underscore) || !(b.is_ascii_alphanumeric() || underscore) {
            return false;
        }
        previous_underscore = underscore;
    }
    true
}

/// The label of one scope attribute: `otel_scope_` + key, then sanitized as a whole ("after
/// adding the `otel_scope_` prefix and applying the label-name conversion").
pub fn scope_attribute_label(key: &str) -> String {
    let mut raw = String::with_capacity(SCOPE_ATTRIBUTE_PREFIX.len() + key.len());
    raw.push_str(SCOPE_ATTRIBUTE_PREFIX);
    raw.push_str(key);
    match label_name(&raw) {
        Cow::Borrowed(_) => raw,
        Cow::Owned(sanitized) => sanitized,
    }
}

// === Label sets ===

/// Build the full, ordered label list of one series.
///
/// Order: `job`, `instance`, the attribute labels sorted by name, `otel_scope_name`,
/// `otel_scope_version`, `otel_scope_schema_url`, then the scope-attribute labels
/// (`otel_scope_<key>`) sorted by name. Labels with an empty value are left out (Prometheus
/// treats them as absent).
///
/// Keys that meet on one label name, whether two attributes (`a.b`, `a_b`) or an attribute and a
/// label the spec adds (`job`, `otel_scope_name`, ...), become one label whose values are joined
/// with `;` "ordered by the lexicographical order of the original keys". The original key of an
/// attribute or scope attribute is its OTel key as is (a scope attribute `team` sorts as `team`,
/// not `otel_scope_team`); a label the spec adds (`job`, `instance`,
/// `otel_scope_name`/`_version`/`_schema_url`) has its own label name as key and wins ties.
///
/// Two exceptions, both forced: scope attributes that would become `otel_scope_name`,
/// `otel_scope_version` or `otel_scope_schema_url` are dropped (the spec's MUST), and an attribute
/// named `le` or `quantile` is renamed `exported_le` / `exported_quantile` on every series,
/// because a histogram's `le` and a summary's `quantile` cannot hold a joined value.
pub fn series_labels<'a>(
    job: Option<&str>,
    instance: Option<&str>,
    scope: &Scope<'a>,
    attributes: &[(&'a str, Cow<'a, str>)],
) -> Vec<(String, String)> {
    let mut entries = Vec::with_capacity(attributes.len() + scope.attributes.len() + 5);
    push_target(&mut entries, job, instance);
    for (key, value) in attributes {
        let name = match label_name(key) {
            name if name.is_empty() => continue,
            name if name == "le" => Cow::Borrowed("exported_le"),
            name if name == "quantile" => Cow::Borrowed("exported_quantile"),
            name => name,
        };
        entries.push(Entry::new(name, key, Origin::Attribute, value));
    }
    for (label, value) in [
        (SCOPE_NAME_LABEL, scope.name),
        (SCOPE_VERSION_LABEL, scope.version),
        (SCOPE_SCHEMA_URL_LABEL, scope.schema_url),
    ] {
        entries.push(Entry::new(Cow::Borrowed(label), label, Origin::Spec, value));
    }
    for (key, value) in scope.attributes {
        let name = scope_attribute_label(key);
        if matches!(
            name.as_str(),
            SCOPE_NAME_LABEL | SCOPE_VERSION_LABEL | SCOPE_SCHEMA_URL_LABEL
        ) {
            continue;
        }
        entries.push(Entry::new(
            Cow::Owned(name),
            key,
            Origin::ScopeAttribute,
            value,
        ));
    }
    merge(entries, series_section)
}

/// `job` and `instance` from the resource attributes ("Resource Attributes"): `job` is
/// `<service.namespace>/<service.name>`, or `<service.name>` when the namespace is empty or
/// absent; `instance` is `service.instance.id`.
///
/// Either is `None` when its source is absent or empty: without `service.name` there is no `job`
/// at all (`shop/` would name nothing), and the spec's "`instance` should be added with an empty
/// value" is the same as no label in Prometheus. When a key repeats, the first one counts.
pub fn job_instance(resource: &[(&str, Cow<'_, str>)]) -> (Option<String>, Option<String>) {
    let job = match find(resource, SERVICE_NAME) {
        Some(name) if !name.is_empty() => match find(resource, SERVICE_NAMESPACE) {
            Some(namespace) if !namespace.is_empty() => Some(format!("{namespace}/{name}")),
            _ => Some(name.to_owned()),
        },
        _ => None,
    };
    let instance = find(resource, SERVICE_INSTANCE_ID)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    (job, instance)
}

/// Labels of the resource's `target_info` sample: `job`, `instance`, then every other resource
/// attribute as a label, sorted by name, merged like [`series_labels`] merges attributes.
///
/// "Other" means not consumed by [`job_instance`]: `service.name` and `service.namespace` when a
/// `job` was made, `service.instance.id` when an `instance` was. A `service.namespace` without a
/// `service.name` is kept, since nothing else carries it. Empty values are left out. No scope
/// labels: the spec says the labels "MUST NOT include any other labels other than `job` and
/// `instance`". Whether to expose `target_info` at all (the spec: when the resource is not
/// empty) is the caller's call.
pub fn target_info_labels(resource: &[(&str, Cow<'_, str>)]) -> Vec<(String, String)> {
    let (job, instance) = job_instance(resource);
    let consumed = |key: &str| match key {
        SERVICE_NAME | SERVICE_NAMESPACE => job.is_some(),
        SERVICE_INSTANCE_ID => instance.is_some(),
        _ => false,
    };
    let mut entries = Vec::with_capacity(resource.len() + 2);
    push_target(&mut entries, job.as_deref(), instance.as_deref());
    for (key, value) in resource {
        if consumed(key) {
            continue;
        }
        let name = label_name(key);
        if name.is_empty() {
            continue;
        }
        entries.push(Entry::new(name, key, Origin::Attribute, value));
    }
    merge(entries, target_info_section)
}

fn find<'r>(resource: &'r [(&str, Cow<'_, str>)], key: &str) -> Option<&'r str> {
    resource.iter().find(|(k, _)| *k == key).map(|(_, v)| &**v)
}

// === Merging ===

/// Where a label came from; orders values whose original keys tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    /// `job`, `instance`, `otel_scope_name`/`_version`/`_schema_url`.
    Spec,
    ScopeAttribute,
    Attribute,
}

struct Entry<'x> {
    name: Cow<'x, str>,
    key: &'x str,
    origin: Origin,
    value: &'x str,
}

impl<'x> Entry<'x> {
    fn new(name: Cow<'x, str>, key: &'x str, origin: Origin, value: &'x str) -> Self {
        Entry {
            name,
            key,
            origin,
            value,
        }
    }
}

fn push_target<'x>(entries: &mut Vec<Entry<'x>>, job: Option<&'x str>, instance: Option<&'x str>) {
    if let Some(job) = job {
        entries.push(Entry::new(
            Cow::Borrowed(JOB_LABEL),
            JOB_LABEL,
            Origin::Spec,
            job,
        ));
    }
    if let Some(instance) = instance {
        entries.push(Entry::new(
            Cow::Borrowed(INSTANCE_LABEL),
            INSTANCE_LABEL,
            Origin::Spec,
            instance,
        ));
    }
}

/// Position of a series label in the output: (section, rank within the section); labels with
/// equal positions are sorted by name.
fn series_section(name: &str) -> (u8, u8) {
    match name {
        JOB_LABEL => (0, 0),
        INSTANCE_LABEL => (0, 1),
        SCOPE_NAME_LABEL => (2, 0),
        SCOPE_VERSION_LABEL => (2, 1),
        SCOPE_SCHEMA_URL_LABEL => (2, 2),
        _ if name.starts_with(SCOPE_ATTRIBUTE_PREFIX) => (3, 0),
        _ => (1, 0),
    }
}

fn target_info_section(name: &str) -> (u8, u8) {
    match name {
        JOB_LABEL => (0, 0),
        INSTANCE_LABEL => (0, 1),
        _ => (1, 0),
    }
}

/// Group entries by label name, join each group's values with `;` in original-key order, drop
/// empty results, and order the labels by `section` then name.
fn merge(mut entries: Vec<Entry<'_>>, section: fn(&str) -> (u8, u8)) -> Vec<(String, String)> {
    // Stable: entries equal in all three keep their input order (duplicate OTel keys).
    entries.sort_by(|a, b| (&a.name, a.key, a.origin).cmp(&(&b.name, b.key, b.origin)));
    let mut labels: Vec<(String, String)> = Vec::with_capacity(entries.len());
    let mut iter = entries.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut value = first.value.to_owned();
        while let Some(next) = iter.next_if(|next| next.name == first.name) {
            value.push(';');
            value.push_str(next.value);
        }
        if !value.is_empty() {
            labels.push((first.name.into_owned(), value));
        }
    }
    // Already sorted by name; a stable sort by section keeps that order inside each section.
    labels.sort_by_key(|(name, _)| section(name));
    labels
}

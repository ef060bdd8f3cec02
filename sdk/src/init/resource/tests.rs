use std::collections::HashMap;

use super::*;

/// Environment variables of one table row.
type Vars<'a> = &'a [(&'a str, &'a str)];

fn table(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn get(resource: &Resource, key: &'static str) -> Option<String> {
    resource
        .get(&Key::from_static_str(key))
        .map(|v| v.to_string())
}

fn build_with(vars: &[(&str, &str)], settings: &Settings<'_>) -> (Resource, Vec<String>) {
    let mut warnings = Vec::new();
    let resource = build(settings, &table(vars), &mut warnings);
    (resource, warnings)
}

#[test]
fn service_name_precedence_is_variable_then_code_then_attributes_then_unknown() {
    let attrs = ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs");
    let name = ("OTEL_SERVICE_NAME", "from-name");
    let code = Settings {
        service_name: Some("from-code"),
        ..Settings::default()
    };
    let none = Settings::default();
    let code_attribute = [KeyValue::new("service.name", "from-code-attribute")];
    let attribute = Settings {
        attributes: &code_attribute,
        ..Settings::default()
    };
    let cases: &[(Vars<'_>, &Settings<'_>, &str)] = &[
        // Issue 12: OTEL_SERVICE_NAME beats with_service_name.
        (&[attrs, name], &code, "from-name"),
        (&[name], &code, "from-name"),
        // Spec: user-provided resource information beats OTEL_RESOURCE_ATTRIBUTES.
        (&[attrs], &code, "from-code"),
        (&[], &code, "from-code"),
        // A service.name resource attribute set in code is final.
        (&[attrs, name], &attribute, "from-code-attribute"),
        // Spec, against opentelemetry_sdk 0.33: OTEL_SERVICE_NAME beats OTEL_RESOURCE_ATTRIBUTES.
        (&[attrs, name], &none, "from-name"),
        (&[attrs], &none, "from-attrs"),
        (&[name], &none, "from-name"),
    ];
    for (vars, settings, expected) in cases {
        let (resource, warnings) = build_with(vars, settings);
        assert_eq!(
            get(&resource, "service.name").as_deref(),
            Some(*expected),
            "{vars:?}"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    let (resource, _) = build_with(&[], &none);
    let expected = format!("unknown_service:{}", executable_name());
    assert_eq!(get(&resource, "service.name"), Some(expected));
}

#[test]
fn resource_attributes_are_percent_decoded_and_code_beats_them() {
    let attrs = [KeyValue::new("deployment.environment.name", "code")];
    let settings = Settings {
        attributes: &attrs,
        service_version: Some("1.2.3"),
        ..Settings::default()
    };
    let vars = [(
        "OTEL_RESOURCE_ATTRIBUTES",
        "team=data%20platform, note=a%2Cb%3Dc ,deployment.environment.name=env,service.version=0.0.1",
    )];
    let (resource, warnings) = build_with(&vars, &settings);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(get(&resource, "team").as_deref(), Some("data platform"));
    assert_eq!(get(&resource, "note").as_deref(), Some("a,b=c"));
    assert_eq!(
        get(&resource, "deployment.environment.name").as_deref(),
        Some("code")
    );
    assert_eq!(get(&resource, "service.version").as_deref(), Some("1.2.3"));
}

#[test]
fn malformed_resource_attributes_are_discarded_whole_with_a_warning() {
    let vars = [
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=data,broken,service.name=from-attrs",
        ),
        ("OTEL_SERVICE_NAME", ""),
    ];
    let (resource, warnings) = build_with(&vars, &Settings::default());
    assert_eq!(get(&resource, "team"), None);
    assert!(
        get(&resource, "service.name")
            .unwrap()
            .starts_with("unknown_service:")
    );
    assert_eq!(
        warnings,
        vec![
            "OTEL_RESOURCE_ATTRIBUTES: entry 2 is not key=value; ignoring the whole variable"
                .to_string()
        ]
    );
}

#[test]
fn detected_attributes_are_present() {
    let (resource, _) = build_with(&[], &Settings::default());
    let sdk = TelemetryResourceDetector.detect();
    let sdk_version = sdk
        .get(&Key::from_static_str("telemetry.sdk.version"))
        .unwrap()
        .to_string();
    assert!(sdk_version.starts_with("0.33."), "{sdk_version}");
    assert_eq!(get(&resource, "telemetry.sdk.version"), Some(sdk_version));
    assert_eq!(
        get(&resource, "telemetry.sdk.name").as_deref(),
        Some("opentelemetry")
    );
    assert_eq!(
        get(&resource, "telemetry.sdk.language").as_deref(),
        Some("rust")
    );
    assert_eq!(
        get(&resource, "telemetry.distro.name").as_deref(),
        Some("vigil")
    );
    assert_eq!(
        get(&resource, "telemetry.distro.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        resource.get(&Key::from_static_str("process.pid")),
        Some(Value::I64(i64::from(std::process::id())))
    );
    assert_eq!(
        get(&resource, "service.instance.id").as_deref(),
        Some(instance_id())
    );
    assert_eq!(get(&resource, "service.version"), None);
}

#[test]
fn host_name_falls_back_to_the_hostname_variable() {
    let (resource, _) = build_with(&[("HOSTNAME", "from-variable")], &Settings::default());
    let host = get(&resource, "host.name").unwrap();
    let from_files = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty());
    assert_eq!(
        host,
        from_files.unwrap_or_else(|| "from-variable".to_string())
    );
}

#[test]
fn service_instance_id_is_a_stable_uuid_v4_unless_set() {
    let first = instance_id();
    assert_eq!(first, instance_id());
    assert_eq!(first.len(), 36);
    let groups: Vec<&str> = first.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12]
    );
    assert!(groups[2].starts_with('4'), "{first}");
    assert!(
        matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
        "{first}"
    );
    assert!(
        first
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let (a, _) = build_with(&[], &Settings::default());
    let (b, _) = build_with(&[], &Settings::default());
    assert_eq!(
        get(&a, "service.instance.id"),
        get(&b, "service.instance.id")
    );

    let vars = [("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-7")];
    let (set, _) = build_with(&vars, &Settings::default());
    assert_eq!(get(&set, "service.instance.id").as_deref(), Some("pod-7"));
}

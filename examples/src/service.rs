//! Vigil's builder with an example's default service name, which the
//! standard OpenTelemetry variables still override.
//!
//! `OTEL_SERVICE_NAME` beats `Builder::with_service_name` by itself, but a
//! name set in code beats a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`
//! (the specification: "the user provided resource information has higher
//! priority"), so an example that always set its name would ignore the
//! latter. Each example has its own default name, which is how the README
//! generator tells their series apart on one collector.

/// A builder naming the service `name` unless `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES` (`service.name=…`) does.
pub fn builder(name: &str) -> vigil::Builder {
    let builder = vigil::builder();
    if resource_sets("service.name") || env_set("OTEL_SERVICE_NAME") {
        builder
    } else {
        builder.with_service_name(name)
    }
}

/// Whether `OTEL_RESOURCE_ATTRIBUTES` sets `key`.
pub fn resource_sets(key: &str) -> bool {
    std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|attributes| {
        attributes
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, _)| k.trim() == key)
    })
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

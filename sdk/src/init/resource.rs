//! The [`Resource`] describing this process, built with the precedence the
//! OpenTelemetry specification defines.
//!
//! `Resource::builder()` in `opentelemetry_sdk` 0.33 lets a `service.name`
//! inside `OTEL_RESOURCE_ATTRIBUTES` beat `OTEL_SERVICE_NAME`, against the
//! [resource SDK specification](https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable)
//! and the [`OTEL_SERVICE_NAME` definition](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#general-sdk-configuration)
//! ("If `service.name` is also provided in `OTEL_RESOURCE_ATTRIBUTES`, then
//! `OTEL_SERVICE_NAME` takes precedence"). So this module starts from
//! `Resource::builder_empty()` and sets every attribute itself, from lowest
//! to highest precedence:
//!
//! 1. detected: `telemetry.sdk.*`, `telemetry.distro.*`, `host.name`,
//!    `process.pid`, a generated `service.instance.id`;
//! 2. `OTEL_RESOURCE_ATTRIBUTES` (discarded whole, with a warning, when any
//!    entry is malformed: "the entire environment variable value SHOULD be
//!    discarded and an error SHOULD be reported");
//! 3. code: `with_service_name` (beats `OTEL_RESOURCE_ATTRIBUTES`: "the user
//!    provided resource information has higher priority");
//! 4. `OTEL_SERVICE_NAME`, which beats the name set in code: the
//!    specification does not rank the two, the variable exists so that a
//!    deployment names the service, and Vigil's quick start promises it;
//! 5. code: `with_resource_attribute`, then `with_service_version`
//!    ("higher priority" than `OTEL_RESOURCE_ATTRIBUTES`; a `service.name`
//!    set this way is final).
//!
//! Without any service name, `service.name` is `unknown_service:<executable>`
//! as the specification requires. It does not run other detectors (cloud,
//! Kubernetes): those belong in the collector.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};

use super::env::{self, Lookup};

/// What the builder set in code.
#[derive(Debug, Default)]
pub(crate) struct Settings<'a> {
    /// `with_service_name`.
    pub(crate) service_name: Option<&'a str>,
    /// `with_service_version`.
    pub(crate) service_version: Option<&'a str>,
    /// `with_resource_attribute`, in call order.
    pub(crate) attributes: &'a [KeyValue],
}

/// Builds the resource; tolerated problems are appended to `warnings`.
pub(crate) fn build(
    settings: &Settings<'_>,
    lookup: Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Resource {
    let mut attrs = Attributes::default();

    // 1. Detected.
    for kv in TelemetryResourceDetector.detect().iter() {
        attrs.set(kv.0.clone(), kv.1.clone());
    }
    attrs.set("telemetry.distro.name", "vigil");
    attrs.set("telemetry.distro.version", env!("CARGO_PKG_VERSION"));
    if let Some(host) = host_name(lookup) {
        attrs.set("host.name", host);
    }
    attrs.set("process.pid", i64::from(std::process::id()));
    attrs.set("service.instance.id", instance_id().to_string());

    // 2. OTEL_RESOURCE_ATTRIBUTES.
    if let Some(raw) = env::var(lookup, env::RESOURCE_ATTRIBUTES) {
        match env::parse_key_values(&raw) {
            Ok(pairs) => {
                for (key, value) in pairs {
                    attrs.set(key, value);
                }
            }
            Err(reason) => warnings.push(format!(
                "{}: {reason}; ignoring the whole variable",
                env::RESOURCE_ATTRIBUTES
            )),
        }
    }

    // 3. The service name set in code.
    if let Some(name) = settings.service_name {
        attrs.set("service.name", name.to_string());
    }

    // 4. OTEL_SERVICE_NAME beats both.
    if let Some(name) = env::var(lookup, env::SERVICE_NAME) {
        attrs.set("service.name", name);
    }

    // 5. Attributes set in code.
    for kv in settings.attributes {
        attrs.set(kv.key.clone(), kv.value.clone());
    }
    if let Some(version) = settings.service_version {
        attrs.set("service.version", version.to_string());
    }

    if !attrs.contains("service.name") {
        attrs.set(
            "service.name",
            format!("unknown_service:{}", executable_name()),
        );
    }

    Resource::builder_empty().with_attributes(attrs.0).build()
}

/// Attributes in insertion order, later values replacing earlier ones.
#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn set(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.0.push(KeyValue::new(key, value)),
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|kv| kv.key.as_str() == key)
    }
}

/// This process's `service.instance.id`: a random UUID (version 4 layout),
/// generated once and stable for the life of the process.
///
/// The semantic conventions recommend a UUID v4. Vigil takes no `uuid` or
/// `getrandom` dependency: the 122 random bits come from std's `RandomState`,
/// whose keys are seeded from the operating system's random source, mixed
/// with the time, the pid and a stack address.
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let local = 0u8;
        let entropy = |salt: u64| {
            let mut hasher = RandomState::new().build_hasher();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            hasher.write_u128(now.as_nanos());
            hasher.write_u32(std::process::id());
            hasher.write_usize(std::ptr::addr_of!(local) as usize);
            hasher.write_u64(salt);
            hasher.finish()
        };
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&entropy(1).to_be_bytes());
        bytes[8..].copy_from_slice(&entropy(2).to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// Best-effort `host.name`: the kernel's hostname, `/etc/hostname`, then
/// `$HOSTNAME` (a shell variable, rarely exported).
fn host_name(lookup: Lookup<'_>) -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .or_else(|| env::var(lookup, "HOSTNAME"))
}

/// The executable's file name, for `unknown_service:<name>`.
fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

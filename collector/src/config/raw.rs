//! The configuration file exactly as written, in the OpenTelemetry Collector's shape: serde
//! structs that mirror the YAML key for key.
//!
//! The top level has `receivers`, `processors`, `exporters`, `extensions` and `service`. The first
//! four are maps from a component id (`type` or `type/name`) to that type's configuration, whose
//! serde struct lives with the component (`receiver::config`, `exporters::otlp`, ...). The type in
//! the key picks the struct while the map is being read ([`ComponentKind`]), so the component's
//! keys are checked by serde against the original text: an unsupported key is an error naming
//! the key and its line, never ignored, at any depth. A component written with no value
//! (`batch:`) takes its defaults, as in the OpenTelemetry Collector.
//!
//! Values stay as written where validation wants to quote them; nothing outside `config` sees
//! these types except the components' own config structs.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};

use crate::exporters::{loadbalancing, otlp, otlphttp};
use crate::extensions::file_storage;
use crate::processors::{attributes, batch, filter, resource};
use crate::receiver::config as otlp_receiver;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    /// Where telemetry comes in.
    #[serde(default)]
    pub(super) receivers: Section<Receiver>,
    /// What pipelines do to telemetry on its way through.
    #[serde(default)]
    pub(super) processors: Section<Processor>,
    /// Where telemetry goes out.
    #[serde(default)]
    pub(super) exporters: Section<Exporter>,
    /// Components outside the data path that other components use (storage).
    #[serde(default)]
    pub(super) extensions: Section<Extension>,
    /// Which components run, and the pipelines that connect them.
    pub(super) service: Option<Service>,
}

/// `service`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Service {
    /// Extension ids to start.
    #[serde(default)]
    pub(super) extensions: Vec<String>,
    /// Pipeline id (`metrics`, `traces/vendor`, ...) to its components.
    #[serde(default)]
    pub(super) pipelines: std::collections::BTreeMap<String, Pipeline>,
    /// The collector's own logs and metrics.
    #[serde(default)]
    pub(super) telemetry: Telemetry,
}

/// `service.pipelines.<id>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pipeline {
    /// Receiver ids feeding the pipeline.
    #[serde(default)]
    pub(super) receivers: Vec<String>,
    /// Processor ids, run in this order.
    #[serde(default)]
    pub(super) processors: Vec<String>,
    /// Exporter ids, each sent every batch.
    #[serde(default)]
    pub(super) exporters: Vec<String>,
}

/// `service.telemetry`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Telemetry {
    /// `service.telemetry.logs`.
    #[serde(default)]
    pub(super) logs: TelemetryLogs,
    /// `service.telemetry.metrics`.
    #[serde(default)]
    pub(super) metrics: TelemetryMetrics,
}

/// `service.telemetry.logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelemetryLogs {
    /// Log level: `debug`, `info`, `warn` or `error`.
    pub(super) level: Option<String>,
    /// `json` or `console` (text), as the OpenTelemetry Collector says.
    pub(super) encoding: Option<String>,
}

/// `service.telemetry.metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelemetryMetrics {
    /// `none`, `basic`, `normal` or `detailed`.
    pub(super) level: Option<String>,
    /// Where the collector's own metrics are served (`HOST:PORT`).
    pub(super) address: Option<String>,
}

/// A receiver's configuration, by type.
#[derive(Debug)]
pub(super) enum Receiver {
    /// `otlp`.
    Otlp(otlp_receiver::Config),
}

/// A processor's configuration, by type.
#[derive(Debug)]
pub(super) enum Processor {
    /// `batch`.
    Batch(batch::Config),
    /// `resource`.
    Resource(resource::Config),
    /// `attributes`.
    Attributes(attributes::Config),
    /// `filter`.
    Filter(filter::Config),
    /// `memory_limiter`.
    MemoryLimiter(crate::processors::memory_limiter::Config),
}

/// An exporter's configuration, by type.
#[derive(Debug)]
pub(super) enum Exporter {
    /// `prometheus`.
    Prometheus(crate::exporters::prometheus::Config),
    /// `otlp` (gRPC).
    Otlp(otlp::Config),
    /// `otlphttp`.
    OtlpHttp(otlphttp::Config),
    /// `prometheusremotewrite`.
    PrometheusRemoteWrite(crate::exporters::prometheusremotewrite::Config),
    /// `loadbalancing`.
    LoadBalancing(loadbalancing::Config),
}

/// An extension's configuration, by type.
#[derive(Debug)]
pub(super) enum Extension {
    /// `file_storage`.
    FileStorage(file_storage::Config),
    /// `bearertokenauth`.
    BearerTokenAuth(crate::extensions::auth::BearerConfig),
    /// `basicauth`.
    BasicAuth(crate::extensions::auth::BasicConfig),
    /// `pprof`.
    Pprof(crate::extensions::pprof::Config),
}

/// One section: component ids, as written, with their configuration, in file order.
#[derive(Debug)]
pub(super) struct Section<K>(pub(super) Vec<(String, K)>);

impl<K> Default for Section<K> {
    fn default() -> Self {
        Section(Vec::new())
    }
}

/// A kind of component (receiver, processor, ...): which types exist, and how to read each.
pub(super) trait ComponentKind: Sized {
    /// The section's name, for messages.
    const SECTION: &'static str;
    /// The component types Vigil has in this section.
    const TYPES: &'static [&'static str];
    /// Read the value of a component of type `ty` (one of [`Self::TYPES`]).
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Self, A::Error>;
}

/// Reads a component's value; a missing value (`batch:`) means every default, as in the
/// OpenTelemetry Collector.
fn value<'de, A: MapAccess<'de>, T: DeserializeOwned>(map: &mut A) -> Result<T, A::Error> {
    match map.next_value::<Option<T>>()? {
        Some(config) => Ok(config),
        None => serde_yaml::from_str("{}").map_err(de::Error::custom),
    }
}

impl ComponentKind for Receiver {
    const SECTION: &'static str = "receivers";
    const TYPES: &'static [&'static str] = &["otlp"];
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Self, A::Error> {
        match ty {
            "otlp" => value(map).map(Receiver::Otlp),
            _ => Err(de::Error::custom("unreachable: type checked by the caller")),
        }
    }
}

impl ComponentKind for Processor {
    const SECTION: &'static str = "processors";
    const TYPES: &'static [&'static str] = &[
        "attributes",
        "batch",
        "filter",
        "memory_limiter",
        "resource",
    ];
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Self, A::Error> {
        match ty {
            "batch" => value(map).map(Processor::Batch),
            "resource" => value(map).map(Processor::Resource),
            "attributes" => value(map).map(Processor::Attributes),
            "filter" => value(map).map(Processor::Filter),
            "memory_limiter" => value(map).map(Processor::MemoryLimiter),
            _ => Err(de::Error::custom("unreachable: type checked by the caller")),
        }
    }
}

impl ComponentKind for Exporter {
    const SECTION: &'static str = "exporters";
    // The OpenTelemetry Collector renamed `otlp` to `otlp_grpc` and `otlphttp` to `otlp_http`
    // (v0.144), keeping the old names as aliases; configurations use both.
    const TYPES: &'static [&'static str] = &[
        "loadbalancing",
        "otlp",
        "otlp_grpc",
        "otlphttp",
        "otlp_http",
        "prometheus",
        "prometheusremotewrite",
    ];
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Self, A::Error> {
        match ty {
            "prometheus" => value(map).map(Exporter::Prometheus),
            "otlp" | "otlp_grpc" => value(map).map(Exporter::Otlp),
            "otlphttp" | "otlp_http" => value(map).map(Exporter::OtlpHttp),
            "prometheusremotewrite" => value(map).map(Exporter::PrometheusRemoteWrite),
            "loadbalancing" => value(map).map(Exporter::LoadBalancing),
            _ => Err(de::Error::custom("unreachable: type checked by the caller")),
        }
    }
}

impl ComponentKind for Extension {
    const SECTION: &'static str = "extensions";
    const TYPES: &'static [&'static str] =
        &["basicauth", "bearertokenauth", "file_storage", "pprof"];
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Self, A::Error> {
        match ty {
            "file_storage" => value(map).map(Extension::FileStorage),
            "bearertokenauth" => value(map).map(Extension::BearerTokenAuth),
            "basicauth" => value(map).map(Extension::BasicAuth),
            "pprof" => value(map).map(Extension::Pprof),
            _ => Err(de::Error::custom("unreachable: type checked by the caller")),
        }
    }
}

impl<'de, K: ComponentKind> Deserialize<'de> for Section<K> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SectionVisitor<K>(PhantomData<K>);
        impl<'de, K: ComponentKind> Visitor<'de> for SectionVisitor<K> {
            type Value = Section<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a map of {} ids (type or type/name) to their settings",
                    K::SECTION
                )
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Section(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, K)> = Vec::new();
                while let Some(id) = map.next_key::<String>()? {
                    let ty = id.split('/').next().unwrap_or("");
                    if !K::TYPES.contains(&ty) {
                        return Err(de::Error::custom(format_args!(
                            "unknown {} type {ty:?} in {id:?}: Vigil has {}",
                            singular(K::SECTION),
                            K::TYPES.join(", ")
                        )));
                    }
                    if out.iter().any(|(seen, _)| *seen == id) {
                        return Err(de::Error::custom(format_args!(
                            "{} {id:?} is configured twice",
                            singular(K::SECTION)
                        )));
                    }
                    let config = K::read(ty, &mut map)?;
                    out.push((id, config));
                }
                Ok(Section(out))
            }
        }
        deserializer.deserialize_any(SectionVisitor(PhantomData))
    }
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

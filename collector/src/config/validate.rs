//! From the serde mirror to [`Config`]: each component's values, then what no single component
//! can check: ids, references from pipelines and queues, signals, and listener conflicts.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::raw::{self, Raw};
use super::{ComponentId, Config, Error, Exporter, Extension, Pipeline, Processor, Receiver};
use crate::pipeline::Signal;

pub(super) fn validate(raw: Raw) -> Result<Config, Error> {
    let mut receivers = BTreeMap::new();
    for (id, r) in raw.receivers.0 {
        let (id, path) = component_id("receivers", &id)?;
        let raw::Receiver::Otlp(c) = r;
        receivers.insert(id, Receiver::Otlp(c.validate(&path)?));
    }
    let mut processors = BTreeMap::new();
    for (id, p) in raw.processors.0 {
        let (id, path) = component_id("processors", &id)?;
        let invalid = |message: String| component_error(&path, message);
        let settings = match p {
            raw::Processor::Batch(c) => Processor::Batch(c.validate().map_err(invalid)?),
            raw::Processor::Resource(c) => Processor::Resource(c.validate().map_err(invalid)?),
            raw::Processor::Attributes(c) => Processor::Attributes(c.validate().map_err(invalid)?),
            raw::Processor::Filter(c) => Processor::Filter(c.validate().map_err(invalid)?),
            raw::Processor::MemoryLimiter(c) => Processor::MemoryLimiter(
                c.validate(crate::processors::memory_limiter::available_bytes)
                    .map_err(invalid)?,
            ),
        };
        processors.insert(id, settings);
    }
    let mut exporters = BTreeMap::new();
    for (id, e) in raw.exporters.0 {
        let (id, path) = component_id("exporters", &id)?;
        let invalid = |message: String| component_error(&path, message);
        let settings = match e {
            raw::Exporter::Prometheus(c) => Exporter::Prometheus(c.validate(&path)?),
            raw::Exporter::Otlp(c) => Exporter::Otlp(c.validate().map_err(invalid)?),
            raw::Exporter::OtlpHttp(c) => Exporter::OtlpHttp(c.validate().map_err(invalid)?),
            raw::Exporter::PrometheusRemoteWrite(c) => {
                Exporter::PrometheusRemoteWrite(c.validate().map_err(invalid)?)
            }
            raw::Exporter::LoadBalancing(c) => {
                Exporter::LoadBalancing(c.validate().map_err(invalid)?)
            }
        };
        exporters.insert(id, settings);
    }
    let mut extensions = BTreeMap::new();
    for (id, x) in raw.extensions.0 {
        let (id, path) = component_id("extensions", &id)?;
        let invalid = |m: String| component_error(&path, m);
        let settings = match x {
            raw::Extension::FileStorage(c) => {
                Extension::FileStorage(c.validate().map_err(invalid)?)
            }
            raw::Extension::BearerTokenAuth(c) => Extension::Auth(std::sync::Arc::new(
                c.validate(id.as_str()).map_err(invalid)?,
            )),
            raw::Extension::BasicAuth(c) => Extension::Auth(std::sync::Arc::new(
                c.validate(id.as_str()).map_err(invalid)?,
            )),
            raw::Extension::Pprof(c) => Extension::Pprof(c.validate(&path)?),
        };
        extensions.insert(id, settings);
    }

    let service = raw.service.ok_or(Error::NoPipelines)?;
    let mut service_extensions = Vec::new();
    for (i, id) in service.extensions.iter().enumerate() {
        let key = format!("service.extensions[{i}]");
        let id = reference(&key, id)?;
        if !extensions.contains_key(&id) {
            return Err(missing(key, "extension", &id));
        }
        service_extensions.push(id);
    }
    if service.pipelines.is_empty() {
        return Err(Error::NoPipelines);
    }
    let mut pipelines = Vec::new();
    for (pid, p) in service.pipelines {
        let key = format!("service.pipelines.{pid}");
        let signal = pipeline_signal(&key, &pid)?;
        let ids = |section: &str, list: &[String]| -> Result<Vec<ComponentId>, Error> {
            let mut out: Vec<ComponentId> = Vec::new();
            for id in list {
                let id = reference(&format!("{key}.{section}"), id)?;
                if out.contains(&id) {
                    return Err(Error::Invalid {
                        key: format!("{key}.{section}"),
                        message: format!("{id:?} is listed twice"),
                    });
                }
                out.push(id);
            }
            Ok(out)
        };
        let pipeline = Pipeline {
            id: pid.clone(),
            signal,
            receivers: ids("receivers", &p.receivers)?,
            processors: ids("processors", &p.processors)?,
            exporters: ids("exporters", &p.exporters)?,
        };
        if pipeline.receivers.is_empty() || pipeline.exporters.is_empty() {
            return Err(Error::Invalid {
                key,
                message: "a pipeline needs at least one receiver and one exporter".into(),
            });
        }
        for id in &pipeline.receivers {
            if !receivers.contains_key(id) {
                return Err(missing(format!("{key}.receivers"), "receiver", id));
            }
        }
        for id in &pipeline.processors {
            if !processors.contains_key(id) {
                return Err(missing(format!("{key}.processors"), "processor", id));
            }
        }
        for id in &pipeline.exporters {
            match exporters.get(id) {
                None => return Err(missing(format!("{key}.exporters"), "exporter", id)),
                Some(e) if !e.supports(signal) => {
                    return Err(Error::UnsupportedSignal {
                        key,
                        id: id.to_string(),
                        supported: e.supported(),
                    });
                }
                // Caught here, not when the first batch is sent and dropped.
                Some(Exporter::OtlpHttp(s)) if s.url(signal).is_none() => {
                    return Err(Error::Invalid {
                        key: format!("exporters.{id}"),
                        message: format!(
                            "no URL for {signal}, which pipeline {pid} sends it: set endpoint \
                             or {signal}_endpoint"
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        pipelines.push(pipeline);
    }

    // A queue's storage must be an extension the service starts.
    for (id, exporter) in &exporters {
        let (storage, key) = match exporter {
            Exporter::Otlp(s) => (&s.queue.storage, "sending_queue.storage"),
            Exporter::OtlpHttp(s) => (&s.queue.storage, "sending_queue.storage"),
            Exporter::LoadBalancing(s) => {
                (&s.otlp.queue.storage, "protocol.otlp.sending_queue.storage")
            }
            Exporter::Prometheus(_) | Exporter::PrometheusRemoteWrite(_) => continue,
        };
        if let Some(storage) = storage.as_ref().map(ToString::to_string) {
            let key = format!("exporters.{id}.{key}");
            let sid = reference(&key, &storage)?;
            if !extensions.contains_key(&sid) {
                return Err(missing(key, "extension", &sid));
            }
            if !service_extensions.contains(&sid) {
                return Err(Error::Invalid {
                    key,
                    message: format!(
                        "extension \"{sid}\" is not started: add it to service.extensions"
                    ),
                });
            }
        }
    }

    // Every `auth.authenticator` names a started authenticator extension.
    let mut auth_refs: Vec<(String, &str)> = Vec::new();
    for (id, r) in &receivers {
        let Receiver::Otlp(r) = r;
        if let Some(a) = r.grpc.as_ref().and_then(|g| g.auth.as_deref()) {
            auth_refs.push((
                format!("receivers.{id}.protocols.grpc.auth.authenticator"),
                a,
            ));
        }
        if let Some(a) = r.http.as_ref().and_then(|h| h.auth.as_deref()) {
            auth_refs.push((
                format!("receivers.{id}.protocols.http.auth.authenticator"),
                a,
            ));
        }
    }
    for (id, e) in &exporters {
        if let Exporter::Prometheus(p) = e
            && let Some(a) = p.auth.as_deref()
        {
            auth_refs.push((format!("exporters.{id}.auth.authenticator"), a));
        }
    }
    for (id, x) in &extensions {
        if let Extension::Pprof(s) = x
            && let Some(a) = s.auth.as_deref()
        {
            auth_refs.push((format!("extensions.{id}.auth.authenticator"), a));
        }
    }
    for (key, auth) in auth_refs {
        let sid = reference(&key, auth)?;
        match extensions.get(&sid) {
            None => return Err(missing(key, "extension", &sid)),
            Some(Extension::Auth(_)) => {}
            Some(_) => {
                return Err(Error::Invalid {
                    key,
                    message: format!(
                        "extension \"{sid}\" is not an authenticator (bearertokenauth or basicauth)"
                    ),
                });
            }
        }
        if !service_extensions.contains(&sid) {
            return Err(Error::Invalid {
                key,
                message: format!(
                    "extension \"{sid}\" is not started: add it to service.extensions"
                ),
            });
        }
    }

    let log_level = match service.telemetry.logs.level {
        Some(level) => Some(log_level(&level)?),
        None => None,
    };
    if let Some(level) = &service.telemetry.metrics.level
        && !matches!(level.as_str(), "none" | "basic" | "normal" | "detailed")
    {
        return Err(Error::Invalid {
            key: "service.telemetry.metrics.level".into(),
            message: format!("{level:?} is not one of none, basic, normal, detailed"),
        });
    }
    let metrics_address = match (
        service.telemetry.metrics.level.as_deref(),
        service.telemetry.metrics.address.as_deref(),
    ) {
        (Some("none"), _) => None,
        (_, Some(address)) => Some(super::TelemetryAddress::Explicit(super::endpoint(
            "service.telemetry.metrics.address",
            address,
        )?)),
        (_, None) => Some(super::TelemetryAddress::Default),
    };
    let log_format = match service.telemetry.logs.encoding.as_deref() {
        None => None,
        Some("json") => Some(super::LogFormat::Json),
        Some("console") | Some("text") => Some(super::LogFormat::Text),
        Some(other) => {
            return Err(Error::Invalid {
                key: "service.telemetry.logs.encoding".into(),
                message: format!("{other:?} is not one of json, console"),
            });
        }
    };

    let config = Config {
        receivers,
        processors,
        exporters,
        extensions,
        service_extensions,
        pipelines,
        log_level,
        telemetry: super::TelemetrySettings {
            metrics_address,
            log_format,
        },
    };
    crate::extensions::pprof::check(&config)?;
    check_listeners(&config)?;
    Ok(config)
}

fn component_error(path: &str, message: String) -> Error {
    // Components say `sub.key: what`; the key path goes in front.
    match message.split_once(": ") {
        Some((sub, rest)) if !sub.contains(' ') => Error::Invalid {
            key: format!("{path}.{sub}"),
            message: rest.to_owned(),
        },
        _ => Error::Invalid {
            key: path.to_owned(),
            message,
        },
    }
}

fn component_id(section: &str, id: &str) -> Result<(ComponentId, String), Error> {
    let parsed = ComponentId::parse(id).ok_or_else(|| Error::InvalidComponentId {
        key: section.to_owned(),
        id: id.to_owned(),
    })?;
    Ok((parsed, format!("{section}.{id}")))
}

fn reference(key: &str, id: &str) -> Result<ComponentId, Error> {
    ComponentId::parse(id).ok_or_else(|| Error::InvalidComponentId {
        key: key.to_owned(),
        id: id.to_owned(),
    })
}

fn missing(key: String, kind: &'static str, id: &ComponentId) -> Error {
    Error::MissingComponent {
        key,
        kind,
        id: id.to_string(),
    }
}

fn pipeline_signal(key: &str, id: &str) -> Result<Signal, Error> {
    let ty = id.split('/').next().unwrap_or("");
    let name_ok = id.split_once('/').is_none_or(|(_, n)| !n.is_empty());
    match Signal::ALL.into_iter().find(|s| s.as_str() == ty) {
        Some(signal) if name_ok => Ok(signal),
        _ => Err(Error::Invalid {
            key: key.to_owned(),
            message: format!(
                "{id:?} is not a pipeline id: use metrics, traces or logs, optionally with /name"
            ),
        }),
    }
}

fn log_level(level: &str) -> Result<String, Error> {
    let lower = level.to_ascii_lowercase();
    match lower.as_str() {
        "debug" | "info" | "warn" | "error" => Ok(lower),
        _ => Err(Error::Invalid {
            key: "service.telemetry.logs.level".into(),
            message: format!("{level:?} is not one of debug, info, warn, error"),
        }),
    }
}

/// No two listeners on one port.
pub(super) fn check_listeners(config: &Config) -> Result<(), Error> {
    let listeners = config.listeners();
    for (i, (first, first_addr)) in listeners.iter().enumerate() {
        for (second, second_addr) in &listeners[i + 1..] {
            if overlaps(*first_addr, *second_addr) {
                return Err(Error::EndpointConflict {
                    first: first.clone(),
                    first_addr: *first_addr,
                    second: second.clone(),
                    second_addr: *second_addr,
                });
            }
        }
    }
    Ok(())
}

/// Whether two listeners would fight over a port. Port 0 (any free port) never conflicts. An
/// unspecified address overlaps every address of its family, and `[::]` overlaps IPv4 too since
/// Linux binds it dual-stack by default.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    fn covers(wild: IpAddr, other: IpAddr) -> bool {
        wild.is_unspecified() && (wild.is_ipv6() || other.is_ipv4())
    }
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

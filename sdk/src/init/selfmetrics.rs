//! The SDK's own export metrics, named as the semantic conventions name them
//! ([SDK metrics](https://opentelemetry.io/docs/specs/semconv/otel/sdk-metrics/),
//! status "development"):
//!
//! - `otel.sdk.exporter.metric_data_point.exported` (`{data_point}`) and
//!   `otel.sdk.exporter.span.exported` (`{span}`): items whose export has
//!   finished, successful or failed; a failure carries `error.type`.
//! - `otel.sdk.exporter.operation.duration` (`s`): the duration of one export,
//!   retries included.
//!
//! Attributes: `otel.component.type` (`otlp_grpc_metric_exporter`,
//! `otlp_http_span_exporter`, ...), `otel.component.name` (`<type>/0`: one
//! exporter of each type per SDK instance), `server.address`, `server.port`
//! and, on failure only, `error.type`.
//!
//! `error.type` must have low cardinality, so it is derived from the error
//! and never copied from a message. The values Vigil reports:
//! - `timeout`: the export did not finish in time;
//! - a gRPC status code name (`UNAVAILABLE`, `UNAUTHENTICATED`, ...);
//! - an HTTP status code (`503`, `401`, ...);
//! - `network`: an OTLP/HTTP request got no response (refused, TLS, DNS);
//! - `shutdown`: the exporter was already shut down;
//! - `_OTHER`: anything else.
//!
//! The instruments come from the provider the exporter feeds, so they are
//! created after it is built ([`Instruments::new`]) and exported with the
//! next collection.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::env::{Protocol, Signal};

/// `otel.component.type` of the OTLP exporter of `signal` over `protocol`.
pub(crate) fn component_type(signal: Signal, protocol: Protocol) -> &'static str {
    match (signal, protocol) {
        (Signal::Metrics, Protocol::Grpc) => "otlp_grpc_metric_exporter",
        (Signal::Metrics, Protocol::HttpProtobuf) => "otlp_http_metric_exporter",
        (Signal::Traces, Protocol::Grpc) => "otlp_grpc_span_exporter",
        (Signal::Traces, Protocol::HttpProtobuf) => "otlp_http_span_exporter",
    }
}

/// One exporter's instruments and the attributes they always carry.
#[derive(Debug)]
pub(crate) struct Instruments {
    exported: Counter<u64>,
    duration: Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl Instruments {
    /// Creates the instruments of the exporter of `signal` from `provider`.
    pub(crate) fn new(
        provider: &SdkMeterProvider,
        signal: Signal,
        component_type: &'static str,
        url: &str,
    ) -> Self {
        let meter = provider.meter_with_scope(super::scope());
        let exported = match signal {
            Signal::Metrics => meter
                .u64_counter("otel.sdk.exporter.metric_data_point.exported")
                .with_unit("{data_point}")
                .with_description(
                    "The number of metric data points for which the export has finished, \
                     either successful or failed.",
                ),
            Signal::Traces => meter
                .u64_counter("otel.sdk.exporter.span.exported")
                .with_unit("{span}")
                .with_description(
                    "The number of spans for which the export has finished, either successful \
                     or failed.",
                ),
        }
        .build();
        let duration = meter
            .f64_histogram("otel.sdk.exporter.operation.duration")
            .with_unit("s")
            .with_boundaries(crate::views::SECONDS_BOUNDARIES.to_vec())
            .with_description("The duration of exporting a batch of telemetry records.")
            .build();
        let mut attributes = vec![
            KeyValue::new("otel.component.type", component_type),
            KeyValue::new("otel.component.name", format!("{component_type}/0")),
        ];
        if let Some((host, port)) = server(url) {
            attributes.push(KeyValue::new("server.address", host));
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        Instruments {
            exported,
            duration,
            attributes,
        }
    }

    /// Records one finished export of `items` items.
    pub(crate) fn record(&self, items: u64, elapsed: Duration, error_type: Option<&str>) {
        let mut attributes = self.attributes.clone();
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new("error.type", error_type.to_string()));
        }
        self.exported.add(items, &attributes);
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}

/// `server.address` and `server.port` of an `http(s)://host[:port]/…` URL;
/// the port defaults to the scheme's.
fn server(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    // `[::1]:4317`, `host:4317`, `host`.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The `error.type` of a failed export: low-cardinality, from the list in
/// the module documentation.
pub(crate) fn error_type(error: &OTelSdkError) -> Cow<'static, str> {
    let message = match error {
        OTelSdkError::Timeout(_) => return Cow::Borrowed("timeout"),
        OTelSdkError::AlreadyShutdown => return Cow::Borrowed("shutdown"),
        OTelSdkError::InternalFailure(message) => message,
    };
    // opentelemetry-otlp 0.33: "<Client> export failed with gRPC code: Unavailable: …".
    if let Some(rest) = message.split_once("with gRPC code: ").map(|(_, r)| r) {
        let code: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        if let Some(name) = grpc_code_name(&code) {
            return Cow::Borrowed(name);
        }
    }
    // "HTTP export failed with status code: 503".
    if let Some(rest) = message.split_once("with status code: ").map(|(_, r)| r) {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(status @ 100..=599) = code.parse::<u16>() {
            return Cow::Owned(status.to_string());
        }
    }
    if message.contains("network error") {
        return Cow::Borrowed("network");
    }
    if message.contains("Timeout") || message.contains("timed out") {
        return Cow::Borrowed("timeout");
    }
    Cow::Borrowed("_OTHER")
}

/// The canonical name of a gRPC status code spelled as tonic's `Debug` does.
fn grpc_code_name(debug: &str) -> Option<&'static str> {
    Some(match debug {
        "Cancelled" => "CANCELLED",
        "Unknown" => "UNKNOWN",
        "InvalidArgument" => "INVALID_ARGUMENT",
        "DeadlineExceeded" => "DEADLINE_EXCEEDED",
        "NotFound" => "NOT_FOUND",
        "AlreadyExists" => "ALREADY_EXISTS",
        "PermissionDenied" => "PERMISSION_DENIED",
        "ResourceExhausted" => "RESOURCE_EXHAUSTED",
        "FailedPrecondition" => "FAILED_PRECONDITION",
        "Aborted" => "ABORTED",
        "OutOfRange" => "OUT_OF_RANGE",
        "Unimplemented" => "UNIMPLEMENTED",
        "Internal" => "INTERNAL",
        "Unavailable" => "UNAVAILABLE",
        "DataLoss" => "DATA_LOSS",
        "Unauthenticated" => "UNAUTHENTICATED",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_a_short_fixed_list() {
        let failure = |m: &str| OTelSdkError::InternalFailure(m.to_string());
        let cases = [
            (OTelSdkError::Timeout(Duration::from_secs(1)), "timeout"),
            (OTelSdkError::AlreadyShutdown, "shutdown"),
            (
                failure(
                    "TonicMetricsClient export failed with gRPC code: Unavailable: transport \
                     error: tcp connect error: Connection refused (os error 111)",
                ),
                "UNAVAILABLE",
            ),
            (
                failure("TonicTracesClient export failed with gRPC code: Unauthenticated"),
                "UNAUTHENTICATED",
            ),
            (failure("HTTP export failed with status code: 503"), "503"),
            (failure("HTTP export failed: network error"), "network"),
            (
                failure("HTTP export failed with status code: 9999"),
                "_OTHER",
            ),
            (failure("something 12345 new"), "_OTHER"),
        ];
        for (error, expected) in cases {
            assert_eq!(error_type(&error), expected, "{error:?}");
        }
    }

    #[test]
    fn server_address_and_port_come_from_the_url() {
        let cases = [
            ("http://collector:4317", Some(("collector", 4317))),
            (
                "https://otlp.example.com/v1/metrics",
                Some(("otlp.example.com", 443)),
            ),
            ("http://127.0.0.1:4318/v1/traces", Some(("127.0.0.1", 4318))),
            ("http://[::1]:4317", Some(("::1", 4317))),
            ("http://[::1]/v1/metrics", Some(("::1", 80))),
            ("collector:4317", None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                server(url),
                expected.map(|(h, p)| (h.to_string(), p)),
                "{url}"
            );
        }
    }
}

//! Process-wide OpenTelemetry setup: [`init`] builds the meter provider, the
//! tracer provider bridged to `tracing`, and the OTLP exporters, installs them
//! globally, and returns the [`Guard`] that flushes them on exit.
//!
//! It exists because the Rust crates, wired by hand, get several things
//! wrong or leave them to every application: `opentelemetry_sdk` 0.33 ignores
//! `OTEL_SDK_DISABLED`, lets `OTEL_RESOURCE_ATTRIBUTES` override
//! `OTEL_SERVICE_NAME`, ignores shutdown timeouts, and its gRPC exporter needs
//! a tokio runtime that must not be the one blocked in `shutdown()`. This
//! module honours the [environment variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! as specified (see `init/env.rs` for each decision), builds the
//! [resource](https://opentelemetry.io/docs/specs/otel/resource/sdk/) with the
//! specified precedence (`init/resource.rs`), and installs Vigil's view
//! ([`crate::views::view`]) so that Vigil's instruments get their
//! cardinality limits (their histogram boundaries are set on each
//! instrument; other instruments are left alone).
//!
//! Exports that fail while the application runs are logged as `tracing`
//! warnings (target `vigil::export`, at most one a minute per cause) and
//! counted in `otel.sdk.exporter.*` (`init/report.rs`). `https` endpoints use
//! TLS with the system's roots or the configured CA, and mutual TLS with a
//! client certificate (`init/tls.rs`).
//!
//! It does not configure logs (no OTel log pipeline), samplers or
//! propagators beyond W3C trace context + baggage (the `OTEL_PROPAGATORS`
//! default). It installs a global `tracing` subscriber only when asked
//! ([`Builder::with_tracing`]): an application usually has its own, and adds
//! [`Guard::tracing_layer`] to it.
//!
//! # Code or environment: what wins
//!
//! The specification does not say, in general, whether a setting made in
//! code or an `OTEL_*` variable wins ("the spec failed to answer the question
//! of whether programmatic or environment variable configuration took
//! precedence", configuration/supplementary-guidelines.md). Where it does
//! say, Vigil follows it; elsewhere code wins, as in `opentelemetry-otlp`.
//! Each builder method's documentation says which applies:
//!
//! | setting | variable | winner |
//! |---|---|---|
//! | [`with_service_name`](Builder::with_service_name) | `OTEL_SERVICE_NAME` | the variable |
//! | [`with_resource_attribute`](Builder::with_resource_attribute), [`with_service_version`](Builder::with_service_version) | `OTEL_RESOURCE_ATTRIBUTES` | code (specification) |
//! | [`with_disabled`](Builder::with_disabled) | `OTEL_SDK_DISABLED` | `true` from either disables (specification) |
//! | [`with_endpoint`](Builder::with_endpoint), [`with_protocol`](Builder::with_protocol), [`with_export_interval`](Builder::with_export_interval), [`with_certificate`](Builder::with_certificate), [`with_client_certificate`](Builder::with_client_certificate), [`with_client_key`](Builder::with_client_key) | `OTEL_EXPORTER_OTLP_*`, `OTEL_METRIC_EXPORT_INTERVAL` | code |
//!
//! Variables Vigil does not handle itself (compression, temporality
//! preference, batch span processor and sampler settings) are still read by
//! the OpenTelemetry crates from the process environment.

mod env;
mod error;
mod export;
mod guard;
mod http_client;
mod limiter;
mod namespace;
mod report;
mod resource;
mod selfmetrics;
mod subscriber;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Meter, NoopMeterProvider};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::noop::NoopTracerProvider;
use opentelemetry::{InstrumentationScope, Key, KeyValue, Value, global};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;

pub use env::Protocol;
pub use error::InitError;
pub use guard::Guard;
pub use namespace::{metric_name, namespace};
pub use resource::instance_id;

use env::{Lookup, Signal};
use export::{CodeSettings, Plan, Target};
use guard::Active;
use report::ExportLog;
use subscriber::install_subscriber;
use tls::CodeTls;

/// Default deadline for flushing at shutdown.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Initialises telemetry from the environment: `Builder::new().build()`.
///
/// Call it first thing in `main`, before any instrument is created, and keep
/// the guard alive until the program ends.
pub fn init() -> Result<Guard, InitError> {
    Builder::new().build()
}

/// A [`Builder`] to set what the environment does not.
pub fn builder() -> Builder {
    Builder::new()
}

/// The meter every Vigil instrument is created from: scope `vigil`, version
/// of this crate, from the global provider.
///
/// Not cached: a meter binds to the provider installed when it is created,
/// so one cached before [`init`] would stay a no-op forever.
pub fn meter() -> Meter {
    global::meter_with_scope(scope())
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("vigil")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

type AddReader = Box<dyn FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + Send>;
type EnvFn = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Configures and starts Vigil's telemetry; see [`init`].
#[must_use = "call build() to start telemetry"]
pub struct Builder {
    service_name: Option<String>,
    service_version: Option<String>,
    namespace: Option<String>,
    attributes: Vec<KeyValue>,
    export_interval: Option<Duration>,
    protocol: Option<Protocol>,
    endpoint: Option<String>,
    tls: CodeTls,
    tracing: bool,
    disabled: Option<bool>,
    shutdown_timeout: Duration,
    readers: Vec<AddReader>,
    env: Option<EnvFn>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            service_name: None,
            service_version: None,
            namespace: None,
            attributes: Vec::new(),
            export_interval: None,
            protocol: None,
            endpoint: None,
            tls: CodeTls::default(),
            tracing: false,
            disabled: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            readers: Vec::new(),
            env: None,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("namespace", &self.namespace)
            .field("attributes", &self.attributes)
            .field("export_interval", &self.export_interval)
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls)
            .field("tracing", &self.tracing)
            .field("disabled", &self.disabled)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder that takes everything from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// `service.name` when `OTEL_SERVICE_NAME` is not set.
    ///
    /// **`OTEL_SERVICE_NAME` wins**: the specification does not rank code
    /// against it, and the variable exists so that a deployment can name the
    /// service. This name beats a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`
    /// (specification: "the user provided resource information has higher
    /// priority"). Without either, `unknown_service:<executable>`.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`, typically `env!("CARGO_PKG_VERSION")` of the binary.
    ///
    /// **Code wins** over a `service.version` in `OTEL_RESOURCE_ATTRIBUTES`
    /// (specification: "the user provided resource information has higher
    /// priority").
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// A prefix for Vigil's metric names (`duckgres` gives
    /// `duckgres.worker.lifecycle.transitions`), read through [`namespace`].
    ///
    /// Process-wide and fixed by the first `build()` that sets it; a later
    /// build with a different namespace fails.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// A resource attribute.
    ///
    /// **Code wins** over the same key in `OTEL_RESOURCE_ATTRIBUTES`
    /// (specification: "the user provided resource information has higher
    /// priority"). For `service.name`, prefer
    /// [`with_service_name`](Builder::with_service_name), which
    /// `OTEL_SERVICE_NAME` can override; a `service.name` set here is final.
    pub fn with_resource_attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Time between metric exports (default 60 s). Zero is ignored.
    ///
    /// **Code wins** over `OTEL_METRIC_EXPORT_INTERVAL` (the specification
    /// does not say; Vigil follows the OpenTelemetry crates).
    pub fn with_export_interval(mut self, interval: Duration) -> Self {
        self.export_interval = Some(interval);
        self
    }

    /// The OTLP transport of both signals (default gRPC).
    ///
    /// **Code wins** over `OTEL_EXPORTER_OTLP_PROTOCOL` and the per-signal
    /// variables (the specification does not say; Vigil follows
    /// `opentelemetry-otlp`).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The collector's base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP/HTTP
    /// appends `/v1/metrics` and `/v1/traces`). `https://` means TLS.
    ///
    /// Without a scheme, OTLP/HTTP refuses it and gRPC reads it as the OTLP
    /// specification says: plaintext if `OTEL_EXPORTER_OTLP_INSECURE=true`,
    /// TLS otherwise (with a warning when the variable is unset). Write the
    /// scheme.
    ///
    /// **Code wins** over every endpoint variable (the specification does not
    /// say; Vigil follows `opentelemetry-otlp`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// A PEM file of the CA certificate(s) to trust for `https` endpoints,
    /// instead of the system's roots (a private CA, a test CA).
    ///
    /// **Code wins** over `OTEL_EXPORTER_OTLP_CERTIFICATE` and its
    /// per-signal forms (the specification does not say). Read and checked
    /// by `build()`; ignored, with a warning, for `http` endpoints.
    pub fn with_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.certificate = Some(path.into());
        self
    }

    /// A PEM file of the client certificate (chain) presented for mutual
    /// TLS; needs [`with_client_key`](Builder::with_client_key) too.
    ///
    /// **Code wins** over `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and its
    /// per-signal forms (the specification does not say).
    pub fn with_client_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_certificate = Some(path.into());
        self
    }

    /// A PEM file of the private key of the client certificate (PKCS#8,
    /// PKCS#1 or SEC1).
    ///
    /// **Code wins** over `OTEL_EXPORTER_OTLP_CLIENT_KEY` and its per-signal
    /// forms (the specification does not say).
    pub fn with_client_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_key = Some(path.into());
        self
    }

    /// Whether to install a global `tracing` subscriber (default `false`):
    /// `RUST_LOG` filter (default `info`), a fmt layer, and the OpenTelemetry
    /// layer exporting spans.
    ///
    /// Off by default because an application usually installs its own, and
    /// a second global subscriber cannot be installed: add
    /// [`Guard::tracing_layer`] to yours to export spans. When asked and one
    /// is already installed, Vigil leaves it, warns, and still starts.
    pub fn with_tracing(mut self, install: bool) -> Self {
        self.tracing = install;
        self
    }

    /// Disables the SDK: every instrument becomes a no-op.
    ///
    /// **`OTEL_SDK_DISABLED=true` wins**: the specification says that with
    /// it "a no-op SDK implementation will be used for all telemetry
    /// signals", so `with_disabled(false)` cannot re-enable a process the
    /// deployment disabled. Any other value of the variable "will have no
    /// effect", so `with_disabled(true)` disables whatever it says.
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Deadline for [`Guard::force_flush`], [`Guard::shutdown`] and drop
    /// (default 5 s).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Adds a metric reader, e.g. a `PeriodicReader` over an
    /// `InMemoryMetricExporter` in tests. With any reader set, no OTLP
    /// exporter is built, for metrics or traces, and no runtime is started.
    pub fn with_reader(mut self, reader: impl MetricReader) -> Self {
        self.readers
            .push(Box::new(move |builder| builder.with_reader(reader)));
        self
    }

    /// Reads configuration from `lookup` instead of the process environment.
    /// For tests, which must not mutate the environment.
    // Only tests call it: production reads the process environment, which
    // the OpenTelemetry crates also read for the settings Vigil leaves them.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn with_env_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env = Some(Box::new(lookup));
        self
    }

    /// Builds the pipelines, installs the global meter provider, tracer
    /// provider and propagator (before returning, so instruments created
    /// afterwards are live), and the `tracing` subscriber if asked.
    ///
    /// Fails on configuration that would make every export fail (a malformed
    /// endpoint or header variable, an unreadable TLS file, an invalid
    /// namespace); tolerates what the specification says to warn about
    /// ([`Guard::warnings`]).
    pub fn build(mut self) -> Result<Guard, InitError> {
        let env_fn = self.env.take();
        let lookup: Lookup<'_> = match &env_fn {
            Some(f) => f.as_ref(),
            None => &env::process_env,
        };
        let mut warnings = Vec::new();
        if let Some(namespace) = &self.namespace {
            namespace::validate(namespace)?;
        }
        let disabled = env::sdk_disabled(lookup, &mut warnings) || self.disabled == Some(true);

        if disabled {
            self.claim_namespace()?;
            // The API's no-op providers: instruments do nothing, no thread runs.
            global::set_meter_provider(NoopMeterProvider::new());
            global::set_tracer_provider(NoopTracerProvider::new());
            install_propagator();
            if self.tracing {
                install_subscriber(lookup, None, &mut warnings);
            }
            log_warnings(&warnings);
            return Ok(Guard::new(None, self.shutdown_timeout, warnings));
        }

        let resource = resource::build(
            &resource::Settings {
                service_name: self.service_name.as_deref(),
                service_version: self.service_version.as_deref(),
                attributes: &self.attributes,
            },
            lookup,
            &mut warnings,
        );
        let interval = env::export_interval(lookup, self.export_interval, &mut warnings);
        let plan = if self.readers.is_empty() {
            let code = CodeSettings {
                protocol: self.protocol,
                endpoint: self.endpoint.as_deref(),
                tls: &self.tls,
            };
            Some(Plan {
                metrics: Target::resolve(Signal::Metrics, lookup, code, &mut warnings)?,
                traces: Target::resolve(Signal::Traces, lookup, code, &mut warnings)?,
            })
        } else {
            None
        };
        self.claim_namespace()?;

        let metrics_log = Arc::new(ExportLog::default());
        let traces_log = Arc::new(ExportLog::default());
        let mut meters = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_view(crate::views::view);
        let mut tracers = SdkTracerProvider::builder().with_resource(resource);
        let mut runtime = None;
        let mut reporters = Vec::new();
        match plan {
            Some(plan) => {
                let exporters = plan.build(metrics_log.clone(), traces_log.clone())?;
                meters = meters.with_reader(
                    PeriodicReader::builder(exporters.metrics)
                        .with_interval(interval)
                        .build(),
                );
                tracers = tracers.with_batch_exporter(exporters.spans);
                runtime = exporters.runtime;
                reporters.extend(exporters.reporters);
            }
            None => {
                for add in self.readers.drain(..) {
                    meters = add(meters);
                }
            }
        }
        let meter_provider = meters.build();
        let tracer_provider = tracers.build();
        for reporter in &reporters {
            reporter.attach(&meter_provider);
        }

        global::set_meter_provider(meter_provider.clone());
        global::set_tracer_provider(tracer_provider.clone());
        install_propagator();
        if self.tracing {
            install_subscriber(lookup, Some(&tracer_provider), &mut warnings);
        }
        log_warnings(&warnings);

        let active = Active {
            meter_provider,
            tracer_provider,
            metrics_log,
            traces_log,
            runtime,
        };
        Ok(Guard::new(Some(active), self.shutdown_timeout, warnings))
    }

    fn claim_namespace(&self) -> Result<(), InitError> {
        match &self.namespace {
            Some(namespace) => namespace::claim(namespace),
            None => Ok(()),
        }
    }
}

/// W3C trace context and baggage, the `OTEL_PROPAGATORS` default. Installed
/// even when disabled: the specification says `OTEL_SDK_DISABLED` does not
/// affect propagators.
fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(target: "vigil::init", "{warning}");
    }
}

/// Serialises tests that install global providers or subscribers: the
/// process has one of each and tests run in parallel. Other modules' tests
/// that call `build()` should take it too.
#[cfg(test)]
static GLOBAL_TEST_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes [`GLOBAL_TEST_LOCK`] in an async test.
#[cfg(test)]
pub(crate) async fn global_test_lock() -> tokio::sync::MutexGuard<'static, ()> {
    GLOBAL_TEST_LOCK.lock().await
}

/// Takes [`GLOBAL_TEST_LOCK`] in a synchronous test.
#[cfg(test)]
pub(crate) fn global_test_lock_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    GLOBAL_TEST_LOCK.blocking_lock()
}

#[cfg(test)]
mod tests;

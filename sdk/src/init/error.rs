//! The error [`crate::init`] returns: invalid configuration when building,
//! telemetry that could not be flushed when shutting down.
//!
//! The public type is opaque (STYLE.md §4): callers print it or ask which
//! setting was wrong; the variants stay free to change.

use std::fmt;
use std::time::Duration;

use opentelemetry_otlp::ExporterBuildError;

/// Why [`Builder::build`](super::Builder::build), [`Guard::force_flush`](super::Guard::force_flush)
/// or [`Guard::shutdown`](super::Guard::shutdown) failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Box<ErrorKind>,
}

#[derive(Debug, thiserror::Error)]
enum ErrorKind {
    /// A variable or builder setting has a value Vigil cannot use.
    #[error("{setting}: {reason}")]
    InvalidSetting {
        setting: &'static str,
        reason: String,
    },
    /// An `https` endpoint, but the crates are built without TLS.
    #[error(
        "{setting}: endpoint {endpoint:?} uses https, but Vigil is built without TLS support; \
         use an http:// endpoint (e.g. a local collector) or set OTEL_EXPORTER_OTLP_INSECURE=true \
         for an endpoint without a scheme"
    )]
    TlsUnsupported {
        setting: &'static str,
        endpoint: String,
    },
    /// The namespace is not a valid metric-name prefix.
    #[error("namespace {namespace:?} is not a valid metric name prefix: {reason}")]
    InvalidNamespace {
        namespace: String,
        reason: &'static str,
    },
    /// A previous `build()` set another namespace; it is process-wide and fixed.
    #[error("the metric namespace is already {current:?}; it cannot change to {requested:?}")]
    NamespaceConflict { current: String, requested: String },
    /// The dedicated runtime for the gRPC exporters could not start.
    #[error("could not start the runtime of the gRPC exporters")]
    Runtime(#[source] std::io::Error),
    /// `opentelemetry-otlp` refused the exporter configuration.
    #[error("could not build the OTLP {signal} exporter")]
    Exporter {
        signal: &'static str,
        #[source]
        source: ExporterBuildError,
    },
    /// A flush or shutdown left telemetry unsent.
    #[error("{operation} incomplete: {}", Failures(failures))]
    Incomplete {
        operation: &'static str,
        failures: Vec<Failure>,
    },
}

/// One signal's failure during a flush or shutdown.
#[derive(Debug)]
pub(crate) struct Failure {
    /// `metrics` or `traces`.
    pub(crate) signal: &'static str,
    /// What went wrong, including what could not be sent.
    pub(crate) reason: String,
}

impl Failure {
    /// The signal did not finish before the deadline.
    pub(crate) fn timed_out(
        signal: &'static str,
        deadline: Duration,
        detail: Option<String>,
    ) -> Self {
        let mut reason = format!("did not finish within {deadline:?}");
        if let Some(detail) = detail {
            reason.push_str("; ");
            reason.push_str(&detail);
        }
        Failure { signal, reason }
    }
}

struct Failures<'a>(&'a [Failure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", failure.signal, failure.reason)?;
        }
        Ok(())
    }
}

// === impl Error ===

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Error {
            kind: Box::new(kind),
        }
    }

    pub(crate) fn invalid_variable(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSetting {
            setting,
            reason: reason.into(),
        })
    }

    pub(crate) fn tls_unsupported(setting: &'static str, endpoint: String) -> Self {
        Self::new(ErrorKind::TlsUnsupported { setting, endpoint })
    }

    pub(crate) fn invalid_namespace(namespace: &str, reason: &'static str) -> Self {
        Self::new(ErrorKind::InvalidNamespace {
            namespace: namespace.to_string(),
            reason,
        })
    }

    pub(crate) fn namespace_conflict(current: &str, requested: &str) -> Self {
        Self::new(ErrorKind::NamespaceConflict {
            current: current.to_string(),
            requested: requested.to_string(),
        })
    }

    pub(crate) fn runtime(source: std::io::Error) -> Self {
        Self::new(ErrorKind::Runtime(source))
    }

    pub(crate) fn exporter(signal: &'static str, source: ExporterBuildError) -> Self {
        Self::new(ErrorKind::Exporter { signal, source })
    }

    pub(crate) fn incomplete(operation: &'static str, failures: Vec<Failure>) -> Self {
        Self::new(ErrorKind::Incomplete {
            operation,
            failures,
        })
    }

    /// The environment variable (or builder setting, e.g. `with_endpoint`)
    /// whose value was rejected, if that is what went wrong.
    pub fn setting(&self) -> Option<&str> {
        match &*self.kind {
            ErrorKind::InvalidSetting { setting, .. }
            | ErrorKind::TlsUnsupported { setting, .. } => Some(setting),
            _ => None,
        }
    }

    /// The signals (`metrics`, `traces`) a flush or shutdown could not
    /// complete; empty for other errors.
    pub fn failed_signals(&self) -> Vec<&str> {
        match &*self.kind {
            ErrorKind::Incomplete { failures, .. } => failures.iter().map(|f| f.signal).collect(),
            _ => Vec::new(),
        }
    }
}

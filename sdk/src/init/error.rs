//! The error [`crate::init`] returns: invalid configuration when building,
//! telemetry that could not be flushed when shutting down.
//!
//! The public type is opaque (STYLE.md §4): callers print it or ask which
//! setting was wrong; the variants stay free to change.

use std::fmt;
use std::time::Duration;

/// Why [`Builder::build`](super::Builder::build), [`Guard::force_flush`](super::Guard::force_flush)
/// or [`Guard::shutdown`](super::Guard::shutdown) failed.
///
/// `Display` is one line naming the setting, the value as it was written and
/// how to fix it. `Debug` prints the same message followed by its causes,
/// so `fn main() -> Result<(), vigil::InitError>` shows something readable.
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct InitError {
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
    /// A value Vigil cannot use, quoted as the user wrote it, with the fix.
    #[error("{} {problem}; {fix}", Written { setting, value })]
    InvalidValue {
        setting: &'static str,
        value: String,
        problem: String,
        fix: String,
    },
    /// A TLS file named by a variable or builder setting is unusable.
    #[error("{} {problem}", Written { setting, value: path })]
    TlsFile {
        setting: &'static str,
        path: String,
        problem: String,
        #[source]
        source: Option<std::io::Error>,
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
    /// The dedicated runtime for the exporters could not start.
    #[error("could not start the runtime of the OTLP exporters")]
    Runtime(#[source] std::io::Error),
    /// `opentelemetry-otlp` (or the TLS set-up) refused the exporter configuration.
    #[error("could not build the OTLP {signal} exporter for {endpoint}")]
    Exporter {
        signal: &'static str,
        endpoint: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A flush or shutdown left telemetry unsent.
    #[error("{operation} incomplete: {}", Failures(failures))]
    Incomplete {
        operation: &'static str,
        failures: Vec<Failure>,
    },
}

/// A setting and its value as written: `NAME=value` for a variable,
/// `with_x("value")` for a builder method.
pub(crate) struct Written<'a> {
    pub(crate) setting: &'a str,
    pub(crate) value: &'a str,
}

impl fmt::Display for Written<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.setting.starts_with("with_") {
            write!(f, "{}({:?})", self.setting, self.value)
        } else {
            write!(f, "{}={}", self.setting, self.value)
        }
    }
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

// === impl InitError ===

impl InitError {
    fn new(kind: ErrorKind) -> Self {
        InitError {
            kind: Box::new(kind),
        }
    }

    pub(crate) fn invalid_variable(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSetting {
            setting,
            reason: reason.into(),
        })
    }

    /// `setting=value problem; fix`, naming the value as the user wrote it.
    pub(crate) fn invalid_value(
        setting: &'static str,
        value: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(ErrorKind::InvalidValue {
            setting,
            value: value.to_string(),
            problem: problem.into(),
            fix: fix.into(),
        })
    }

    pub(crate) fn tls_file(
        setting: &'static str,
        path: &str,
        problem: impl Into<String>,
        source: Option<std::io::Error>,
    ) -> Self {
        Self::new(ErrorKind::TlsFile {
            setting,
            path: path.to_string(),
            problem: problem.into(),
            source,
        })
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

    pub(crate) fn exporter(
        signal: &'static str,
        endpoint: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(ErrorKind::Exporter {
            signal,
            endpoint: endpoint.to_string(),
            source: source.into(),
        })
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
            | ErrorKind::InvalidValue { setting, .. }
            | ErrorKind::TlsFile { setting, .. } => Some(setting),
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

impl fmt::Debug for InitError {
    /// The message and its chain of causes, as `anyhow` prints them: what
    /// `fn main() -> Result<(), vigil::InitError>` shows on failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        if source.is_some() {
            f.write_str("\n\nCaused by:")?;
        }
        while let Some(cause) = source {
            write!(f, "\n    {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_message_and_its_causes() {
        let error = InitError::invalid_value(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "127.0.0.1:14317",
            "has no scheme",
            "write http://127.0.0.1:14317 for plaintext or https://127.0.0.1:14317 for TLS",
        );
        let expected = "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:14317 has no scheme; write \
                        http://127.0.0.1:14317 for plaintext or https://127.0.0.1:14317 for TLS";
        assert_eq!(error.to_string(), expected);
        assert_eq!(format!("{error:?}"), expected);

        let error = InitError::tls_file(
            "with_certificate",
            "/nowhere/ca.pem",
            "cannot be read",
            Some(std::io::Error::from(std::io::ErrorKind::NotFound)),
        );
        assert_eq!(
            format!("{error:?}"),
            "with_certificate(\"/nowhere/ca.pem\") cannot be read\n\nCaused by:\n    entity not found"
        );
    }
}

//! [`Error`]: why a configuration could not be loaded, with the key path, file line or flag.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::AddressError;

/// Why a configuration could not be loaded.
///
/// Messages name the file (and line) or the key path and quote the value. The underlying cause,
/// where there is one, is the [`source`](std::error::Error::source): `{}` shows this error's own
/// message, and `{:#}` appends each cause after a `: `, as anyhow's `{:#}` does, so
/// `eprintln!("{err:#}")` prints the whole story with or without anyhow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML, or does not fit the schema: an unknown key, a value of the wrong
    /// type. serde_yaml's message, the source, names the key path and the line.
    Parse {
        /// The file name.
        origin: String,
        /// serde_yaml's error.
        #[source]
        source: serde_yaml::Error,
    },
    /// `${env:NAME}` refers to an unset variable and gives no default.
    MissingEnvVar {
        /// The file name.
        origin: String,
        /// 1-based line of the reference.
        line: usize,
        /// The variable.
        name: String,
    },
    /// A substituted variable's value contains a line break, which could inject YAML keys.
    MultilineEnvVar {
        /// The file name.
        origin: String,
        /// 1-based line of the reference.
        line: usize,
        /// The variable.
        name: String,
    },
    /// A `${...}` that is not `${env:NAME}` or `${env:NAME:-default}`.
    UnsupportedSubstitution {
        /// The file name.
        origin: String,
        /// 1-based line of the reference.
        line: usize,
        /// The reference as written, `${` to `}`.
        text: String,
    },
    /// A `${` with no `}` on the same line.
    UnterminatedSubstitution {
        /// The file name.
        origin: String,
        /// 1-based line of the reference.
        line: usize,
        /// The rest of the line from `${`.
        text: String,
    },
    /// An endpoint is not `IP:PORT` or `localhost:PORT`.
    InvalidAddress {
        /// Key path, or flag, of the value.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// A value is out of range or malformed; the message says how.
    Invalid {
        /// Key path, or flag, of the value.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A component id is not `type` or `type/name`.
    InvalidComponentId {
        /// Where it was written.
        key: String,
        /// The id as written.
        id: String,
    },
    /// A pipeline names a component that is not configured.
    MissingComponent {
        /// `service.pipelines.<id>.<section>`.
        key: String,
        /// `receiver`, `processor`, `exporter` or `extension`.
        kind: &'static str,
        /// The id as written.
        id: String,
    },
    /// A component is used in a pipeline of a signal it does not handle.
    UnsupportedSignal {
        /// `service.pipelines.<id>`.
        key: String,
        /// The component id.
        id: String,
        /// The signals it handles.
        supported: &'static str,
    },
    /// A configuration file without a pipeline.
    NoPipelines,
    /// Two listeners would bind the same port.
    EndpointConflict {
        /// Key path of the first listener.
        first: String,
        /// Its address.
        first_addr: SocketAddr,
        /// Key path of the second listener.
        second: String,
        /// Its address.
        second_addr: SocketAddr,
    },
}

// Display is written out, not derived, for the alternate form: `{:#}` must show the causes even
// when the caller prints this error directly rather than through anyhow.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, .. } => write!(f, "cannot read config file {}", path.display())?,
            Error::Parse { origin, .. } => write!(f, "{origin}: invalid configuration")?,
            Error::MissingEnvVar { origin, line, name } => write!(
                f,
                "{origin}:{line}: environment variable {name} is not set \
                 (write ${{env:{name}:-DEFAULT}} to give a default)"
            )?,
            Error::MultilineEnvVar { origin, line, name } => write!(
                f,
                "{origin}:{line}: environment variable {name} contains a line break; \
                 a variable can only fill in a single value"
            )?,
            Error::UnsupportedSubstitution { origin, line, text } => write!(
                f,
                "{origin}:{line}: unsupported substitution {text}: expected ${{env:NAME}} or \
                 ${{env:NAME:-default}} (write $${{ for a literal ${{)"
            )?,
            Error::UnterminatedSubstitution { origin, line, text } => write!(
                f,
                "{origin}:{line}: {text:?} has no closing }} (write $${{ for a literal ${{)"
            )?,
            Error::InvalidAddress { key, value, .. } => {
                write!(f, "{key}: invalid socket address {value:?}")?
            }
            Error::Invalid { key, message } => write!(f, "{key}: {message}")?,
            Error::InvalidComponentId { key, id } => write!(
                f,
                "{key}: {id:?} is not a component id (type or type/name, e.g. otlp/vendor)"
            )?,
            Error::MissingComponent { key, kind, id } => write!(
                f,
                "{key}: {kind} {id:?} is not configured (add it under {kind}s:)"
            )?,
            Error::UnsupportedSignal { key, id, supported } => write!(
                f,
                "{key}: {id:?} handles only {supported}, not this pipeline's signal"
            )?,
            Error::NoPipelines => f.write_str(
                "service.pipelines: no pipeline is configured, so nothing would run \
                 (e.g. metrics: {receivers: [otlp], exporters: [prometheus]})",
            )?,
            Error::EndpointConflict {
                first,
                first_addr,
                second,
                second_addr,
            } => write!(
                f,
                "{second} ({second_addr}) conflicts with {first} ({first_addr}): \
                 both would listen on port {}",
                first_addr.port()
            )?,
        }
        if f.alternate() {
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

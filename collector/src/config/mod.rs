//! The collector's configuration: one YAML file plus command-line flags, validated once into
//! typed values.
//!
//! The file describes the pipeline the way the OpenTelemetry Collector does, nested by component
//! (`receivers.otlp.protocols.grpc.endpoint`); `otel-config/collector.yaml` shows every key with
//! its default. Loading goes: read the file, substitute `${env:NAME}` in its text (`env.rs`),
//! parse it into the serde mirror (`raw.rs`, which rejects unknown keys), validate it into
//! [`Config`], then apply flags ([`Cli`]) and check the result as a whole (no two listeners on
//! one port, at least one receiver). Components receive only [`Config`]'s types (`SocketAddr`,
//! `Duration`, byte counts) and never see serde or clap. Every [`Error`] names the key path or
//! flag and quotes the offending value.
//!
//! This module deliberately does not resolve host names (only IP literals and `localhost`, see
//! `addr.rs`), merge several files, or reload at run time. It reads no `OTEL_*` variables: none of
//! the specification's variables describe a collector's listeners.

mod addr;
mod cli;
mod duration;
mod env;
mod raw;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use addr::AddressError;
pub use cli::Cli;
pub use duration::parse_duration;

/// Where OTLP/gRPC is received unless configured otherwise (the OTLP default port, loopback only).
pub const DEFAULT_GRPC_ENDPOINT: SocketAddr = loopback(4317);
/// Where OTLP/HTTP is received unless configured otherwise (the OTLP default port, loopback only).
pub const DEFAULT_HTTP_ENDPOINT: SocketAddr = loopback(4318);
/// Where `/metrics`, `/api/v1/snapshot`, `/healthz` and `/readyz` are served unless configured
/// otherwise (the OpenTelemetry Prometheus exporter's default port, loopback only).
pub const DEFAULT_PROMETHEUS_ENDPOINT: SocketAddr = loopback(9464);
/// Largest OTLP/gRPC message accepted by default, in MiB: gRPC's own default limit.
pub const DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// Largest OTLP/HTTP body accepted by default, in MiB, before and after decompression.
pub const DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE_MIB: u64 = 8;
/// How long a series lives without updates by default.
pub const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(5 * 60);

/// Upper bound on the size limits, in MiB. Larger values are almost certainly a unit mistake
/// (KiB for MiB), and 1 GiB still fits a 32-bit `usize`.
pub const MAX_SIZE_MIB: u64 = 1024;
/// Upper bound on `store.expire_after`. It keeps `Instant + expire_after` far from overflow,
/// which would panic in the store.
pub const MAX_EXPIRE_AFTER: Duration = Duration::from_secs(365 * 24 * 60 * 60);

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

const MIB: usize = 1024 * 1024;

// Key paths, as they appear in error messages.
const GRPC_ENDPOINT: &str = "receivers.otlp.protocols.grpc.endpoint";
const GRPC_MAX_RECV_MSG_SIZE: &str = "receivers.otlp.protocols.grpc.max_recv_msg_size_mib";
const HTTP_ENDPOINT: &str = "receivers.otlp.protocols.http.endpoint";
const HTTP_MAX_REQUEST_BODY_SIZE: &str = "receivers.otlp.protocols.http.max_request_body_size_mib";
const STORE_EXPIRE_AFTER: &str = "store.expire_after";
const PROMETHEUS_ENDPOINT: &str = "exporters.prometheus.endpoint";

/// The validated configuration the collector runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where telemetry comes in.
    pub receivers: Receivers,
    /// How the aggregated store ages out series.
    pub store: Store,
    /// Where aggregated telemetry goes out.
    pub exporters: Exporters,
}

/// The OTLP receivers; `None` means that protocol is disabled. At least one is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receivers {
    /// OTLP over gRPC.
    pub grpc: Option<GrpcReceiver>,
    /// OTLP over HTTP.
    pub http: Option<HttpReceiver>,
}

/// `receivers.otlp.protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcReceiver {
    /// Address to bind.
    pub endpoint: SocketAddr,
    /// Largest accepted message, in bytes, after decompression.
    pub max_recv_msg_size: usize,
}

/// `receivers.otlp.protocols.http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReceiver {
    /// Address to bind.
    pub endpoint: SocketAddr,
    /// Largest accepted body, in bytes, both as received and after gzip decompression.
    pub max_request_body_size: usize,
}

/// `store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// A series not updated for this long is dropped. Greater than zero and at most
    /// [`MAX_EXPIRE_AFTER`].
    pub expire_after: Duration,
}

/// `exporters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporters {
    /// The admin HTTP server.
    pub prometheus: Prometheus,
}

/// `exporters.prometheus`: serves `/metrics`, `/api/v1/snapshot`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    /// Address to bind.
    pub endpoint: SocketAddr,
}

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
        key: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// A duration is not in humantime's format (`30s`, `5m`, `1h 30m`) or is negative.
    InvalidDuration {
        /// Key path, or flag, of the value.
        key: &'static str,
        /// The value as written.
        value: String,
        /// humantime's error.
        #[source]
        source: humantime::DurationError,
    },
    /// A duration that must be positive is zero.
    ZeroDuration {
        /// Key path, or flag, of the value.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// A duration is longer than allowed.
    DurationTooLong {
        /// Key path, or flag, of the value.
        key: &'static str,
        /// The value as written.
        value: String,
        /// The largest value accepted.
        max: Duration,
    },
    /// A size limit is zero, which would refuse every request.
    ZeroSize {
        /// Key path of the value.
        key: &'static str,
    },
    /// A size limit is larger than [`MAX_SIZE_MIB`].
    SizeTooLarge {
        /// Key path of the value.
        key: &'static str,
        /// The value as written.
        mib: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// Both OTLP protocols are disabled, so the collector could receive nothing.
    NoReceivers,
    /// Two listeners would bind the same port.
    EndpointConflict {
        /// Key path of the first listener.
        first: &'static str,
        /// Its address.
        first_addr: SocketAddr,
        /// Key path of the second listener.
        second: &'static str,
        /// Its address.
        second_addr: SocketAddr,
    },
}

// === impl Error ===

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
            Error::InvalidDuration { key, value, .. } => write!(
                f,
                "{key}: invalid duration {value:?} \
                 (expected a positive duration like \"30s\", \"5m\" or \"1h 30m\")"
            )?,
            Error::ZeroDuration { key, value } => {
                write!(f, "{key}: duration {value:?} must be greater than zero")?
            }
            Error::DurationTooLong { key, value, max } => write!(
                f,
                "{key}: duration {value:?} is longer than the maximum of {} days",
                max.as_secs() / 86_400
            )?,
            Error::ZeroSize { key } => write!(
                f,
                "{key}: must be at least 1 (MiB), or every request would be refused"
            )?,
            Error::SizeTooLarge { key, mib, max } => {
                write!(f, "{key}: {mib} MiB is more than the maximum of {max} MiB")?
            }
            Error::NoReceivers => f.write_str(
                "receivers.otlp.protocols: grpc and http are both disabled, \
                 so nothing could be received; enable at least one",
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

// === impl Config ===

impl Default for Config {
    /// The zero-config defaults: both OTLP protocols and the admin server, on loopback only.
    fn default() -> Self {
        // Constants only, so this cannot fail; `tests.rs` checks it equals an empty file.
        Config {
            receivers: Receivers {
                grpc: Some(GrpcReceiver {
                    endpoint: DEFAULT_GRPC_ENDPOINT,
                    max_recv_msg_size: mib_const(DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB),
                }),
                http: Some(HttpReceiver {
                    endpoint: DEFAULT_HTTP_ENDPOINT,
                    max_request_body_size: mib_const(DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE_MIB),
                }),
            },
            store: Store {
                expire_after: DEFAULT_EXPIRE_AFTER,
            },
            exporters: Exporters {
                prometheus: Prometheus {
                    endpoint: DEFAULT_PROMETHEUS_ENDPOINT,
                },
            },
        }
    }
}

impl Config {
    /// Parses and validates YAML text, substituting `${env:...}` from the process environment.
    /// `origin` names the text (usually the file) in error messages.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, Error> {
        // A variable whose value is not UTF-8 counts as unset: it could not be YAML text anyway.
        Self::from_yaml_str_with_env(text, origin, &|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_yaml_str`], looking variables up with `env` instead of the process
    /// environment.
    pub fn from_yaml_str_with_env(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let text = env::substitute(text, origin, env)?;
        let raw: raw::Raw = serde_yaml::from_str(&text).map_err(|source| Error::Parse {
            origin: origin.to_owned(),
            source,
        })?;
        Config::try_from(raw)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// The configuration to run with: the `--config` file if given, else the defaults, with the
    /// other flags applied on top.
    pub fn resolve(cli: &Cli) -> Result<Config, Error> {
        let mut config = match &cli.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        config.apply_cli(cli)?;
        Ok(config)
    }

    /// Apply CLI overrides on top of the file (or defaults): flags win over the file.
    ///
    /// `--otlp-grpc`/`--otlp-http` also enable a receiver the file disabled, keeping the default
    /// size limit. Errors name the flag. On error `self` may be partly updated.
    pub fn apply_cli(&mut self, cli: &Cli) -> Result<(), Error> {
        if let Some(value) = &cli.otlp_grpc {
            let endpoint = endpoint("--otlp-grpc", value)?;
            let max_recv_msg_size = self
                .receivers
                .grpc
                .as_ref()
                .map_or(mib_const(DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB), |grpc| {
                    grpc.max_recv_msg_size
                });
            self.receivers.grpc = Some(GrpcReceiver {
                endpoint,
                max_recv_msg_size,
            });
        }
        if let Some(value) = &cli.otlp_http {
            let endpoint = endpoint("--otlp-http", value)?;
            let max_request_body_size = self
                .receivers
                .http
                .as_ref()
                .map_or(mib_const(DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE_MIB), |http| {
                    http.max_request_body_size
                });
            self.receivers.http = Some(HttpReceiver {
                endpoint,
                max_request_body_size,
            });
        }
        if let Some(value) = &cli.listen {
            self.exporters.prometheus.endpoint = endpoint("--listen", value)?;
        }
        if let Some(value) = &cli.expire_after {
            self.store.expire_after = duration("--expire-after", value)?;
        }
        self.check()
    }

    /// Checks what no single key can: at least one receiver, and no two listeners on one port.
    fn check(&self) -> Result<(), Error> {
        if self.receivers.grpc.is_none() && self.receivers.http.is_none() {
            return Err(Error::NoReceivers);
        }
        let listeners = [
            self.receivers
                .grpc
                .as_ref()
                .map(|grpc| (GRPC_ENDPOINT, grpc.endpoint)),
            self.receivers
                .http
                .as_ref()
                .map(|http| (HTTP_ENDPOINT, http.endpoint)),
            Some((PROMETHEUS_ENDPOINT, self.exporters.prometheus.endpoint)),
        ];
        let listeners: Vec<_> = listeners.into_iter().flatten().collect();
        for (i, &(first, first_addr)) in listeners.iter().enumerate() {
            for &(second, second_addr) in &listeners[i + 1..] {
                if overlaps(first_addr, second_addr) {
                    return Err(Error::EndpointConflict {
                        first,
                        first_addr,
                        second,
                        second_addr,
                    });
                }
            }
        }
        Ok(())
    }
}

impl TryFrom<raw::Raw> for Config {
    type Error = Error;

    fn try_from(raw: raw::Raw) -> Result<Config, Error> {
        let protocols = raw.receivers.otlp.protocols;
        let grpc = if protocols.grpc.enabled {
            Some(GrpcReceiver {
                endpoint: endpoint(GRPC_ENDPOINT, &protocols.grpc.endpoint)?,
                max_recv_msg_size: mib(
                    GRPC_MAX_RECV_MSG_SIZE,
                    protocols.grpc.max_recv_msg_size_mib,
                )?,
            })
        } else {
            None
        };
        let http = if protocols.http.enabled {
            Some(HttpReceiver {
                endpoint: endpoint(HTTP_ENDPOINT, &protocols.http.endpoint)?,
                max_request_body_size: mib(
                    HTTP_MAX_REQUEST_BODY_SIZE,
                    protocols.http.max_request_body_size_mib,
                )?,
            })
        } else {
            None
        };
        let config = Config {
            receivers: Receivers { grpc, http },
            store: Store {
                expire_after: duration(STORE_EXPIRE_AFTER, &raw.store.expire_after)?,
            },
            exporters: Exporters {
                prometheus: Prometheus {
                    endpoint: endpoint(PROMETHEUS_ENDPOINT, &raw.exporters.prometheus.endpoint)?,
                },
            },
        };
        config.check()?;
        Ok(config)
    }
}

// === value parsers ===

fn endpoint(key: &'static str, value: &str) -> Result<SocketAddr, Error> {
    addr::parse_endpoint(value).map_err(|source| Error::InvalidAddress {
        key,
        value: value.to_owned(),
        source,
    })
}

fn duration(key: &'static str, value: &str) -> Result<Duration, Error> {
    let parsed = humantime::parse_duration(value).map_err(|source| Error::InvalidDuration {
        key,
        value: value.to_owned(),
        source,
    })?;
    if parsed.is_zero() {
        return Err(Error::ZeroDuration {
            key,
            value: value.to_owned(),
        });
    }
    if parsed > MAX_EXPIRE_AFTER {
        return Err(Error::DurationTooLong {
            key,
            value: value.to_owned(),
            max: MAX_EXPIRE_AFTER,
        });
    }
    Ok(parsed)
}

fn mib(key: &'static str, mib: u64) -> Result<usize, Error> {
    match mib {
        0 => Err(Error::ZeroSize { key }),
        1..=MAX_SIZE_MIB => Ok(mib_const(mib)),
        _ => Err(Error::SizeTooLarge {
            key,
            mib,
            max: MAX_SIZE_MIB,
        }),
    }
}

/// MiB to bytes for values already known to be at most [`MAX_SIZE_MIB`], so the product fits a
/// `usize` on every platform Rust supports with `std` networking (32 bits or more).
const fn mib_const(mib: u64) -> usize {
    mib as usize * MIB
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

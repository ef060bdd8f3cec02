//! `receivers.otlp`: the OTLP receiver's keys, as the OpenTelemetry Collector spells them.
//!
//! `protocols` lists the transports to serve; a protocol written with no value (`grpc:`) is
//! served with its defaults, and one left out is not served, as in the OpenTelemetry Collector.
//! Size limits use its units: `max_recv_msg_size_mib` for gRPC, `max_request_body_size` (bytes)
//! for HTTP. Endpoints default to loopback (the OpenTelemetry Collector's `localhost`), and are
//! IP literals or `localhost`, never resolved (see `config::addr`).

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use crate::config::{self, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, Error, GoDuration};
use crate::server::conn::Limits;
use crate::server::tls::{ServerTlsConfig, ServerTlsSettings};

/// Largest gRPC message by default, in MiB: gRPC's own default.
pub const DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// Largest HTTP body by default, in bytes (the OpenTelemetry Collector's 20 MiB).
pub const DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE: u64 = 20 * 1024 * 1024;
/// Upper bound on size limits: 1 GiB. Larger is almost certainly a unit mistake.
pub const MAX_SIZE: u64 = 1024 * 1024 * 1024;

/// `receivers.otlp`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The transports OTLP is accepted on; at least one.
    #[serde(default)]
    pub protocols: Protocols,
}

/// `receivers.otlp.protocols`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP over gRPC; served when present.
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<Grpc>,
    /// OTLP over HTTP (protobuf or JSON bodies); served when present.
    #[serde(default, deserialize_with = "present")]
    pub http: Option<Http>,
}

/// `receivers.otlp.protocols.grpc`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grpc {
    /// `HOST:PORT` to listen on; HOST is an IP address or `localhost`.
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    /// Largest accepted request message, in MiB (decompressed).
    #[serde(default = "default_grpc_max_recv_msg_size_mib")]
    pub max_recv_msg_size_mib: u64,
    /// Concurrent calls per connection (HTTP/2 streams).
    #[serde(default)]
    pub max_concurrent_streams: Option<u32>,
    /// Connections held at once (Vigil's; the Collector has no such key).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// `keepalive.server_parameters.max_connection_idle`.
    #[serde(default)]
    pub keepalive: Option<Keepalive>,
    /// Time for a whole call (Vigil's).
    #[serde(default)]
    pub read_timeout: Option<GoDuration>,
    /// Serve over TLS.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Require credentials (`authenticator`: a `bearertokenauth`/`basicauth` extension).
    #[serde(default)]
    pub auth: Option<crate::extensions::auth::AuthRef>,
}

/// `keepalive` of the gRPC protocol.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    #[serde(default)]
    pub server_parameters: Option<ServerParameters>,
}

/// `keepalive.server_parameters`: only `max_connection_idle` is read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerParameters {
    #[serde(default)]
    pub max_connection_idle: Option<GoDuration>,
}

/// `receivers.otlp.protocols.http`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// `HOST:PORT` to listen on; HOST is an IP address or `localhost`.
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// Largest accepted request body in bytes, checked as received and after decompression.
    #[serde(default = "default_http_max_request_body_size")]
    pub max_request_body_size: u64,
    /// Time for a client to send a request's headers.
    #[serde(default)]
    pub read_header_timeout: Option<GoDuration>,
    /// Time for a client to send a whole request.
    #[serde(default)]
    pub read_timeout: Option<GoDuration>,
    /// A keep-alive connection idle this long is closed.
    #[serde(default)]
    pub idle_timeout: Option<GoDuration>,
    /// Connections held at once (Vigil's; the Collector has no such key).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Serve over TLS.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Require credentials (`authenticator`: a `bearertokenauth`/`basicauth` extension).
    #[serde(default)]
    pub auth: Option<crate::extensions::auth::AuthRef>,
}

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size_mib: default_grpc_max_recv_msg_size_mib(),
            max_concurrent_streams: None,
            max_connections: None,
            keepalive: None,
            read_timeout: None,
            tls: None,
            auth: None,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            endpoint: default_http_endpoint(),
            max_request_body_size: default_http_max_request_body_size(),
            read_header_timeout: None,
            read_timeout: None,
            idle_timeout: None,
            max_connections: None,
            tls: None,
            auth: None,
        }
    }
}

fn default_grpc_endpoint() -> String {
    DEFAULT_GRPC_ENDPOINT.to_string()
}
fn default_http_endpoint() -> String {
    DEFAULT_HTTP_ENDPOINT.to_string()
}
fn default_grpc_max_recv_msg_size_mib() -> u64 {
    DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB
}
fn default_http_max_request_body_size() -> u64 {
    DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE
}

/// A key written with no value (`grpc:`) is present, with every default.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// A validated OTLP receiver. At least one protocol is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpReceiver {
    /// OTLP over gRPC.
    pub grpc: Option<GrpcReceiver>,
    /// OTLP over HTTP.
    pub http: Option<HttpReceiver>,
}

/// `receivers.otlp.protocols.grpc`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcReceiver {
    /// Address to bind.
    pub endpoint: SocketAddr,
    /// Largest accepted message, in bytes, after decompression.
    pub max_recv_msg_size: usize,
    /// Connection cap, idle rule and call timeout.
    pub limits: Limits,
    /// Concurrent calls per connection.
    pub max_concurrent_streams: u32,
    /// TLS, when served over it.
    pub tls: Option<ServerTlsSettings>,
    /// The authenticator extension's id, when credentials are required.
    pub auth: Option<String>,
}

/// Concurrent calls per gRPC connection by default (grpc-go's default is unlimited).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;

/// `receivers.otlp.protocols.http`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReceiver {
    /// Address to bind.
    pub endpoint: SocketAddr,
    /// Largest accepted body, in bytes, both as received and after gzip decompression.
    pub max_request_body_size: usize,
    /// Connection cap, header and body timeouts, idle rule.
    pub limits: Limits,
    /// TLS, when served over it.
    pub tls: Option<ServerTlsSettings>,
    /// The authenticator extension's id, when credentials are required.
    pub auth: Option<String>,
}

impl OtlpReceiver {
    /// Both protocols on their default loopback addresses: the zero-config receiver.
    pub fn defaults() -> OtlpReceiver {
        OtlpReceiver {
            grpc: Some(GrpcReceiver {
                endpoint: DEFAULT_GRPC_ENDPOINT,
                max_recv_msg_size: (DEFAULT_GRPC_MAX_RECV_MSG_SIZE_MIB * 1024 * 1024) as usize,
                limits: Limits::GRPC,
                max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
                tls: None,
                auth: None,
            }),
            http: Some(HttpReceiver {
                endpoint: DEFAULT_HTTP_ENDPOINT,
                max_request_body_size: DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE as usize,
                limits: Limits::HTTP,
                tls: None,
                auth: None,
            }),
        }
    }
}

impl Config {
    /// Validate; `path` is the component's key path (`receivers.otlp/2`).
    pub fn validate(&self, path: &str) -> Result<OtlpReceiver, Error> {
        let grpc = match &self.protocols.grpc {
            Some(g) => {
                let key = format!("{path}.protocols.grpc");
                Some(GrpcReceiver {
                    endpoint: config::endpoint(&format!("{key}.endpoint"), &g.endpoint)?,
                    max_recv_msg_size: size(
                        &format!("{key}.max_recv_msg_size_mib"),
                        g.max_recv_msg_size_mib.saturating_mul(1024 * 1024),
                    )?,
                    limits: Limits {
                        max_connections: connections(&key, g.max_connections, Limits::GRPC)?,
                        read_header_timeout: Limits::GRPC.read_header_timeout,
                        idle_timeout: timeout(
                            &format!("{key}.keepalive.server_parameters.max_connection_idle"),
                            g.keepalive
                                .as_ref()
                                .and_then(|k| k.server_parameters.as_ref())
                                .and_then(|p| p.max_connection_idle.as_ref()),
                            Limits::GRPC.idle_timeout,
                        )?,
                        read_timeout: timeout(
                            &format!("{key}.read_timeout"),
                            g.read_timeout.as_ref(),
                            Limits::GRPC.read_timeout,
                        )?,
                    },
                    max_concurrent_streams: match g.max_concurrent_streams {
                        None => DEFAULT_MAX_CONCURRENT_STREAMS,
                        Some(0) => {
                            return Err(Error::Invalid {
                                key: format!("{key}.max_concurrent_streams"),
                                message: "must be at least 1".into(),
                            });
                        }
                        Some(n) => n,
                    },
                    tls: server_tls(&key, g.tls.as_ref())?,
                    auth: g.auth.as_ref().map(|a| a.authenticator.clone()),
                })
            }
            None => None,
        };
        let http = match &self.protocols.http {
            Some(h) => {
                let key = format!("{path}.protocols.http");
                Some(HttpReceiver {
                    endpoint: config::endpoint(&format!("{key}.endpoint"), &h.endpoint)?,
                    max_request_body_size: size(
                        &format!("{key}.max_request_body_size"),
                        h.max_request_body_size,
                    )?,
                    limits: Limits {
                        max_connections: connections(&key, h.max_connections, Limits::HTTP)?,
                        read_header_timeout: timeout(
                            &format!("{key}.read_header_timeout"),
                            h.read_header_timeout.as_ref(),
                            Limits::HTTP.read_header_timeout,
                        )?,
                        idle_timeout: timeout(
                            &format!("{key}.idle_timeout"),
                            h.idle_timeout.as_ref(),
                            Limits::HTTP.idle_timeout,
                        )?,
                        read_timeout: timeout(
                            &format!("{key}.read_timeout"),
                            h.read_timeout.as_ref(),
                            Limits::HTTP.read_timeout,
                        )?,
                    },
                    tls: server_tls(&key, h.tls.as_ref())?,
                    auth: h.auth.as_ref().map(|a| a.authenticator.clone()),
                })
            }
            None => None,
        };
        if grpc.is_none() && http.is_none() {
            return Err(Error::Invalid {
                key: format!("{path}.protocols"),
                message: "no protocol: write `grpc:` and/or `http:` under protocols".into(),
            });
        }
        Ok(OtlpReceiver { grpc, http })
    }
}

fn server_tls(
    key: &str,
    tls: Option<&ServerTlsConfig>,
) -> Result<Option<ServerTlsSettings>, Error> {
    let Some(tls) = tls else { return Ok(None) };
    tls.validate().map(Some).map_err(|message| {
        // The message starts with `tls.<key>: `; the key goes in front of it.
        let (sub, rest) = message
            .split_once(": ")
            .unwrap_or(("tls", message.as_str()));
        Error::Invalid {
            key: format!("{key}.{sub}"),
            message: rest.to_owned(),
        }
    })
}

/// The most connections a listener may be allowed: past the usual descriptor limits.
const MAX_CONNECTIONS: usize = 65_536;

fn connections(key: &str, value: Option<usize>, defaults: Limits) -> Result<usize, Error> {
    match value {
        None => Ok(defaults.max_connections),
        Some(n) if (1..=MAX_CONNECTIONS).contains(&n) => Ok(n),
        Some(n) => Err(Error::Invalid {
            key: format!("{key}.max_connections"),
            message: format!("{n} is out of range (1 to {MAX_CONNECTIONS})"),
        }),
    }
}

/// A timeout key: its default when absent; zero is refused (it would mean no limit, which is
/// what these keys exist to prevent).
fn timeout(
    key: &str,
    value: Option<&GoDuration>,
    default: std::time::Duration,
) -> Result<std::time::Duration, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    let d = config::parse_duration(&value.0).map_err(|message| Error::Invalid {
        key: key.to_owned(),
        message,
    })?;
    if d.is_zero() {
        return Err(Error::Invalid {
            key: key.to_owned(),
            message: "must be more than 0 (a connection without this limit can be held forever)"
                .into(),
        });
    }
    Ok(d)
}

fn size(key: &str, bytes: u64) -> Result<usize, Error> {
    if bytes == 0 {
        return Err(Error::Invalid {
            key: key.to_owned(),
            message: "must be greater than zero, or every request would be refused".into(),
        });
    }
    if bytes > MAX_SIZE {
        return Err(Error::Invalid {
            key: key.to_owned(),
            message: format!("{bytes} bytes is more than the maximum of 1 GiB"),
        });
    }
    usize::try_from(bytes).map_err(|_| Error::Invalid {
        key: key.to_owned(),
        message: "too large for this platform".into(),
    })
}

//! Parsing of listen endpoints (`HOST:PORT`) into the exact socket address the collector binds.
//!
//! The collector binds what the configuration says and nothing else, so this parser never asks
//! DNS. It accepts IP literals (`127.0.0.1:4317`, `[::1]:4317`, `0.0.0.0:4317`) and the single
//! name `localhost`, which it maps to `127.0.0.1` by fiat: resolving `localhost` can yield `::1`
//! first, or whatever `/etc/hosts` says, and a listener that moves between address families from
//! one machine to the next is a bug report waiting to happen. Any other host name is rejected
//! with a message saying so. An empty host (`:4317`), which the OpenTelemetry Collector reads as
//! "all interfaces", is rejected too: exposing a port to the network should be written out as
//! `0.0.0.0`. Port `0` is accepted and means "any free port", which is what tests want.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why an endpoint string is not a socket address. Carried as the `source` of
/// [`Error::InvalidAddress`](super::Error::InvalidAddress), which names the key and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// There is no `:PORT` at the end.
    #[error("expected HOST:PORT, like 127.0.0.1:4317, but there is no port")]
    MissingPort,
    /// The part before the port is empty, as in `:4317`.
    #[error(
        "the host is empty; write 127.0.0.1 to listen on this machine only, \
         or 0.0.0.0 to listen on every interface"
    )]
    MissingHost,
    /// The part after the last `:` is not a number from 0 to 65535.
    #[error("port {port:?} is not a number from 0 to 65535")]
    InvalidPort {
        /// The text after the last `:`.
        port: String,
    },
    /// An IPv6 address written without brackets, which makes the port ambiguous.
    #[error("write IPv6 addresses in brackets, like [{host}]:4317")]
    UnbracketedIpv6 {
        /// The host part as written.
        host: String,
    },
    /// The host is neither an IP address nor `localhost`.
    #[error(
        "host {host:?} is not an IP address or \"localhost\"; host names are not resolved, \
         so that the collector binds exactly what the configuration says"
    )]
    UnsupportedHost {
        /// The host part as written.
        host: String,
    },
}

/// Parses `HOST:PORT` where HOST is an IP literal (IPv6 in brackets) or `localhost`.
pub(super) fn parse_endpoint(text: &str) -> Result<SocketAddr, AddressError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // The fast path failed: work out which part is wrong so the message can say.
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']').ok_or(AddressError::MissingPort)?;
        let port = rest.strip_prefix(':').ok_or(AddressError::MissingPort)?;
        if host.is_empty() {
            return Err(AddressError::MissingHost);
        }
        // Inside brackets only an IPv6 literal is valid.
        let port = parse_port(port)?;
        return match host.parse::<IpAddr>() {
            Ok(ip @ IpAddr::V6(_)) => Ok(SocketAddr::new(ip, port)),
            _ => Err(AddressError::UnsupportedHost {
                host: host.to_owned(),
            }),
        };
    } else {
        text.rsplit_once(':').ok_or(AddressError::MissingPort)?
    };
    if host.contains(':') {
        return Err(AddressError::UnbracketedIpv6 {
            host: host.to_owned(),
        });
    }
    if host.is_empty() {
        return Err(AddressError::MissingHost);
    }
    let port = parse_port(port)?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, port)),
        Err(_) => Err(AddressError::UnsupportedHost {
            host: host.to_owned(),
        }),
    }
}

fn parse_port(port: &str) -> Result<u16, AddressError> {
    // `u16::from_str` accepts a leading `+`; a port never has one.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::InvalidPort {
            port: port.to_owned(),
        });
    }
    port.parse().map_err(|_| AddressError::InvalidPort {
        port: port.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ip_literals_and_localhost() {
        let cases = [
            ("127.0.0.1:4317", "127.0.0.1:4317"),
            ("0.0.0.0:9464", "0.0.0.0:9464"),
            ("[::1]:4318", "[::1]:4318"),
            ("[::]:4318", "[::]:4318"),
            ("localhost:4317", "127.0.0.1:4317"),
            ("LocalHost:1", "127.0.0.1:1"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ];
        for (input, want) in cases {
            let got = parse_endpoint(input).map(|a| a.to_string());
            assert_eq!(got.as_deref(), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn names_what_is_wrong_with_a_bad_endpoint() {
        use AddressError::*;
        let cases = [
            ("abc", MissingPort),
            ("4317", MissingPort),
            ("", MissingPort),
            ("[::1]", MissingPort),
            ("[::1", MissingPort),
            (":4317", MissingHost),
            ("[]:4317", MissingHost),
            (
                "127.0.0.1:",
                InvalidPort {
                    port: String::new(),
                },
            ),
            (
                "127.0.0.1:65536",
                InvalidPort {
                    port: "65536".into(),
                },
            ),
            ("127.0.0.1:+80", InvalidPort { port: "+80".into() }),
            (
                "localhost:http",
                InvalidPort {
                    port: "http".into(),
                },
            ),
            ("::1:4317", UnbracketedIpv6 { host: "::1".into() }),
            (
                "example.com:4317",
                UnsupportedHost {
                    host: "example.com".into(),
                },
            ),
            (
                "[127.0.0.1]:4317",
                UnsupportedHost {
                    host: "127.0.0.1".into(),
                },
            ),
            (
                "256.0.0.1:4317",
                UnsupportedHost {
                    host: "256.0.0.1".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_endpoint(input), Err(want), "input {input:?}");
        }
    }
}

//! `vigil-collector healthcheck URL`: one HTTP GET with a deadline, answered by the exit code.
//!
//! Container images built `FROM distroless` have no shell, curl or wget, so a Docker
//! `HEALTHCHECK` (and anything else that can only run a command) needs the binary itself to ask
//! the collector whether it is alive: `vigil-collector healthcheck http://127.0.0.1:9464/healthz`
//! exits 0 when the answer is a 2xx status and 1 otherwise, with one line on stderr saying why.
//! Exit code 1 is used for every failed check, a bad URL included, because Docker reserves 2
//! (only a malformed command line, such as `--timeout soon`, is clap's usage error 2).
//!
//! It deliberately speaks only plain `http://` to an IP address (or `localhost`, taken as
//! 127.0.0.1 as the collector's own addresses are): it checks a process on the same host or in
//! the same pod, where TLS adds nothing, and a DNS lookup cannot be bounded by the timeout
//! (`getaddrinfo` has none). The whole exchange (connect, request, status line) shares one
//! deadline, and at most [`MAX_HEAD`] bytes of the answer are read, whatever the server sends.
//! It is synchronous and starts no async runtime: it runs every few seconds for the life of a
//! container and should cost next to nothing.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The deadline when none is given: well under Docker's default `--timeout` of 30 s, and long
/// enough for a collector busy rendering a large page.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The most bytes of the answer read while looking for the status line.
pub const MAX_HEAD: usize = 1024;

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http://IP[:PORT][/PATH]`.
    #[error("bad URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No connection within the deadline, or it was refused.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where the check tried to connect.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke or the deadline passed before a status line arrived.
    #[error("no answer from {addr}: {source}")]
    Exchange {
        /// The server.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// What came back does not start with an HTTP status line.
    #[error("{addr} did not answer with an HTTP status line (got {head:?})")]
    NotHttp {
        /// The server.
        addr: SocketAddr,
        /// The start of what it sent.
        head: String,
    },
    /// The server answered, with a status other than 2xx.
    #[error("{addr} answered {status}")]
    Unhealthy {
        /// The server.
        addr: SocketAddr,
        /// The HTTP status code.
        status: u16,
    },
}

/// A parsed `http://` URL: where to connect, and the `Host` header and path to send.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    addr: SocketAddr,
    authority: String,
    path: String,
}

/// GETs `url` within `timeout`; `Ok` with the status code when it is 2xx.
pub fn check(url: &str, timeout: Duration) -> Result<u16, Error> {
    let target = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let addr = target.addr;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| Error::Connect { addr, source })?;
    let exchange = |source| Error::Exchange { addr, source };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vigil-collector-healthcheck\r\n\
         Connection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .set_write_timeout(Some(remaining(deadline).map_err(exchange)?))
        .map_err(exchange)?;
    stream.write_all(request.as_bytes()).map_err(exchange)?;
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_HEAD {
        stream
            .set_read_timeout(Some(remaining(deadline).map_err(exchange)?))
            .map_err(exchange)?;
        let want = buf.len().min(MAX_HEAD - head.len());
        let n = stream.read(&mut buf[..want]).map_err(exchange)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = parse_status(&head).ok_or_else(|| Error::NotHttp {
        addr,
        head: String::from_utf8_lossy(&head[..head.len().min(80)]).into_owned(),
    })?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(Error::Unhealthy { addr, status })
    }
}

/// [`check`] for the command line: prints why on stderr and maps the outcome to the exit code
/// (0 healthy, 1 anything else; never 2, which Docker reserves).
pub fn run(url: &str, timeout: Duration) -> std::process::ExitCode {
    match check(url, timeout) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-collector healthcheck: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What is left until `deadline`, or a timeout error once it has passed (a zero timeout would
/// mean "block forever" to the socket calls).
fn remaining(deadline: Instant) -> Result<Duration, std::io::Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "deadline passed",
        ))
    } else {
        Ok(left)
    }
}

/// `HTTP/1.x NNN ...` → NNN.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_ascii_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn parse_url(url: &str) -> Result<Target, Error> {
    let bad = |reason| Error::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        bad("only http:// is supported (the check talks to a collector on the same host or pod)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad("the path contains spaces or control characters"));
    }
    if authority.is_empty() {
        return Err(bad("there is no host"));
    }
    if authority.contains('@') {
        return Err(bad("user information (user:password@) is not supported"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("the IPv6 address has no closing ]"))?;
            match rest {
                "" => (host, None),
                _ => (
                    host,
                    Some(rest.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => 80,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(bad("the port is not a number from 1 to 65535")),
        },
    };
    let host_ip = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse::<IpAddr>().map_err(|_| {
            bad("the host must be an IP address or localhost (no DNS lookup: it could outlast the timeout)")
        })?
    };
    Ok(Target {
        addr: SocketAddr::new(host_ip, port),
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-shot server on 127.0.0.1:0 that reads the request and answers `reply`; the thread
    /// returns the request it read.
    fn serve_once(reply: &'static [u8]) -> (SocketAddr, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(reply).unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, handle)
    }

    #[test]
    fn a_200_passes_and_the_request_is_a_plain_get() {
        let (addr, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        let url = format!("http://{addr}/healthz");
        assert_eq!(check(&url, DEFAULT_TIMEOUT).unwrap(), 200);
        assert_eq!(
            server.join().unwrap(),
            format!(
                "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: vigil-collector-healthcheck\r\n\
                 Connection: close\r\n\r\n"
            )
        );
    }

    #[test]
    fn a_503_fails_naming_the_status() {
        let (addr, server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let err = check(&format!("http://{addr}/readyz"), DEFAULT_TIMEOUT).unwrap_err();
        assert_eq!(err.to_string(), format!("{addr} answered 503"));
        server.join().unwrap();
    }

    #[test]
    fn an_answer_that_is_not_http_fails() {
        let (addr, server) = serve_once(b"SSH-2.0-OpenSSH\r\n");
        let err = check(&format!("http://{addr}/"), DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, Error::NotHttp { .. }), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_never_answers_fails_within_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let err = check(&format!("http://{addr}/"), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, Error::Exchange { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn a_closed_port_fails_to_connect() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = check(&format!("http://{addr}/healthz"), DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err}");
    }

    #[test]
    fn urls() {
        let ok = |url: &str| parse_url(url).unwrap();
        assert_eq!(
            ok("http://127.0.0.1:9464/healthz"),
            Target {
                addr: "127.0.0.1:9464".parse().unwrap(),
                authority: "127.0.0.1:9464".into(),
                path: "/healthz".into(),
            }
        );
        assert_eq!(
            ok("http://localhost:8888").addr,
            "127.0.0.1:8888".parse().unwrap()
        );
        assert_eq!(ok("http://localhost:8888").path, "/");
        assert_eq!(
            ok("http://[::1]:9464/x").addr,
            "[::1]:9464".parse().unwrap()
        );
        assert_eq!(ok("http://10.0.0.1/x").addr, "10.0.0.1:80".parse().unwrap());
        assert_eq!(ok("http://[::1]/").addr, "[::1]:80".parse().unwrap());
        for (url, reason) in [
            ("https://127.0.0.1:9464/healthz", "only http://"),
            ("127.0.0.1:9464/healthz", "only http://"),
            ("http://", "there is no host"),
            ("http:///healthz", "there is no host"),
            ("http://collector:9464/healthz", "IP address or localhost"),
            ("http://127.0.0.1:99999/", "port"),
            ("http://127.0.0.1:0/", "port"),
            ("http://127.0.0.1:x/", "port"),
            ("http://u:p@127.0.0.1/", "user information"),
            ("http://::1:9464/", "port"),
            ("http://[::1/", "no closing ]"),
            ("http://127.0.0.1/a b", "spaces"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("bad URL {url:?}: ")) && err.contains(reason),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 200\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}

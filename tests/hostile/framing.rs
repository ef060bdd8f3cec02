//! Abuse of the HTTP framing around OTLP: content types and encodings, gzip bombs, concatenated
//! and broken gzip, bodies past the limit, Content-Length lies and broken chunking on a raw
//! socket, and OTLP/JSON with wrong types, huge numbers and words where numbers belong.

use std::io::Write;

use vigil_store::testing::{gauge, int_point, request_with};

use crate::case::{Case, Expect, Send};

/// The collector's `max_request_body_size` in this test (see main.rs).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

fn http(
    content_type: Option<&'static str>,
    content_encoding: Option<&'static str>,
    body: Vec<u8>,
) -> Send {
    Send::Http {
        method: "POST",
        path: "/v1/metrics",
        content_type,
        content_encoding,
        body,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

fn valid(name: &str) -> Vec<u8> {
    use prost::Message;
    request_with(vec![gauge(name, vec![int_point(1, vec![])])]).encode_to_vec()
}

fn status(status: u16, body: &'static str) -> Expect {
    Expect::Status { status, body }
}

fn raw(head: &str, body: &[u8]) -> Send {
    Send::Tcp([head.as_bytes(), body].concat())
}

/// A JSON request of one gauge `name` whose point is `point` (a JSON object's members).
fn json_point(name: &str, point: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"test"}}}}]}},"scopeMetrics":[{{"scope":{{"name":"test"}},"metrics":[{{"name":"{name}","gauge":{{"dataPoints":[{{{point}}}]}}}}]}}]}}]}}"#
    )
}

pub(crate) fn cases() -> Vec<Case> {
    let bomb = gzip(&vec![0u8; 64 * MAX_BODY]);
    let two_members = [gzip(&valid("gz.first")), gzip(&valid("gz.second"))].concat();
    let truncated_gzip = {
        let g = gzip(&valid("gz.truncated"));
        g[..g.len() - 6].to_vec()
    };
    let one_point = valid("tcp.lie");
    let auth_body = valid("tcp.auth");
    let deep_json = format!(
        r#"{{"resourceMetrics":[],"x":{}{}}}"#,
        "[".repeat(400_000),
        "]".repeat(400_000)
    );
    let big_header = "x".repeat(200 * 1024);
    vec![
        Case::new("no Content-Type", http(None, None, valid("ct.none")), status(415, "unsupported Content-Type \"none\"")),
        Case::new("Content-Type text/plain", http(Some("text/plain"), None, valid("ct.text")), status(415, "unsupported Content-Type \"text/plain\"")),
        Case::new("Content-Type application/grpc on HTTP", http(Some("application/grpc"), None, valid("ct.grpc")), status(415, "use application/x-protobuf or application/json")),
        Case::new("protobuf labelled as JSON", http(Some("application/json"), None, valid("ct.json")), status(400, "malformed OTLP/JSON")),
        Case::new("JSON labelled as protobuf", http(Some("application/x-protobuf"), None, json_point("ct.proto", r#""asInt":"1""#).into_bytes()), status(400, "malformed protobuf")),
        Case::new("Content-Encoding br", http(Some("application/x-protobuf"), Some("br"), valid("ce.br")), status(415, "unsupported Content-Encoding \"br\"")),
        Case::new("gzip bomb: 64 MiB of zeros in 64 KiB", http(Some("application/x-protobuf"), Some("gzip"), bomb), status(413, "decompressed request body is larger than the limit of 1048576 bytes")),
        Case::new("gzip of two concatenated members is read in full", http(Some("application/x-protobuf"), Some("gzip"), two_members), Expect::Accepted)
            .has(&[r#"gz_first{job="test",otel_scope_name="test"} 1"#, r#"gz_second{job="test",otel_scope_name="test"} 1"#]),
        Case::new("gzip header on a plain body", http(Some("application/x-protobuf"), Some("gzip"), valid("gz.plain")), status(400, "malformed gzip body")),
        Case::new("gzip cut short", http(Some("application/x-protobuf"), Some("gzip"), truncated_gzip), status(400, "malformed gzip body")),
        Case::new("a body one byte past the limit", http(Some("application/x-protobuf"), None, vec![0; MAX_BODY + 1]), status(413, "request body is larger than the limit of 1048576 bytes")),
        Case::new("GET on /v1/metrics", Send::Http { method: "GET", path: "/v1/metrics", content_type: None, content_encoding: None, body: Vec::new() }, status(405, "OTLP/HTTP takes POST")),
        Case::new("POST to an unknown path", Send::Http { method: "POST", path: "/v1/metricz", content_type: Some("application/x-protobuf"), content_encoding: None, body: valid("path.unknown") }, status(404, "no OTLP endpoint at /v1/metricz")),
        Case::new("raw: Content-Length of 10 GB is refused before reading", raw("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 10000000000\r\n\r\n", b"abc"), status(413, "larger than the limit of 1048576 bytes")),
        Case::new("raw: Content-Length longer than the body", raw("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n", &one_point), status(400, "reading the request body")),
        Case::new("raw: Content-Length shorter than the body", raw("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5\r\n\r\n", &one_point), status(400, "malformed protobuf")),
        Case::new("raw: Content-Length not a number", raw("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: ten\r\n\r\n", &one_point), status(400, "")),
        Case::new("raw: chunk size not hex", raw("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", b""), status(400, "reading the request body")),
        // RFC 9112 §6.1: Transfer-Encoding wins and the connection is closed after the answer,
        // so nothing can be smuggled behind the body.
        Case::new("raw: Content-Length and chunked together", Send::TcpOpen(b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()), status(200, "connection: close")),
        // No authenticator is configured here, so a bogus one is not looked at (the auth
        // extension's own tests cover refusals).
        Case::new("raw: a bogus Authorization header without auth configured", Send::TcpOpen([format!("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer not-a-token\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n", auth_body.len()).into_bytes(), auth_body].concat()), status(200, "HTTP/1.1 200 OK"))
            .has(&[r#"tcp_auth{job="test",otel_scope_name="test"} 1"#]),
        Case::new("raw: not HTTP at all", Send::Tcp(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n".to_vec()), status(400, "")),
        Case::new("raw: a 200 KiB header", Send::TcpOpen(format!("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {big_header}\r\nContent-Length: 0\r\n\r\n").into_bytes()), status(415, "unsupported Content-Type \"none\"")),
        Case::new("raw: a 2 MiB header", Send::TcpOpen(format!("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n", "x".repeat(2 << 20)).into_bytes()), status(431, "")),
        Case::new("JSON: not JSON", Send::json("{\"resourceMetrics\": ["), status(400, "malformed OTLP/JSON")),
        Case::new("JSON: resourceMetrics is a number", Send::json(r#"{"resourceMetrics": 5}"#), status(400, "malformed OTLP/JSON")),
        Case::new("JSON: timeUnixNano is \"yesterday\"", Send::json(&json_point("js.when", r#""timeUnixNano":"yesterday","asInt":"1""#)), status(400, "malformed OTLP/JSON")),
        Case::new("JSON: asInt past i64", Send::json(&json_point("js.huge_int", r#""asInt":"99999999999999999999999""#)), Expect::Partial { rejected: 1, message: "metric \"js.huge_int\": number data point without a value", reason: "point" }),
        Case::new("JSON: asDouble of 1e999", Send::json(&json_point("js.huge_double", r#""asDouble":1e999"#)), status(400, "malformed OTLP/JSON")),
        Case::new("JSON: asDouble as a string", Send::json(&json_point("js.double_string", r#""timeUnixNano":"1700000010000000000","asDouble":"2.5""#)), Expect::Accepted)
            .has(&[r#"js_double_string{job="test",otel_scope_name="test"} 2.5"#]),
        Case::new("JSON: gauge is a list", Send::json(r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"js.list","gauge":[1,2]}]}]}]}"#), status(400, "malformed OTLP/JSON")),
        Case::new("JSON: an unknown field nested 400,000 deep is skipped", Send::json(&deep_json), Expect::Accepted),
        Case::new("JSON: unknown fields are ignored", Send::json(&json_point("js.unknown", r#""timeUnixNano":"1700000010000000000","asInt":"3","colour":"red""#)), Expect::Accepted)
            .has(&[r#"js_unknown{job="test",otel_scope_name="test"} 3"#]),
        Case::new("JSON: an empty object", Send::json("{}"), Expect::Accepted),
        Case::new("JSON: invalid UTF-8 in a name", http(Some("application/json"), None, json_point("js.\u{1}BAD", r#""asInt":"1""#).replace("\u{1}BAD", "\u{1}\u{1}\u{1}").into_bytes().into_iter().map(|b| if b == 1 { 0xff } else { b }).collect()), status(400, "malformed OTLP/JSON")),
    ]
}

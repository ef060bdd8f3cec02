//! Malformed and odd protobuf, over OTLP/HTTP and OTLP/gRPC: truncations, wrong wire types,
//! lengths past the end, deep nesting, invalid UTF-8, unknown fields, empty messages, and gRPC
//! calls carrying no message, two messages or one too large.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use prost::Message;
use vigil_store::testing::{gauge, int_point, kv, request_from, request_with};

use crate::case::{Case, Expect, Send};

fn bad(body: &'static str) -> Expect {
    Expect::Status { status: 400, body }
}

fn invalid(message: &'static str) -> Expect {
    Expect::Grpc {
        code: tonic::Code::InvalidArgument,
        message,
    }
}

/// A valid request of one gauge `name` = 1.
fn valid(name: &str) -> Vec<u8> {
    request_with(vec![gauge(name, vec![int_point(1, vec![])])]).encode_to_vec()
}

/// `valid(name)` with the first occurrence of `marker` replaced by `with` (same length).
fn patched(name: &str, attr: (&str, &str), marker: &[u8], with: &[u8]) -> Vec<u8> {
    let req = request_with(vec![gauge(
        name,
        vec![int_point(1, vec![kv(attr.0, attr.1)])],
    )]);
    let mut bytes = req.encode_to_vec();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the marker is in the encoding");
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

/// An attribute whose value is an array nested `depth` deep.
fn nested(depth: usize) -> Vec<u8> {
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..depth {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let attr = KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    };
    request_with(vec![gauge("pb.deep", vec![int_point(1, vec![attr])])]).encode_to_vec()
}

/// Two requests of one gauge each: valid protobuf twice over is one request holding both.
fn appended() -> Vec<u8> {
    let mut bytes = valid("pb.first");
    bytes.extend(valid("pb.second"));
    bytes
}

pub(crate) fn cases() -> Vec<Case> {
    let truncated = {
        let v = valid("pb.truncated");
        v[..v.len() / 2].to_vec()
    };
    // Field 1 (resource_metrics, a message) sent as a varint.
    let wrong_wire_type = vec![0x08, 0x01];
    // Field 1 with a length of 2^35 - 1, and five bytes of data.
    let huge_length = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5];
    // Field 2 (unknown) as a varint of eleven bytes (at most ten are allowed).
    let long_varint = [vec![0x10], vec![0xff; 11]].concat();
    // Field 2 (unknown) as a start-group that never ends: skipping it must stop at the end.
    let unknown_group = vec![0x13, 0x08, 0x01];
    // Field number 0 is not a field.
    let field_zero = vec![0x02, 0x00];
    // Field 1 as a start-group (wire type 3), never ended.
    let open_group = vec![0x0b];
    // Field 1 with wire type 7, which does not exist.
    let wire_type_7 = vec![0x0f, 0x00];
    // A valid request, then field 99 (a varint) and field 100 (bytes) the schema lacks.
    let unknown_fields = [
        valid("pb.unknown_fields"),
        vec![0x98, 0x06, 0x01, 0xa2, 0x06, 0x01, 0x00],
    ]
    .concat();
    let bad_name = patched(
        "pb.BADUTF8",
        ("k", "v"),
        b"BADUTF8",
        &[b'x', 0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0],
    );
    let bad_value = patched(
        "pb.bad_value",
        ("k", "VALUE77"),
        b"VALUE77",
        &[0xf8, 0x88, 0x80, 0x80, 0x80, b'a', b'b'],
    );
    let bad_key = patched(
        "pb.bad_key",
        ("KEY5", "v"),
        b"KEY5",
        &[b'k', 0xc3, b'(', 0xa0],
    );
    // A metric whose name says it has 2^21 bytes, and two.
    let name_past_end = {
        let mut v = valid("pb.x");
        let at = v.windows(4).position(|w| w == b"pb.x").expect("the name");
        v.splice(at - 1..at + 4, [0x80, 0x80, 0x80, 0x01, b'a', b'b']);
        v
    };
    let empty_resource = request_from(vec![ResourceMetrics::default()]);
    let nameless = request_with(vec![gauge("", vec![int_point(1, vec![])])]);
    let no_data = request_with(vec![Metric {
        name: "pb.no_data".into(),
        ..Default::default()
    }]);
    let too_large_grpc = request_with(vec![gauge(
        "pb.too_large",
        vec![int_point(
            1,
            vec![kv("blob", "x".repeat(5 * 1024 * 1024).as_str())],
        )],
    )]);

    vec![
        Case::new(
            "protobuf truncated in the middle (HTTP)",
            Send::raw_proto(truncated.clone()),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf truncated in the middle (gRPC)",
            Send::Grpc(vec![truncated]),
            invalid("malformed protobuf"),
        ),
        Case::new(
            "protobuf message field sent as a varint",
            Send::raw_proto(wrong_wire_type.clone()),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf wrong wire type (gRPC)",
            Send::Grpc(vec![wrong_wire_type]),
            invalid("malformed protobuf"),
        ),
        Case::new(
            "protobuf length of 2^35 with 5 bytes",
            Send::raw_proto(huge_length.clone()),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf huge length (gRPC)",
            Send::Grpc(vec![huge_length]),
            invalid("malformed protobuf"),
        ),
        Case::new(
            "protobuf eleven-byte varint",
            Send::raw_proto(long_varint),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf field number 0",
            Send::raw_proto(field_zero),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf unterminated group",
            Send::raw_proto(open_group),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf unknown group never ended",
            Send::raw_proto(unknown_group),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf wire type 7",
            Send::raw_proto(wire_type_7),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf string length past the end",
            Send::raw_proto(name_past_end),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf nested 200 deep (HTTP)",
            Send::raw_proto(nested(200)),
            bad("malformed protobuf"),
        ),
        Case::new(
            "protobuf nested 200 deep (gRPC)",
            Send::Grpc(vec![nested(200)]),
            invalid("malformed protobuf"),
        ),
        Case::new(
            "protobuf nested 20 deep is kept",
            Send::raw_proto(nested(20)),
            Expect::Accepted,
        ),
        Case::new(
            "invalid UTF-8 in a metric name",
            Send::raw_proto(bad_name.clone()),
            bad("malformed protobuf"),
        ),
        Case::new(
            "invalid UTF-8 in a metric name (gRPC)",
            Send::Grpc(vec![bad_name]),
            invalid("malformed protobuf"),
        ),
        Case::new(
            "invalid UTF-8 in an attribute value",
            Send::raw_proto(bad_value),
            bad("malformed protobuf"),
        ),
        Case::new(
            "invalid UTF-8 in an attribute key",
            Send::raw_proto(bad_key),
            bad("malformed protobuf"),
        ),
        Case::new(
            "unknown fields are skipped",
            Send::raw_proto(unknown_fields),
            Expect::Accepted,
        )
        .has(&[r#"pb_unknown_fields{job="test",otel_scope_name="test"} 1"#]),
        Case::new(
            "two requests back to back are one",
            Send::raw_proto(appended()),
            Expect::Accepted,
        )
        .has(&[
            r#"pb_first{job="test",otel_scope_name="test"} 1"#,
            r#"pb_second{job="test",otel_scope_name="test"} 1"#,
        ]),
        Case::new(
            "empty protobuf body",
            Send::raw_proto(Vec::new()),
            Expect::Accepted,
        ),
        Case::new(
            "empty gRPC message",
            Send::Grpc(vec![Vec::new()]),
            Expect::Accepted,
        ),
        Case::new(
            "a resource with nothing in it",
            Send::proto(&empty_resource),
            Expect::Accepted,
        ),
        Case::new(
            "a metric with an empty name",
            Send::proto(&nameless),
            Expect::Partial {
                rejected: 1,
                message: "metric with an empty name",
                reason: "name",
            },
        ),
        Case::new(
            "a metric with neither name nor data",
            Send::proto(&request_with(vec![Metric::default()])),
            Expect::Accepted,
        ),
        // No data is no points: nothing to reject, and nothing reaches the page.
        Case::new(
            "a metric with no data",
            Send::grpc(&no_data),
            Expect::Accepted,
        )
        .lacks(&["pb_no_data"]),
        Case::new(
            "a gRPC call with no message",
            Send::Grpc(Vec::new()),
            invalid("the Export call carried no request message"),
        ),
        Case::new(
            "a second message on the unary Export call",
            Send::Grpc(vec![valid("pb.once"), valid("pb.twice")]),
            invalid("more than one request message"),
        )
        .lacks(&["pb_once", "pb_twice"]),
        Case::new(
            "a gRPC message past max_recv_msg_size",
            Send::grpc(&too_large_grpc),
            Expect::Grpc {
                code: tonic::Code::OutOfRange,
                message: "message length too large",
            },
        )
        .lacks(&["pb_too_large"]),
    ]
}

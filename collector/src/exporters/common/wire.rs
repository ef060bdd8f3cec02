//! The few protobuf messages the forwarding exporters read from an upstream's answers:
//! `Export*ServiceResponse.partial_success`, `google.rpc.Status` and `google.rpc.RetryInfo`.
//!
//! They are defined here by hand (a dozen lines) instead of pulling in `tonic-types` and
//! `prost-types`. One [`ExportResponse`] decodes the response of all three signals: each
//! `Export*PartialSuccess` is `{ int64 rejected_<items> = 1; string error_message = 2; }`, so the
//! field numbers and types agree and only the names differ.
//! See <https://github.com/open-telemetry/opentelemetry-proto/blob/main/docs/specification.md>
//! and <https://github.com/googleapis/googleapis/blob/master/google/rpc/status.proto>.

use std::time::Duration;

use prost::Message;

/// `Export{Metrics,Trace,Logs}ServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ExportResponse {
    /// Absent (or all zero) when the upstream took everything.
    #[prost(message, optional, tag = "1")]
    pub(crate) partial_success: Option<PartialSuccess>,
}

/// `Export{Metrics,Trace,Logs}PartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct PartialSuccess {
    /// `rejected_data_points` / `rejected_spans` / `rejected_log_records`.
    #[prost(int64, tag = "1")]
    pub(crate) rejected: i64,
    /// Why, in the upstream's words.
    #[prost(string, tag = "2")]
    pub(crate) error_message: String,
}

impl ExportResponse {
    /// Items rejected (negative counts, a protocol violation, read as 0) and the message.
    pub(crate) fn into_outcome_parts(self) -> (u64, String) {
        match self.partial_success {
            Some(p) => (u64::try_from(p.rejected).unwrap_or(0), p.error_message),
            None => (0, String::new()),
        }
    }
}

/// `google.rpc.Status`: the body of an OTLP/HTTP error and the gRPC `grpc-status-details-bin`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    /// A message for developers.
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// Typed details, such as [`RetryInfo`].
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAny {
    /// `type.googleapis.com/google.rpc.RetryInfo`, ...
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    /// How long the client should wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    /// Nanoseconds, 0..1e9.
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

/// The `type_url` of [`RetryInfo`], without its host prefix.
const RETRY_INFO: &str = "google.rpc.RetryInfo";

/// What a `google.rpc.Status` (encoded) says about retrying: `None` when it carries no
/// `RetryInfo`, `Some(None)` when it does without a (valid) delay, `Some(Some(d))` with one.
pub(crate) fn retry_info(status: &[u8]) -> Option<Option<Duration>> {
    let status = RpcStatus::decode(status).ok()?;
    let any = status
        .details
        .into_iter()
        .find(|a| a.type_url.rsplit('/').next() == Some(RETRY_INFO))?;
    let info = RetryInfo::decode(any.value.as_slice()).ok()?;
    Some(info.retry_delay.and_then(|d| {
        let secs = u64::try_from(d.seconds).ok()?;
        let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        Some(Duration::new(secs, nanos))
    }))
}

/// Encodes a `google.rpc.Status` carrying a `RetryInfo` of `delay`, as an upstream would send it.
#[cfg(test)]
pub(crate) fn status_with_retry_info(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
        }),
    };
    RpcStatus {
        code,
        message: message.to_owned(),
        details: vec![ProtoAny {
            type_url: format!("type.googleapis.com/{RETRY_INFO}"),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };

    #[test]
    fn decodes_a_real_partial_success() {
        let real = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad spans".into(),
            }),
        };
        let ours = ExportResponse::decode(real.encode_to_vec().as_slice()).unwrap();
        assert_eq!(ours.into_outcome_parts(), (3, "bad spans".to_owned()));
        let empty = ExportResponse::decode(&[][..]).unwrap();
        assert_eq!(empty.into_outcome_parts(), (0, String::new()));
    }

    #[test]
    fn reads_retry_info_from_a_status() {
        let bytes = status_with_retry_info(8, "slow down", Duration::from_millis(1500));
        assert_eq!(retry_info(&bytes), Some(Some(Duration::from_millis(1500))));
        let plain = RpcStatus {
            code: 8,
            message: "no".into(),
            details: vec![],
        };
        assert_eq!(retry_info(&plain.encode_to_vec()), None);
        assert_eq!(retry_info(b"\xff\xff"), None);
    }
}

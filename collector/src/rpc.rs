//! `google.rpc.Status` and `google.rpc.RetryInfo`: how OTLP tells a sender why it was refused
//! and when to retry, in both directions.
//!
//! OTLP/HTTP error bodies are a `Status`; an OTLP/gRPC `UNAVAILABLE` carries a `RetryInfo` in
//! the status details (`grpc-status-details-bin`), which the OpenTelemetry SDKs honour. The
//! receivers write them ([`unavailable`]); the forwarding exporters read them
//! ([`retry_delay`]). The messages are small, so they are declared here rather than pulled from
//! another crate.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    #[serde(skip)]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// The type of `value`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long to wait.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past the seconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The `type_url` of a packed `RetryInfo`.
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// A gRPC `UNAVAILABLE` status whose details ask the sender to retry after `delay`.
pub fn unavailable(message: &str, delay: Option<Duration>) -> tonic::Status {
    let status = status(tonic::Code::Unavailable as i32, message, delay);
    tonic::Status::with_details(
        tonic::Code::Unavailable,
        message,
        Bytes::from(status.encode_to_vec()),
    )
}

/// A `google.rpc.Status` of `code`, with a `RetryInfo` of `delay` when there is one.
pub fn status(code: i32, message: &str, delay: Option<Duration>) -> RpcStatus {
    let details = delay.map(|d| Any {
        type_url: RETRY_INFO_TYPE.into(),
        value: RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            }),
        }
        .encode_to_vec(),
    });
    RpcStatus {
        code,
        message: message.to_owned(),
        details: details.into_iter().collect(),
    }
}

/// What an encoded `google.rpc.Status` says about retrying: `None` when it carries no
/// `RetryInfo`, `Some(None)` when it does without a (valid) delay, `Some(Some(d))` with one.
/// The `type_url`'s host part is not checked.
pub fn retry_delay(status: &[u8]) -> Option<Option<Duration>> {
    let status = RpcStatus::decode(status).ok()?;
    let any = status
        .details
        .into_iter()
        .find(|a| a.type_url.rsplit('/').next() == RETRY_INFO_TYPE.rsplit('/').next())?;
    let info = RetryInfo::decode(any.value.as_slice()).ok()?;
    Some(info.retry_delay.and_then(|d| {
        let secs = u64::try_from(d.seconds).ok()?;
        let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        Some(Duration::new(secs, nanos))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_carries_a_retry_info_a_client_can_read() {
        let status = unavailable("queue full", Some(Duration::from_millis(2500)));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let decoded = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(decoded.details.len(), 1);
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE);
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(
            info.retry_delay,
            Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000
            })
        );
    }
}

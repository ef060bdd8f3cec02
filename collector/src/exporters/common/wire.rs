//! What the forwarding exporters read from an upstream's answers:
//! `Export*ServiceResponse.partial_success`, defined here by hand, and the `google.rpc.Status` /
//! `RetryInfo` messages of [`crate::rpc`], which the receivers write. One [`ExportResponse`] decodes the response of all three signals: each
//! `Export*PartialSuccess` is `{ int64 rejected_<items> = 1; string error_message = 2; }`, so the
//! field numbers and types agree and only the names differ.
//! See <https://github.com/open-telemetry/opentelemetry-proto/blob/main/docs/specification.md>
//! and <https://github.com/googleapis/googleapis/blob/master/google/rpc/status.proto>.

use std::time::Duration;

use prost::Message;

use crate::rpc;

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

/// What an encoded `google.rpc.Status` says about retrying; see [`rpc::retry_delay`].
pub(crate) fn retry_info(status: &[u8]) -> Option<Option<Duration>> {
    rpc::retry_delay(status)
}

/// Encodes a `google.rpc.Status` carrying a `RetryInfo` of `delay`, as an upstream would send it.
#[cfg(test)]
pub(crate) fn status_with_retry_info(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    rpc::status(code, message, Some(delay)).encode_to_vec()
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
        let plain = rpc::RpcStatus {
            code: 8,
            message: "no".into(),
            details: vec![],
        };
        assert_eq!(retry_info(&plain.encode_to_vec()), None);
        assert_eq!(retry_info(b"\xff\xff"), None);
    }
}

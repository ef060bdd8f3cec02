//! What the forwarding exporters (`otlp` over gRPC, `otlphttp`) share: their TLS, retry, queue,
//! header and compression settings, and the few protobuf messages both read from responses.
//!
//! Each setting has two halves, following `config/raw.rs` → `config::Config`: a serde struct
//! spelled with the OpenTelemetry Collector's keys (`configtls`, `configretry`,
//! `exporterhelper`'s `sending_queue`), which refuses keys it does not know, and a validated
//! plain-data type the exporters run with. Validation returns `Result<_, String>` whose message
//! starts with the sub-key (`tls.ca_file: cannot read /x: ...`); the caller prefixes the
//! component's path (`exporters.otlp/2.`).
//!
//! Deliberately not here: the queue itself, the retry loop and the config dispatch (see
//! [`crate::pipeline`]); this module only provides their settings and building blocks.

pub mod compression;
pub(crate) mod connector;
pub mod headers;
pub mod queue;
pub mod retry;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub(crate) mod wire;

pub use crate::config::GoDuration;
pub use compression::Compression;
pub use queue::{ExtensionId, QueueConfig, QueueSettings};
pub use retry::{Backoff, RetryConfig, RetrySettings};
pub use tls::{Alpn, TlsConfig, TlsSettings};

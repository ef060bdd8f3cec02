//! End-to-end tests of the SDK's set-up against real sockets, in one binary
//! (one link step) with a module per area. They run in their own process, so
//! they may install process-wide state (a global `tracing` subscriber) that
//! the library's unit tests must not.

/// A throwaway PKI made with rcgen: CA, server and client certificates.
mod pki;
/// An application's own global `tracing` subscriber and Vigil's.
mod subscriber;
/// The OTLP exporters over TLS and mutual TLS, gRPC and HTTP.
mod tls;

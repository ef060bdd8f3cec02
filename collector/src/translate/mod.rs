//! Prometheus naming (in progress).

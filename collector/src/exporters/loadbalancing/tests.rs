//! The exporter's configuration, its splitting, and the balancer with real back-ends.

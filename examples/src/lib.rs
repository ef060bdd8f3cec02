//! Runnable example services; see examples/README.md.

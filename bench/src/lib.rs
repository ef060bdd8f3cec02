//! `vigil-load` as a library: the pieces of the end-to-end benchmark tools,
//! public so the binary (`main.rs`) stays a thin flag parser and so each
//! piece is tested on its own.
//!
//! `generate` builds realistic OTLP metrics, `stamp` advances encoded
//! requests between rounds, `client` sends them, `load` runs the closed loop,
//! `procstat` measures the target from /proc, `scrape` times scrapes of a
//! Prometheus endpoint during the load, `report` does the arithmetic, and
//! `sink` is the OTLP endpoint that forwarding targets export to.

pub mod client;
pub mod codec;
pub mod generate;
pub mod load;
pub mod procstat;
pub mod report;
pub mod scrape;
pub mod sink;
pub mod stamp;

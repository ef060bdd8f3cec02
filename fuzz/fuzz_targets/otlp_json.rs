//! Fuzz target `otlp_json`: see `vigil_collector::fuzzing::otlp_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_collector::fuzzing::otlp_json(data));

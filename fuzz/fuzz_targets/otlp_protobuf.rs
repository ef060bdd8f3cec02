//! Fuzz target `otlp_protobuf`: see `vigil_collector::fuzzing::otlp_protobuf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_collector::fuzzing::otlp_protobuf(data));

//! Fuzz target `gzip`: see `vigil_collector::fuzzing::gzip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_collector::fuzzing::gzip(data));

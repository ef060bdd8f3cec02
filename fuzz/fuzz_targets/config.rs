//! Fuzz target `config`: see `vigil_collector::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_collector::fuzzing::config(data));

//! Fuzz target `store_states`: see `vigil_collector::fuzzing::store_states`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_collector::fuzzing::store_states(data));
